//! [`OnRuntime`]: runs a span exporter's calls on the controller's tokio runtime.
//!
//! The SDK's batch processor exports from its own OS thread with a plain
//! `futures_executor::block_on`. The OTLP exporters (tonic, reqwest, hyper) need a tokio
//! reactor to make progress, and on that thread there is none: the thread panics with "there
//! is no reactor running" and every later span is dropped (opentelemetry-rust #2673,
//! #3125). So each export is spawned onto the runtime the exporter was built in, and the
//! batch thread only waits for it.

use std::{future::Future, sync::Arc, time::Duration};

use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
    Resource,
};

#[derive(Debug)]
pub(super) struct OnRuntime<E> {
    inner: Arc<E>,
    runtime: tokio::runtime::Handle,
}

impl<E> OnRuntime<E> {
    pub(super) fn new(inner: E, runtime: tokio::runtime::Handle) -> Self {
        Self {
            inner: Arc::new(inner),
            runtime,
        }
    }
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let inner = Arc::clone(&self.inner);
        // After the runtime shut down this resolves at once to a JoinError, not a hang.
        let task = self.runtime.spawn(async move { inner.export(batch).await });
        async move {
            task.await.unwrap_or_else(|e| {
                Err(OTelSdkError::InternalFailure(format!(
                    "the OTLP export task did not finish: {e}"
                )))
            })
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called once while the provider is built, before any export holds a clone.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}
