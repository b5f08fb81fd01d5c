//! The remote commands of `aegisctl`: get, describe, reconcile, suspend, resume. Each
//! returns whether it succeeded; the binary turns that into the exit code.

use std::{collections::HashMap, time::Duration};

use clap::{Args, Subcommand, ValueEnum};

use super::{
    client::{Client, ClientError},
    connect::ConnectArgs,
    source_view,
    views::{self, GetLayout},
};
use crate::{
    desired::Kind,
    status::{kind_from_word, ChangeType, ListFilter, ResourceStatus, StatusKey},
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
}

fn kind_arg(word: &str) -> Result<Kind, ClientError> {
    kind_from_word(word).ok_or_else(|| {
        ClientError::Config(format!(
            "unknown resource type `{word}`; expected hosts, networks, stacks, dnsguards, tunnelclients, all or source"
        ))
    })
}

/// Runs `cmd` against the API that `connect` names. `Ok(false)` means the command ran and
/// reports a failure (a reconcile that failed).
pub async fn run(cmd: RemoteCommand, connect: &ConnectArgs) -> Result<bool, ClientError> {
    let client = Client::new(&connect.resolve()?)?;
    match cmd {
        RemoteCommand::Get(args) => get(&client, args).await,
        RemoteCommand::Describe(t) => {
            if t.kind.eq_ignore_ascii_case("source") {
                print!("{}", source_view::describe_source(&client.source().await?));
                return Ok(true);
            }
            let kind = kind_arg(&t.kind)?;
            let name = t
                .name
                .ok_or_else(|| ClientError::Config(format!("`describe {}` needs a name", t.kind)))?;
            let status = client.get(kind, &name).await?;
            print!("{}", views::describe(&status));
            Ok(true)
        }
        RemoteCommand::Reconcile(args) => reconcile(&client, args).await,
        RemoteCommand::Suspend(t) => suspend(&client, t, true).await,
        RemoteCommand::Resume(t) => suspend(&client, t, false).await,
    }
}

async fn get(client: &Client, args: GetArgs) -> Result<bool, ClientError> {
    if ["source", "sources"]
        .iter()
        .any(|w| args.what.eq_ignore_ascii_case(w))
    {
        return get_source(client, &args).await;
    }
    let all = args.what.eq_ignore_ascii_case("all");
    let kind = if all { None } else { Some(kind_arg(&args.what)?) };
    let filter = ListFilter {
        kind,
        host: args.host.clone(),
        selector: args
            .selector
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| ClientError::Config(format!("-l: {e}")))?,
    };
    let rows = match (&args.name, kind) {
        (Some(name), Some(kind)) => vec![client.get(kind, name).await?],
        (Some(_), None) => return Err(ClientError::Config("`get all` takes no name".into())),
        (None, _) => client.list(&filter).await?,
    };
    let single = args.name.is_some();
    let wide = args.output == Some(Output::Wide);
    let mut layout = GetLayout::for_rows(&rows, wide, all);
    layout.message |= args.watch;
    let widths = match args.output {
        Some(Output::Json) => {
            println!("{}", to_json(&rows, single));
            None
        }
        Some(Output::Yaml) => {
            print!("{}", to_yaml(&rows, single)?);
            None
        }
        _ => {
            // A rejected revision or a failing fetch explains stale or missing rows.
            if let Ok(source) = client.source().await {
                if let Some(w) = source_view::source_warning(&source) {
                    eprintln!("{w}");
                }
            }
            let table = views::get_table(&rows, layout);
            if rows.is_empty() && !args.watch {
                eprintln!("{}", views::nothing_found(kind));
            } else {
                print!("{}", table.render());
            }
            Some(table.widths())
        }
    };
    if !args.watch {
        return Ok(true);
    }
    let mut seen: HashMap<StatusKey, ResourceStatus> = rows.into_iter().map(|s| (s.key(), s)).collect();
    client
        .watch(&filter, |change| {
            let s = &change.resource;
            if args.name.as_deref().is_some_and(|n| n != s.name) {
                return;
            }
            // The stream starts with the current state, which the table already shows.
            if change.type_ == ChangeType::Added && seen.get(&s.key()) == Some(s) {
                return;
            }
            seen.insert(s.key(), s.clone());
            match (&widths, args.output) {
                (_, Some(Output::Json)) => println!("{}", serde_json::to_string(&change).unwrap_or_default()),
                (_, Some(Output::Yaml)) => {
                    print!("---\n{}", serde_saphyr::to_string(&change).unwrap_or_default());
                }
                (Some(widths), _) => {
                    let deleted = (change.type_ == ChangeType::Deleted).then_some("Deleted");
                    let mut t = crate::cli::table::Table::new(Vec::<String>::new());
                    t.push(views::get_row(s, layout, deleted));
                    print!("{}", t.render_rows(widths));
                }
                (None, _) => {}
            }
        })
        .await?;
    Ok(true)
}

/// `aegisctl get source`.
async fn get_source(client: &Client, args: &GetArgs) -> Result<bool, ClientError> {
    if args.name.is_some() || args.watch || args.selector.is_some() || args.host.is_some() {
        return Err(ClientError::Config(
            "`get source` takes no name, -w, -l or --host: there is one source".into(),
        ));
    }
    let source = client.source().await?;
    match args.output {
        Some(Output::Json) => println!(
            "{}",
            serde_json::to_string_pretty(&source).expect("the source status serializes to JSON")
        ),
        Some(Output::Yaml) => print!(
            "{}",
            serde_saphyr::to_string(&source)
                .map_err(|e| ClientError::Config(format!("cannot write YAML: {e}")))?
        ),
        _ => print!(
            "{}",
            source_view::source_table(&source, args.output == Some(Output::Wide)).render()
        ),
    }
    Ok(true)
}

fn to_json(rows: &[ResourceStatus], single: bool) -> String {
    let value = if single {
        serde_json::to_string_pretty(&rows[0])
    } else {
        serde_json::to_string_pretty(rows)
    };
    value.expect("statuses serialize to JSON")
}

fn to_yaml(rows: &[ResourceStatus], single: bool) -> Result<String, ClientError> {
    let yaml = if single {
        serde_saphyr::to_string(&rows[0])
    } else {
        serde_saphyr::to_string(&rows)
    };
    yaml.map_err(|e| ClientError::Config(format!("cannot write YAML: {e}")))
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", Duration::from_millis(ms).as_secs_f64())
}

fn print_result(r: &crate::api::ReconcileResult) {
    let rev = r
        .revision
        .as_deref()
        .map(|v| format!(" at {}", views::short_revision(Some(v))));
    if r.succeeded {
        println!(
            "{}/{} reconciled on {}{} in {}: {}",
            r.kind,
            r.name,
            r.host,
            rev.unwrap_or_default(),
            seconds(r.duration_ms),
            r.message
        );
    } else {
        println!(
            "{}/{} failed on {} after {}: {}",
            r.kind,
            r.name,
            r.host,
            seconds(r.duration_ms),
            r.message
        );
    }
}

async fn reconcile(client: &Client, args: ReconcileArgs) -> Result<bool, ClientError> {
    if args.all {
        let results = client.reconcile_all().await?;
        results.iter().for_each(print_result);
        let failed = results.iter().filter(|r| !r.succeeded).count();
        println!("{} reconciled, {failed} failed", results.len() - failed);
        return Ok(failed == 0);
    }
    let (Some(kind), Some(name)) = (args.kind, args.name) else {
        return Err(ClientError::Config("give KIND NAME or --all".into()));
    };
    let result = client.reconcile(kind_arg(&kind)?, &name).await?;
    print_result(&result);
    Ok(result.succeeded)
}

async fn suspend(client: &Client, t: TargetArgs, suspended: bool) -> Result<bool, ClientError> {
    let r = client.suspend(kind_arg(&t.kind)?, &t.name, suspended).await?;
    let word = if r.suspended { "suspended" } else { "resumed" };
    println!("{}/{} {word}", r.kind, r.name);
    Ok(true)
}
