//! `aegis controller`: the long-running control loop.
//!
//! The wiring of the one-way data path: the [`source`] poller turns the
//! [`crate::source::Source`] (a directory or a git repository) into a [`Snapshot`] of desired state; the [`crate::runtime`] work queue runs the
//! [`reconciler::AegisReconciler`] once per key (host + kind + name), planning from the host's
//! [`view`], which the host's [`events`] watcher keeps (and turns drift into requeues); image
//! pulls run in the background ([`pulls`]); results land in the [`crate::status`] store,
//! which the [`crate::api`] serves. The API only reads status and sends triggers
//! ([`trigger::Triggers`]).

mod agent_rules;
mod agents;
mod critical;
mod critical_gate;
mod critical_restart;
mod events;
mod gates;
mod hosts;
mod metrics;
mod operate;
mod orphans;
mod pass;
mod pulls;
mod reconciler;
mod snapshot;
mod source;
mod trigger;
mod view;

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::sync::Notify;

use tokio_util::sync::CancellationToken;

pub use snapshot::{Shared, Snapshot};

use crate::{
    api::{self, ApiConfig, ApiState},
    apply::ApplyOptions,
    runtime::{self, Runtime},
    source::{webhook::Webhook, Location},
    status::StatusStore,
};

/// Everything `aegis controller` is configured with.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    pub source: Location,
    /// Status, and for a git source its mirror (`git/`) and checkouts (`checkouts/`).
    pub state_dir: PathBuf,
    pub apply: ApplyOptions,
    /// How often the source is checked for a new revision.
    pub poll: Duration,
    /// Enables `POST /api/v1/webhook`, verified with this secret.
    pub webhook_secret: Option<String>,
    pub runtime: runtime::Config,
    pub api: ApiConfig,
}

/// Runs until SIGINT/SIGTERM, then shuts down gracefully: no new work, running reconciles
/// get the runtime's grace period, the API stops, and status is flushed to disk.
pub async fn run(opts: ControllerOptions) -> anyhow::Result<()> {
    let store = StatusStore::load(&opts.state_dir)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load status from {}: {e}", opts.state_dir.display()))?;
    let snapshot = Shared::default();
    let pool = hosts::Pool::default();
    let views = view::Views::default();
    let metrics = crate::telemetry::metrics::Metrics::new();
    // The key of commit-confirmed changes lives in the state directory, so that a restarted
    // controller (or a new controller container) can confirm an attempt this one started.
    let key_path = opts.state_dir.join(ROLLBACK_KEY_FILE);
    let confirm_key = crate::agent::rollback::ConfirmKey::load_or_create(&key_path).map_err(|e| {
        anyhow::anyhow!(
            "cannot load or create the confirm key {}: {e}",
            key_path.display()
        )
    })?;
    let critical = critical::Critical::new(confirm_key, store.clone(), opts.apply.clone(), metrics.clone());
    let reconciler = Arc::new(
        reconciler::AegisReconciler::new(
            snapshot.clone(),
            store.clone(),
            pool.clone(),
            views.clone(),
            opts.apply.clone(),
        )
        .with_metrics(metrics.clone())
        .with_critical(critical.clone()),
    );
    let (rt, handle) = Runtime::new(reconciler, opts.runtime.clone());
    let stop = CancellationToken::new();
    metrics.set_source(metrics::scrape_source(
        handle.clone(),
        store.clone(),
        snapshot.clone(),
    ));
    let metrics_task = tokio::spawn(metrics::count_outcomes(
        metrics.clone(),
        handle.subscribe(),
        stop.clone(),
    ));

    // Source → snapshot → requeues; the first valid revision also starts the event watchers.
    let source = crate::source::open(&opts.source, &opts.state_dir)
        .map_err(|e| anyhow::anyhow!("cannot open the source: {e}"))?;
    let wake = Arc::new(Notify::new());
    let webhook = opts
        .webhook_secret
        .clone()
        .map(|secret| Arc::new(Webhook::new(secret, source.tracked(), wake.clone())));
    let described = source.describe();
    let src = source::Poller {
        source,
        interval: opts.poll,
        wake,
        snapshot: snapshot.clone(),
        store: store.clone(),
        handle: handle.clone(),
        pool: pool.clone(),
        views,
        resync: opts.runtime.resync,
        instance: opts.apply.plan.instance.clone(),
        stop: stop.clone(),
    };
    let source_task = tokio::spawn(src.run());

    // Forget keys whose resource left the desired state once their prune pass succeeded.
    let forget_task = tokio::spawn(trigger::forget_removed(
        handle.clone(),
        snapshot.clone(),
        stop.clone(),
    ));

    let triggers = Arc::new(trigger::Triggers::new(
        handle.clone(),
        snapshot.clone(),
        store.clone(),
    ));
    let mut api_state = ApiState::new(store.clone(), triggers)
        .with_metrics(metrics, opts.api.metrics_token_required)
        .with_operate(operate::Operations::new(
            snapshot.clone(),
            pool.clone(),
            store.clone(),
            Some(critical.clone()),
        ));
    if let Some(hook) = webhook {
        api_state = api_state.with_webhook(hook);
    }
    let api_stop = stop.clone();
    let api_task = tokio::spawn(api::serve(opts.api.clone(), api_state, async move {
        api_stop.cancelled().await
    }));

    // The agent image of this executable (hashing it takes seconds on a small machine) is
    // computed now, off the async threads, not inside the first commit-confirmed attempt.
    drop(tokio::task::spawn_blocking(|| {
        if let Err(e) = crate::agent::image::AgentImage::current() {
            tracing::debug!("no agent image from this executable: {e}");
        }
    }));
    // Attempts an earlier controller left in flight are ended before any new critical change.
    let recovery_task = tokio::spawn(recover_at_start(critical, snapshot.clone(), stop.clone()));

    let rt_stop = stop.clone();
    let rt_task = tokio::spawn(rt.run(async move { rt_stop.cancelled().await }));

    tracing::info!(source = %described, "aegis controller started");
    let reason = tokio::select! {
        s = shutdown_signal() => s,
        r = api_task => {
            stop.cancel();
            let _ = rt_task.await;
            let _ = store.flush().await;
            return match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::anyhow!("{e}")),
                Err(e) => Err(anyhow::anyhow!("the API task failed: {e}")),
            };
        }
    };
    tracing::info!("{reason}: shutting down");
    stop.cancel();
    let _ = rt_task.await;
    let _ = source_task.await;
    let _ = forget_task.await;
    let _ = metrics_task.await;
    recovery_task.abort();
    store
        .flush()
        .await
        .map_err(|e| anyhow::anyhow!("cannot save status: {e}"))?;
    Ok(())
}

/// The confirm key's file in the state directory (mode 0600).
pub const ROLLBACK_KEY_FILE: &str = "rollback.key";

/// Waits for the first accepted revision (it names the hosts), then recovers every host.
async fn recover_at_start(critical: critical::Critical, snapshot: Shared, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let snap = loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Some(s) = snapshot.get() {
            break s;
        }
    };
    tokio::select! {
        () = stop.cancelled() => {}
        () = critical.recover_all(&snap.resolved.state) => {}
    }
}

async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                ctrl_c.await;
                return "SIGINT";
            }
        };
        tokio::select! {
            _ = ctrl_c => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c.await;
        "SIGINT"
    }
}
