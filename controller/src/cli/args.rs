//! `aegisctl`'s remote commands as typed (clap), and the check that turns them into a
//! [`Checked`] command before a token or a connection is needed: `aegisctl get stakcs`
//! without a token says that `stakcs` is not a kind, not that the token is missing.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::client::ClientError;
use crate::{
    desired::Kind,
    status::{kind_from_word, kind_plural, ListFilter},
};

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// List resources: hosts, networks, stacks, dnsguards, tunnelclients or all; or the
    /// source (its running and rejected revisions, fetch errors).
    Get(GetArgs),
    /// Show one resource in detail: conditions, inventory, events; or `describe source`:
    /// rejected revisions with every error, and the running revision's warnings.
    Describe(DescribeArgs),
    /// Reconcile a resource (or --all) now and wait for the result.
    Reconcile(ReconcileArgs),
    /// Stop reconciling a resource until `resume`.
    Suspend(TargetArgs),
    /// Reconcile a suspended resource again.
    Resume(TargetArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Json,
    Yaml,
    Wide,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// hosts, networks, stacks, dnsguards, tunnelclients, all, or source (singular works too).
    pub what: String,
    /// Only this resource.
    pub name: Option<String>,
    #[arg(short, long, value_enum)]
    pub output: Option<Output>,
    /// After listing, print a new row for every change.
    #[arg(short, long)]
    pub watch: bool,
    /// Only resources with these labels: key=value[,key=value].
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Only resources on this host.
    #[arg(long)]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The kind, e.g. stack.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The kind, e.g. stack; or `source`.
    pub kind: String,
    /// The resource's name (none for `source`).
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The kind, e.g. stack.
    #[arg(required_unless_present = "all")]
    pub kind: Option<String>,
    #[arg(required_unless_present = "all")]
    pub name: Option<String>,
    /// Reconcile every resource.
    #[arg(long, conflicts_with_all = ["kind", "name"])]
    pub all: bool,
    /// How long to wait for the run (at most 1h). A run still queued or running then is
    /// reported (exit 5); it still happens.
    #[arg(long, default_value = "10m", value_parser = parse_wait)]
    pub timeout: Duration,
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    let d = crate::manifest::kinds::Duration::parse(s)?.0;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err("must be more than 0 and at most 1h".into());
    }
    Ok(d)
}

/// A remote command whose arguments are all checked: only the API is left to ask.
#[derive(Debug)]
pub enum Checked {
    /// `get source`.
    GetSource {
        output: Option<Output>,
    },
    /// `get KIND|all [NAME]`.
    Get(GetPlan),
    /// `describe source`.
    DescribeSource,
    Describe {
        kind: Kind,
        name: String,
    },
    /// `reconcile KIND NAME` (`target`), or `--all` (no target).
    Reconcile {
        target: Option<(Kind, String)>,
        timeout: Duration,
    },
    Suspend {
        kind: Kind,
        name: String,
        suspended: bool,
    },
}

/// `get` of resources, checked.
#[derive(Debug)]
pub struct GetPlan {
    /// `None`: `get all`.
    pub kind: Option<Kind>,
    pub name: Option<String>,
    pub output: Option<Output>,
    pub watch: bool,
    pub filter: ListFilter,
}

impl RemoteCommand {
    /// Checks every argument, without a token or a connection.
    pub fn check(self) -> Result<Checked, ClientError> {
        Ok(match self {
            RemoteCommand::Get(args) => check_get(args)?,
            RemoteCommand::Describe(t) => check_describe(t)?,
            RemoteCommand::Reconcile(args) => Checked::Reconcile {
                target: match (args.all, args.kind, args.name) {
                    (true, _, _) => None,
                    (false, Some(kind), Some(name)) => Some((kind_arg(&kind)?, name)),
                    _ => return Err(ClientError::Usage("give KIND NAME or --all".into())),
                },
                timeout: args.timeout,
            },
            RemoteCommand::Suspend(t) => Checked::Suspend {
                kind: kind_arg(&t.kind)?,
                name: t.name,
                suspended: true,
            },
            RemoteCommand::Resume(t) => Checked::Suspend {
                kind: kind_arg(&t.kind)?,
                name: t.name,
                suspended: false,
            },
        })
    }
}

fn check_describe(mut t: DescribeArgs) -> Result<Checked, ClientError> {
    // kubectl's `describe KIND/NAME` as well as `describe KIND NAME`.
    if let (Some((kind, name)), None) = (
        t.kind.clone().split_once('/').filter(|(_, n)| !n.is_empty()),
        &t.name,
    ) {
        t.kind = kind.to_string();
        t.name = Some(name.to_string());
    }
    if t.kind.eq_ignore_ascii_case("source") {
        return match t.name {
            None => Ok(Checked::DescribeSource),
            Some(_) => Err(ClientError::Usage(
                "`describe source` takes no name: there is one source".into(),
            )),
        };
    }
    let kind = kind_arg(&t.kind)?;
    let name = t
        .name
        .ok_or_else(|| ClientError::Usage(format!("`describe {}` needs a name", t.kind)))?;
    Ok(Checked::Describe { kind, name })
}

fn check_get(args: GetArgs) -> Result<Checked, ClientError> {
    if ["source", "sources"]
        .iter()
        .any(|w| args.what.eq_ignore_ascii_case(w))
    {
        if args.name.is_some() || args.watch || args.selector.is_some() || args.host.is_some() {
            return Err(ClientError::Usage(
                "`get source` takes no name, -w, -l or --host: there is one source".into(),
            ));
        }
        return Ok(Checked::GetSource { output: args.output });
    }
    let all = args.what.eq_ignore_ascii_case("all");
    let kind = if all { None } else { Some(kind_arg(&args.what)?) };
    if all && args.name.is_some() {
        return Err(ClientError::Usage("`get all` takes no name".into()));
    }
    let filter = ListFilter {
        kind,
        host: args.host,
        selector: args
            .selector
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| ClientError::Usage(format!("-l: {e}")))?,
    };
    Ok(Checked::Get(GetPlan {
        kind,
        name: args.name,
        output: args.output,
        watch: args.watch,
        filter,
    }))
}

/// The words `get` takes besides the kinds.
const GET_WORDS: [&str; 2] = ["all", "source"];

/// The kind `word` names (`stack`, `stacks`, `Stack`), or a usage error that lists the kinds
/// and suggests the nearest one for a typo.
pub fn kind_arg(word: &str) -> Result<Kind, ClientError> {
    kind_from_word(word).ok_or_else(|| {
        // The kinds that have a status (a Policy has none to get).
        let plurals: Vec<&str> = Kind::ALL
            .iter()
            .map(|k| kind_plural(*k))
            .filter(|w| kind_from_word(w).is_some())
            .collect();
        let hint = nearest(word, plurals.iter().copied().chain(GET_WORDS))
            .map(|w| format!(" (did you mean `{w}`?)"))
            .unwrap_or_default();
        ClientError::Usage(format!(
            "`{word}` is not a kind{hint}; expected {}, all or source",
            plurals.join(", ")
        ))
    })
}

/// The candidate closest to `word` (letters swapped, missing or extra count one each), if it is
/// close enough to be a typo of it.
fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::osa_distance(&word, c), c))
        .filter(|(d, c)| *d <= 2.min(c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_takes_kind_slash_name() {
        let d = |kind: &str, name: Option<&str>| {
            check_describe(DescribeArgs {
                kind: kind.into(),
                name: name.map(str::to_string),
            })
        };
        for (kind, name) in [("dnsguard/vps-dns", None), ("dnsguards", Some("vps-dns"))] {
            assert!(matches!(
                d(kind, name),
                Ok(Checked::Describe { kind: Kind::DnsGuard, name }) if name == "vps-dns"
            ));
        }
        assert!(d("stack/", None).is_err());
    }

    fn usage(e: ClientError) -> String {
        match e {
            ClientError::Usage(m) => m,
            other => panic!("not a usage error: {other:?}"),
        }
    }

    #[test]
    fn a_misspelt_kind_is_named_with_a_suggestion() {
        let m = usage(kind_arg("stakcs").unwrap_err());
        assert_eq!(
            m,
            "`stakcs` is not a kind (did you mean `stacks`?); expected hosts, networks, stacks, \
             dnsguards, tunnelclients, all or source"
        );
        assert!(usage(kind_arg("netwrok").unwrap_err()).contains("did you mean `networks`?"));
        assert!(usage(kind_arg("hsts").unwrap_err()).contains("did you mean `hosts`?"));
        assert!(!usage(kind_arg("pods").unwrap_err()).contains("did you mean"));
        assert_eq!(kind_arg("Stack").ok(), Some(Kind::Stack));
    }

    #[test]
    fn get_checks_everything_before_connecting() {
        let get = |what: &str, name: Option<&str>, selector: Option<&str>| {
            RemoteCommand::Get(GetArgs {
                what: what.into(),
                name: name.map(Into::into),
                output: None,
                watch: false,
                selector: selector.map(Into::into),
                host: None,
            })
            .check()
        };
        assert!(usage(get("all", Some("x"), None).unwrap_err()).contains("takes no name"));
        assert!(usage(get("stacks", None, Some("=")).unwrap_err()).starts_with("-l: "));
        assert!(usage(get("source", Some("x"), None).unwrap_err()).contains("one source"));
        assert!(matches!(
            get("Sources", None, None),
            Ok(Checked::GetSource { .. })
        ));
        assert!(matches!(
            get("stacks", Some("web"), Some("tier=edge")),
            Ok(Checked::Get(GetPlan {
                kind: Some(Kind::Stack),
                ..
            }))
        ));
    }
}
