//! Where traces go: the OTLP target from flags and the standard `OTEL_*` variables
//! ([`resolve`], pure), and the tracer provider that exports to it ([`provider`]).
//!
//! The variables follow the OpenTelemetry specification:
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the full URL, used as it is;
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL, to which HTTP/protobuf appends
//! `/v1/traces`; `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` is `grpc` or `http/protobuf`
//! (the default); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn export off.
//! The SDK itself still reads `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`, `_TIMEOUT`,
//! `OTEL_BSP_*` and `OTEL_RESOURCE_ATTRIBUTES`. A flag wins over a variable.

use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::{trace::SdkTracerProvider, Resource};

use super::{export::OnRuntime, http_client::ReqwestClient, TelemetryArgs, TelemetryError};

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    fn parse(s: &str, from: &str) -> Result<Self, String> {
        match s.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            other => Err(format!(
                "{from}: unsupported OTLP protocol `{other}`; use `grpc` or `http/protobuf`"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Where the exporter sends spans: the full URL (with `/v1/traces` for HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpTarget {
    pub protocol: Protocol,
    pub endpoint: String,
}

/// The OTLP target, or `None` when nothing is configured or export is turned off. `env`
/// looks up a variable (`std::env::var` in production, a map in tests).
pub fn resolve(
    args: &TelemetryArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<OtlpTarget>, String> {
    let var = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return Ok(None);
    }
    let protocol = match (
        args.otlp_protocol.as_deref(),
        var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        var("OTEL_EXPORTER_OTLP_PROTOCOL"),
    ) {
        (Some(p), _, _) => Protocol::parse(p, "--otlp-protocol")?,
        (None, Some(p), _) => Protocol::parse(&p, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")?,
        (None, None, Some(p)) => Protocol::parse(&p, "OTEL_EXPORTER_OTLP_PROTOCOL")?,
        (None, None, None) => Protocol::HttpProtobuf,
    };
    // (value, where it came from, whether it is a base URL)
    let flag = args
        .otlp_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| (s.to_string(), "--otlp-endpoint", true));
    let chosen = flag
        .or_else(|| {
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .map(|s| (s, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", false))
        })
        .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|s| (s, "OTEL_EXPORTER_OTLP_ENDPOINT", true)));
    let Some((url, from, base)) = chosen else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "{from}: `{url}` is not an http:// or https:// URL (e.g. http://tempo:4317 for gRPC, \
             http://alloy:4318 for HTTP)"
        ));
    }
    let endpoint = match protocol {
        Protocol::HttpProtobuf if base && !url.trim_end_matches('/').ends_with("/v1/traces") => {
            format!("{}/v1/traces", url.trim_end_matches('/'))
        }
        _ => url,
    };
    Ok(Some(OtlpTarget { protocol, endpoint }))
}

/// `service.name`: the flag, `OTEL_SERVICE_NAME`, or `aegis`.
pub fn service_name(args: &TelemetryArgs, env: impl Fn(&str) -> Option<String>) -> String {
    args.service_name
        .clone()
        .or_else(|| env("OTEL_SERVICE_NAME"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "aegis".to_string())
}

/// A tracer provider with a batch exporter to `target`, exporting on `runtime`.
pub(super) fn provider(
    target: &OtlpTarget,
    service: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<SdkTracerProvider, TelemetryError> {
    let fail = |message: String| TelemetryError::Exporter {
        endpoint: target.endpoint.clone(),
        message,
    };
    let exporter = match target.protocol {
        Protocol::Grpc => {
            let builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(target.endpoint.clone());
            // The SDK's default TLS config trusts no root at all; use the system's.
            let builder = if target.endpoint.starts_with("https://") {
                builder.with_tls_config(
                    opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_native_roots(),
                )
            } else {
                builder
            };
            // The tonic channel is created on the current runtime (the caller entered it).
            let _entered = runtime.enter();
            builder.build().map_err(|e| fail(e.to_string()))?
        }
        Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(target.endpoint.clone())
            .with_http_client(ReqwestClient::new().map_err(fail)?)
            .build()
            .map_err(|e| fail(e.to_string()))?,
    };
    let resource = Resource::builder()
        .with_service_name(service.to_string())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(OnRuntime::new(exporter, runtime.clone()))
        .with_resource(resource)
        .build())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn resolve_with(args: &TelemetryArgs, vars: &[(&str, &str)]) -> Result<Option<OtlpTarget>, String> {
        let vars: BTreeMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        resolve(args, |k| vars.get(k).cloned())
    }

    fn target(protocol: Protocol, endpoint: &str) -> Option<OtlpTarget> {
        Some(OtlpTarget {
            protocol,
            endpoint: endpoint.into(),
        })
    }

    #[test]
    fn nothing_configured_means_no_exporter() {
        assert_eq!(resolve_with(&TelemetryArgs::default(), &[]), Ok(None));
        assert_eq!(
            resolve_with(
                &TelemetryArgs::default(),
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]
            ),
            Ok(None)
        );
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_over_http_only() {
        let args = TelemetryArgs::default();
        assert_eq!(
            resolve_with(&args, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://alloy:4318/")]),
            Ok(target(Protocol::HttpProtobuf, "http://alloy:4318/v1/traces"))
        );
        assert_eq!(
            resolve_with(
                &args,
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://tempo:4317"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
                ]
            ),
            Ok(target(Protocol::Grpc, "http://tempo:4317"))
        );
        // The per-signal variable is a full URL and wins over the base one.
        assert_eq!(
            resolve_with(
                &args,
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/custom")
                ]
            ),
            Ok(target(Protocol::HttpProtobuf, "http://b:4318/custom"))
        );
    }

    #[test]
    fn flags_win_over_variables() {
        let args = TelemetryArgs {
            otlp_endpoint: Some("http://127.0.0.1:4317".into()),
            otlp_protocol: Some("grpc".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_with(
                &args,
                &[
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/v1/traces"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                ]
            ),
            Ok(target(Protocol::Grpc, "http://127.0.0.1:4317"))
        );
        let named = TelemetryArgs {
            service_name: Some("aegis-lab".into()),
            ..Default::default()
        };
        assert_eq!(service_name(&named, |_| Some("other".into())), "aegis-lab");
        assert_eq!(
            service_name(&TelemetryArgs::default(), |_| Some("other".into())),
            "other"
        );
        assert_eq!(service_name(&TelemetryArgs::default(), |_| None), "aegis");
    }

    #[test]
    fn export_can_be_turned_off_and_bad_values_are_named() {
        let args = TelemetryArgs::default();
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        assert_eq!(
            resolve_with(&args, &[on, ("OTEL_SDK_DISABLED", "true")]),
            Ok(None)
        );
        assert_eq!(
            resolve_with(&args, &[on, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(None)
        );
        let e = resolve_with(&args, &[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(
            e.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && e.contains("http/json"),
            "{e}"
        );
        let e = resolve_with(&args, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "tempo:4317")]).unwrap_err();
        assert!(
            e.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && e.contains("http://"),
            "{e}"
        );
    }
}
