//! Best paths to the kernel: Loc-RIB changes from the speaker go to the `fib` crate's
//! writer in batches; failures come back to the core as inputs.

use crate::core::CoreMsg;
use bgpd::config::FibConfig;
use bgpd::rib::FibChange;
use bgpd::wire::Prefix;
use fib::{FibService, NextHop, RouteUpdate};
use tokio::sync::mpsc;

/// The FIB writer task's inbox.
pub struct FibBridge {
    tx: mpsc::UnboundedSender<Vec<FibChange>>,
}

fn to_fib_prefix(p: Prefix) -> Option<fib::Prefix> {
    fib::Prefix::new(p.addr(), p.len()).ok()
}

impl FibBridge {
    /// Opens the kernel FIB of the daemon's own network namespace and starts the writer.
    pub fn start(cfg: &FibConfig, core: mpsc::UnboundedSender<CoreMsg>) -> anyhow::Result<Self> {
        let fib_cfg = fib::FibConfig {
            table: cfg.table,
            protocol: cfg.protocol,
            metric: cfg.metric,
            install: cfg.enabled,
            nexthop_objects: cfg.nexthop_objects,
        };
        let writer = fib::Fib::open(fib_cfg)?;
        let (service, mut results) = FibService::spawn(writer)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<FibChange>>();
        let core2 = core.clone();
        // Re-resolution results that arrive on their own.
        tokio::spawn(async move {
            while let Some(r) = results.recv().await {
                report(&core2, r);
            }
        });
        tokio::spawn(async move {
            while let Some(mut batch) = rx.recv().await {
                // Coalesce what queued up meanwhile: one large apply beats many small ones.
                while let Ok(more) = rx.try_recv() {
                    batch.extend(more);
                }
                let updates: Vec<RouteUpdate> = batch
                    .into_iter()
                    .filter_map(|c| match c {
                        FibChange::Install { prefix, next_hop } => to_fib_prefix(prefix)
                            .map(|p| RouteUpdate::install(p, vec![NextHop::via(next_hop)])),
                        FibChange::Remove { prefix } => {
                            to_fib_prefix(prefix).map(RouteUpdate::withdraw)
                        }
                    })
                    .collect();
                match service.apply(updates).await {
                    Ok(results) => report(&core, results),
                    Err(e) => tracing::error!("kernel FIB writer failed: {e}"),
                }
            }
        });
        Ok(FibBridge { tx })
    }

    /// Queues a batch of changes.
    pub fn submit(&self, batch: Vec<FibChange>) {
        let _ = self.tx.send(batch);
    }
}

fn report(core: &mpsc::UnboundedSender<CoreMsg>, results: Vec<fib::RouteResult>) {
    let failed: Vec<(Prefix, String)> = results
        .into_iter()
        .filter_map(|r| match r.outcome {
            fib::Outcome::Failed(e) => {
                let p: Option<Prefix> = format!("{}", r.prefix).parse().ok();
                p.map(|p| (p, e.to_string()))
            }
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let _ = core.send(CoreMsg::FibFailed(failed));
    }
}
