//! The remote commands of `aegisctl`: get, describe, reconcile, suspend, resume. Each
//! returns whether it succeeded; the binary turns that into the exit code.

use std::{collections::HashMap, time::Duration};

pub use super::args::{DescribeArgs, GetArgs, Output, ReconcileArgs, RemoteCommand, TargetArgs};
use super::{
    args::{Checked, GetPlan},
    client::{Client, ClientError},
    connect::ConnectArgs,
    source_view,
    views::{self, GetLayout},
};
use crate::{
    desired::Kind,
    status::{ChangeType, ResourceStatus, StatusKey},
};

/// Runs `cmd` against the API that `connect` names. Its arguments are checked first, so a
/// wrong one is reported without a token or a connection. `Ok(false)` means the command ran
/// and reports a failure (a reconcile that failed).
pub async fn run(cmd: RemoteCommand, connect: &ConnectArgs) -> Result<bool, ClientError> {
    let cmd = cmd.check()?;
    let client = Client::new(&connect.resolve()?)?;
    match cmd {
        Checked::GetSource { output } => get_source(&client, output).await,
        Checked::Get(plan) => get(&client, plan).await,
        Checked::DescribeSource => {
            print!("{}", source_view::describe_source(&client.source().await?));
            Ok(true)
        }
        Checked::Describe { kind, name } => {
            let status = client.get(kind, &name).await?;
            print!("{}", views::describe(&status));
            Ok(true)
        }
        Checked::Reconcile { target, timeout } => reconcile(&client, target, timeout).await,
        Checked::Suspend {
            kind,
            name,
            suspended,
        } => suspend(&client, kind, &name, suspended).await,
    }
}

async fn get(client: &Client, args: GetPlan) -> Result<bool, ClientError> {
    let kind = args.kind;
    let all = kind.is_none();
    let filter = args.filter;
    let rows = match (&args.name, kind) {
        (Some(name), Some(kind)) => vec![client.get(kind, name).await?],
        _ => client.list(&filter).await?,
    };
    let single = args.name.is_some();
    let wide = args.output == Some(Output::Wide);
    let mut layout = GetLayout::for_rows(&rows, wide, all);
    layout.message |= args.watch;
    layout.agent = kind.filter(|k| matches!(k, Kind::DnsGuard | Kind::TunnelClient));
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
async fn get_source(client: &Client, output: Option<Output>) -> Result<bool, ClientError> {
    let source = client.source().await?;
    match output {
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
            source_view::source_table(&source, output == Some(Output::Wide)).render()
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
        .map(|v| format!(" at {}", views::short_revision(Some(v))))
        .unwrap_or_default();
    let run = r.run.map(|n| format!(" (run #{n})")).unwrap_or_default();
    let took = seconds(r.duration_ms);
    let (kind, name, host, message) = (r.kind, &r.name, &r.host, &r.message);
    if r.succeeded {
        println!("{kind}/{name} reconciled on {host}{rev} in {took}{run}: {message}");
    } else {
        println!("{kind}/{name} failed on {host} after {took}{run}: {message}");
    }
}

async fn reconcile(
    client: &Client,
    target: Option<(Kind, String)>,
    timeout: Duration,
) -> Result<bool, ClientError> {
    let Some((kind, name)) = target else {
        let results = client.reconcile_all(timeout).await?;
        results.iter().for_each(print_result);
        let failed = results.iter().filter(|r| !r.succeeded).count();
        println!("{} reconciled, {failed} failed", results.len() - failed);
        return Ok(failed == 0);
    };
    let result = client.reconcile(kind, &name, timeout).await?;
    print_result(&result);
    Ok(result.succeeded)
}

async fn suspend(client: &Client, kind: Kind, name: &str, suspended: bool) -> Result<bool, ClientError> {
    let r = client.suspend(kind, name, suspended).await?;
    let word = if r.suspended { "suspended" } else { "resumed" };
    println!("{}/{} {word}", r.kind, r.name);
    Ok(true)
}
