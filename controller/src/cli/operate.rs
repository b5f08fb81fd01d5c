//! `aegisctl logs`, `events` and `restart`: what an operator does with `docker` on a host,
//! through the controller (the same token), for hosts reachable only through it.

use std::{
    collections::HashMap,
    io::Write as _,
    time::{Duration, SystemTime},
};

use clap::{Args, Subcommand};

use super::{
    client::{Client, ClientError},
    connect::ConnectArgs,
    table::{short_age, Table},
};
use crate::{
    api::{events::EventRow, logs::LogLine},
    desired::Kind,
    docker::operate::LogOptions,
    status::{kind_from_word, ListFilter},
};

#[derive(Debug, Subcommand)]
pub enum OperateCommand {
    /// Print the container logs of a Stack (or a TunnelClient or DnsGuard), streamed from its
    /// host (like `kubectl logs`): stdout to stdout, stderr to stderr; lines prefixed with the
    /// service when there are several.
    Logs(LogsArgs),
    /// The events of every resource in one timeline (like `flux events`).
    Events(EventsArgs),
    /// Restart a Stack's containers (or one service's) on its host; recorded as an event.
    /// A critical Stack is refused: it needs the commit-confirmed path.
    Restart(RestartArgs),
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// `stack/NAME` (or just NAME), `tunnelclient/NAME`, `dnsguard/NAME`.
    pub target: String,
    /// Only this service's container.
    pub service: Option<String>,
    /// Keep streaming new lines until interrupted (or the containers stop).
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines newer than this: a duration (`10m`, `1h30m`) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only the last N lines of each container.
    #[arg(long)]
    pub tail: Option<u64>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing new events as they happen.
    #[arg(short, long)]
    pub watch: bool,
    /// Only this resource's events: `stack/NAME`.
    #[arg(long = "for")]
    pub for_: Option<String>,
    /// Only resources on this host.
    #[arg(long)]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// `stack/NAME` (or just NAME).
    pub target: String,
    /// Only this service's container.
    pub service: Option<String>,
}

/// `stack/NAME`, `stacks/NAME`, `Stack/NAME` or a bare NAME (a Stack).
pub fn parse_target(t: &str) -> Result<(Kind, String), ClientError> {
    match t.split_once('/') {
        Some((kind, name)) if !name.is_empty() => kind_from_word(kind)
            .map(|k| (k, name.to_string()))
            .ok_or_else(|| ClientError::Usage(format!("`{t}`: unknown kind `{kind}`; write stack/NAME"))),
        Some(_) => Err(ClientError::Usage(format!("`{t}`: no name; write stack/NAME"))),
        None if !t.is_empty() => Ok((Kind::Stack, t.to_string())),
        None => Err(ClientError::Usage("no resource given; write stack/NAME".into())),
    }
}

/// Runs the command; `Ok(false)` means it ran and reports a failure (a container's log could
/// not be read).
pub async fn run(cmd: OperateCommand, connect: &ConnectArgs) -> Result<bool, ClientError> {
    match cmd {
        OperateCommand::Logs(a) => {
            let (kind, name) = parse_target(&a.target)?;
            let since = a
                .since
                .as_deref()
                .map(|s| crate::api::logs::parse_since(s, SystemTime::now()))
                .transpose()
                .map_err(ClientError::Usage)?;
            let client = Client::new(&connect.resolve()?)?;
            logs(
                &client,
                kind,
                &name,
                a.service.as_deref(),
                &LogOptions {
                    follow: a.follow,
                    since,
                    tail: a.tail,
                },
            )
            .await
        }
        OperateCommand::Events(a) => {
            let target = a.for_.as_deref().map(parse_target).transpose()?;
            let client = Client::new(&connect.resolve()?)?;
            events(&client, target, a.host, a.watch).await
        }
        OperateCommand::Restart(a) => {
            let (kind, name) = parse_target(&a.target)?;
            let client = Client::new(&connect.resolve()?)?;
            let r = client.restart(kind, &name, a.service.as_deref()).await?;
            println!(
                "{}/{} on {}: restarted {}",
                r.kind,
                r.name,
                r.host,
                r.containers.join(", ")
            );
            Ok(true)
        }
    }
}

async fn logs(
    client: &Client,
    kind: Kind,
    name: &str,
    service: Option<&str>,
    opts: &LogOptions,
) -> Result<bool, ClientError> {
    // Prefixes only when lines of several containers interleave (no service named). Not
    // padded: the services' lines arrive in any order, and a width that grows as they do
    // would shift columns mid-stream.
    let prefix = service.is_none();
    let mut failed = false;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    client
        .logs(kind, name, service, opts, |l: LogLine| {
            if let Some(e) = &l.error {
                failed = true;
                let _ = writeln!(err, "error: {}: {e}", l.container);
                return;
            }
            let text = if prefix {
                format!("{} | {}", l.service, l.line)
            } else {
                l.line
            };
            let _ = match l.stream.as_deref() {
                Some("stderr") => writeln!(err, "{text}"),
                _ => writeln!(out, "{text}").and_then(|()| out.flush()),
            };
        })
        .await?;
    Ok(!failed)
}

const EVENT_HEADER: [&str; 5] = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];

fn event_row(e: &EventRow) -> Vec<String> {
    let age = SystemTime::now()
        .duration_since(e.time.0)
        .unwrap_or(Duration::ZERO);
    vec![
        short_age(age),
        e.type_.to_string(),
        e.reason.to_string(),
        format!("{}/{}", e.kind, e.name),
        e.message.clone(),
    ]
}

async fn events(
    client: &Client,
    target: Option<(Kind, String)>,
    host: Option<String>,
    watch: bool,
) -> Result<bool, ClientError> {
    let filter = ListFilter {
        kind: target.as_ref().map(|(k, _)| *k),
        host,
        selector: None,
    };
    let wanted = |e: &EventRow| target.as_ref().is_none_or(|(_, n)| *n == e.name);
    if !watch {
        let rows: Vec<EventRow> = client
            .events(&filter)
            .await?
            .into_iter()
            .filter(|e| wanted(e))
            .collect();
        if rows.is_empty() {
            eprintln!("No events found.");
            return Ok(true);
        }
        let mut t = Table::new(EVENT_HEADER);
        for r in &rows {
            t.push(event_row(r));
        }
        print!("{}", t.render());
        return Ok(true);
    }
    // Watching: the header once, with room for typical values, then one row per event.
    let widths: Vec<usize> = vec![9, 7, 13, 24, 0];
    println!("{}", fixed_row(&EVENT_HEADER.map(String::from), &widths));
    let mut seen: HashMap<(String, String, String), ()> = HashMap::new();
    client
        .watch_events(&filter, |e| {
            if !wanted(&e) {
                return;
            }
            let key = (e.time.to_string(), e.name.clone(), e.message.clone());
            if seen.insert(key, ()).is_some() {
                return;
            }
            println!("{}", fixed_row(&event_row(&e), &widths));
            let _ = std::io::stdout().flush();
        })
        .await?;
    Ok(true)
}

/// A row padded to `widths` (the last column unpadded).
fn fixed_row(cells: &[String], widths: &[usize]) -> String {
    cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:w$}"))
        .collect::<Vec<_>>()
        .join("   ")
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("stack/web").unwrap(), (Kind::Stack, "web".into()));
        assert_eq!(parse_target("stacks/web").unwrap(), (Kind::Stack, "web".into()));
        assert_eq!(parse_target("web").unwrap(), (Kind::Stack, "web".into()));
        assert!(parse_target("widget/web").is_err());
        assert!(parse_target("stack/").is_err());
    }
}
