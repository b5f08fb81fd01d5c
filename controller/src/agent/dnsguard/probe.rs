//! Tier 1: is the DNS server there? One real query to one server, with a timeout.
//!
//! This is deliberately not a resolver: no cache, no search list, no fallback to other servers,
//! no reading of `resolv.conf`. It sends an `A` query for one name to one `ip:port` over UDP
//! (hickory-net's `UdpClientStream`, which resends the same query within the timeout if a
//! datagram is lost) and reports whether an answer came back.
//!
//! Any well-formed answer counts as alive, whatever its response code: the question is whether
//! the proxy process answers (the seed's watchdog asked the same of `dig`), not whether the
//! upstream behind it resolves this particular name. The code is reported for the record.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use hickory_net::{
    proto::{
        op::{DnsRequest, DnsRequestOptions, Query},
        rr::{Name, RecordType},
    },
    runtime::TokioRuntimeProvider,
    udp::UdpClientStream,
    xfer::{DnsRequestSender, FirstAnswer},
    DnsError, NetError,
};
use serde::{Deserialize, Serialize};

/// Where and what to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    pub server: SocketAddr,
    /// The name to ask for, e.g. `example.com`.
    pub name: String,
    pub timeout: Duration,
}

/// The outcome of one probe, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    /// `ip:port` asked.
    pub server: String,
    /// An answer came back within the timeout.
    pub ok: bool,
    /// The answer's response code (`NoError`, `NXDomain`, `ServFail`...), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// Why there was no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub millis: u64,
}

/// Asks `target.server` for `target.name` once (see the module doc).
pub async fn probe(target: &ProbeTarget) -> ProbeResult {
    let start = std::time::Instant::now();
    let outcome = ask(target).await;
    let millis = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let server = target.server.to_string();
    match outcome {
        Ok(rcode) => ProbeResult {
            server,
            ok: true,
            rcode: Some(rcode),
            error: None,
            millis,
        },
        Err(error) => ProbeResult {
            server,
            ok: false,
            rcode: None,
            error: Some(error),
            millis,
        },
    }
}

async fn ask(target: &ProbeTarget) -> Result<String, String> {
    let name = Name::from_str(&target.name).map_err(|e| format!("bad probe name `{}`: {e}", target.name))?;
    let mut stream = UdpClientStream::builder(target.server, TokioRuntimeProvider::new())
        .with_timeout(Some(target.timeout))
        .build();
    let request = DnsRequest::from_query(Query::query(name, RecordType::A), DnsRequestOptions::default());
    // The overall bound: the stream's own timeout covers the exchange, this one covers a stream
    // that never completes for any other reason.
    let answer = tokio::time::timeout(
        target.timeout + Duration::from_millis(500),
        stream.send_message(request).first_answer(),
    )
    .await
    .map_err(|_| format!("no answer within {:?}", target.timeout))?;
    match answer {
        Ok(response) => Ok(format!("{:?}", response.metadata.response_code)),
        // An answer with an error code is still an answer.
        Err(NetError::Dns(DnsError::ResponseCode(code))) => Ok(format!("{code:?}")),
        Err(NetError::Dns(DnsError::NoRecordsFound(no))) => Ok(format!("{:?}", no.response_code)),
        Err(NetError::Timeout) => Err(format!("no answer within {:?}", target.timeout)),
        Err(e) => Err(e.to_string()),
    }
}
