//! Best paths to the kernel: Loc-RIB changes from the speaker go to the `fib` crate's
//! writer in pieces; failures come back to the core as inputs.
//!
//! Flow control: the kernel takes a full table far slower than the speaker learns it, so the
//! changes wait in the speaker, a prefix each ([`bgpd::rib::FibPending`]), and the core hands
//! the writer at most [`PIECES_IN_FLIGHT`] pieces of [`INSTALLS_PER_APPLY`] installs at a
//! time ([`FibBridge::has_room`], [`FibBridge::submit`]). The writer answers each piece it has
//! applied with [`CoreMsg::FibTaken`], and the core hands over the next.
//!
//! Start-up and takeover use the writer's adopt mode (issue 5, issue 7): the routes of our
//! protocol and table already in the kernel are taken as installed, so a route the speaker
//! learns again is left alone (or replaced in place), and only at convergence
//! ([`FibBridge::converged`]) are the adopted routes that nothing claims removed.

use crate::core::CoreMsg;
use bgpd::config::FibConfig;
use bgpd::rib::FibChange;
use bgpd::wire::Prefix;
use fib::{FibService, NextHop, RouteUpdate};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the writer task is told, in order.
enum Cmd {
    /// A piece of Loc-RIB changes, with the Loc-RIB's size (IPv4, IPv6 prefixes) then: the
    /// writer's table is grown to it at once rather than doubled piece by piece.
    Changes(Vec<FibChange>, (usize, usize)),
    /// The speaker converged: remove the adopted routes nothing claims.
    Converged(&'static str),
    /// Takeover on a shared kernel: adopt what is installed, make it the Loc-RIB's routes
    /// (given whole), and converge.
    TakeOver(Vec<FibChange>),
    /// Stop the writer (its thread too) after what was queued before; answer once stopped.
    Stop(oneshot::Sender<()>),
}

/// How the writer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FibStart {
    /// Adopt an earlier run's routes; remove those nothing claims at convergence, at the
    /// latest after the timeout.
    Adopt(Duration),
    /// Adopt nothing at start: the kernel is the primary's to write until
    /// [`FibBridge::take_over`] (a standby sharing it; the core submits no change meanwhile).
    Held,
}

/// The FIB writer task's inbox, and the pieces handed to it and not yet applied.
pub struct FibBridge {
    tx: mpsc::UnboundedSender<Cmd>,
    /// Tells this writer's [`CoreMsg::FibTaken`] from those of a writer stopped before.
    id: u64,
    in_flight: usize,
}

/// Pieces of changes handed to the writer and not yet applied, at most: one it applies, one
/// it finds waiting when it is done.
pub const PIECES_IN_FLIGHT: usize = 2;

/// Tells apart the writers started in this process.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn to_fib_prefix(p: Prefix) -> Option<fib::Prefix> {
    fib::Prefix::new(p.addr(), p.len()).ok()
}

fn to_updates(batch: &[FibChange]) -> Vec<RouteUpdate> {
    batch
        .iter()
        .filter_map(|c| match *c {
            FibChange::Install { prefix, next_hop } => {
                to_fib_prefix(prefix).map(|p| RouteUpdate::install(p, vec![NextHop::via(next_hop)]))
            }
            FibChange::Remove { prefix } => to_fib_prefix(prefix).map(RouteUpdate::withdraw),
        })
        .collect()
}

/// Routes installed per piece (and per call of the writer) at most. A full table goes to the
/// kernel in pieces, so that its [`FibChange`]s, [`RouteUpdate`]s (a next-hop list each) and
/// results are never all alive at once: about 140 octets a route, 140 MB for a million;
/// [`PIECES_IN_FLIGHT`] pieces of 16,384 routes hold about 5 MB. Withdrawals do not count,
/// so that a batch withdrawing every route of a next hop stays in one call (the writer then
/// deletes the nexthop object instead of each route).
pub const INSTALLS_PER_APPLY: usize = 1 << 14;

/// The changes of `batch` in pieces of at most [`INSTALLS_PER_APPLY`] installs, in order.
fn pieces(batch: &[FibChange]) -> impl Iterator<Item = &[FibChange]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut installs = 0;
        let n = rest
            .iter()
            .position(|c| {
                installs += usize::from(matches!(c, FibChange::Install { .. }));
                installs > INSTALLS_PER_APPLY
            })
            .unwrap_or(rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        Some(piece)
    })
}

/// The installs of `batch` (IPv4, IPv6).
fn installs(batch: &[FibChange]) -> (usize, usize) {
    batch.iter().fold((0, 0), |(v4, v6), c| match c {
        FibChange::Install {
            prefix: Prefix::V4(_),
            ..
        } => (v4 + 1, v6),
        FibChange::Install { .. } => (v4, v6 + 1),
        FibChange::Remove { .. } => (v4, v6),
    })
}

/// Applies `batch` piece by piece ([`pieces`]), the writer's table grown first to `size`
/// routes (IPv4, IPv6) in all when that is more than a piece; failures go back to the core.
async fn apply(
    service: &FibService,
    core: &mpsc::UnboundedSender<CoreMsg>,
    batch: &[FibChange],
    (v4, v6): (usize, usize),
) {
    if v4 + v6 > INSTALLS_PER_APPLY {
        // The writer's table grows once, now, rather than doubling piece by piece.
        if let Err(e) = service.reserve(v4, v6).await {
            tracing::error!("kernel FIB writer failed: {e}");
            return;
        }
    }
    for piece in pieces(batch) {
        match service.apply(to_updates(piece)).await {
            Ok(results) => report(core, results),
            Err(e) => {
                tracing::error!("kernel FIB writer failed: {e}");
                return;
            }
        }
    }
}

/// How many of `results` removed a route.
fn removed(results: &[fib::RouteResult]) -> usize {
    results
        .iter()
        .filter(|r| r.outcome == fib::Outcome::Removed)
        .count()
}

impl FibBridge {
    /// Opens the kernel FIB of the daemon's own network namespace and starts the writer.
    pub fn start(
        cfg: &FibConfig,
        start: FibStart,
        core: mpsc::UnboundedSender<CoreMsg>,
    ) -> anyhow::Result<Self> {
        let fib_cfg = fib::FibConfig {
            table: cfg.table,
            protocol: cfg.protocol,
            metric: cfg.metric,
            install: cfg.enabled,
            nexthop_objects: cfg.nexthop_objects,
        };
        let (table, protocol) = (cfg.table, cfg.protocol);
        let writer = fib::Fib::open(fib_cfg)?;
        let (service, mut results) = FibService::spawn(writer)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let core2 = core.clone();
        // Re-resolution results that arrive on their own (and the adopt deadline's removals).
        tokio::spawn(async move {
            while let Some(r) = results.recv().await {
                report(&core2, r);
            }
        });
        tokio::spawn(async move {
            if let FibStart::Adopt(timeout) = start {
                match service.adopt(Some(timeout)).await {
                    Ok(n) => tracing::info!(
                        routes = n,
                        table,
                        protocol,
                        "kernel FIB: adopted the routes an earlier run left; those no \
                         neighbour announces again are removed at convergence (End-of-RIB \
                         from every neighbour, at most {} s)",
                        timeout.as_secs()
                    ),
                    Err(e) => tracing::error!("kernel FIB: cannot adopt the routes in place: {e}"),
                }
            }
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Cmd::Changes(piece, loc_rib) => {
                        apply(&service, &core, &piece, loc_rib).await;
                        drop(piece);
                        // Room for the next piece.
                        let _ = core.send(CoreMsg::FibTaken(id));
                    }
                    Cmd::Converged(why) => match service.converged().await {
                        Ok(results) => {
                            tracing::info!(
                                removed = removed(&results),
                                "kernel FIB converged ({why}): adopted routes no best path \
                                 claims are removed"
                            );
                            report(&core, results);
                        }
                        Err(e) => tracing::error!("kernel FIB: convergence failed: {e}"),
                    },
                    Cmd::Stop(done) => {
                        // The writer's thread ends with the service; routes stay.
                        drop(service);
                        let _ = done.send(());
                        return;
                    }
                    Cmd::TakeOver(routes) => {
                        let wanted = routes.len();
                        let adopted = match service.adopt(None).await {
                            Ok(n) => n,
                            Err(e) => {
                                tracing::error!(
                                    "kernel FIB: cannot adopt the primary's routes: {e}"
                                );
                                0
                            }
                        };
                        apply(&service, &core, &routes, installs(&routes)).await;
                        match service.converged().await {
                            Ok(results) => {
                                tracing::info!(
                                    adopted,
                                    wanted,
                                    removed = removed(&results),
                                    "kernel FIB taken over from the primary (adopt mode)"
                                );
                                report(&core, results);
                            }
                            Err(e) => tracing::error!("kernel FIB: convergence failed: {e}"),
                        }
                    }
                }
            }
        });
        Ok(FibBridge {
            tx,
            id,
            in_flight: 0,
        })
    }

    /// True while the writer has fewer than [`PIECES_IN_FLIGHT`] pieces to apply.
    pub fn has_room(&self) -> bool {
        self.in_flight < PIECES_IN_FLIGHT
    }

    /// Queues a piece of changes (at most [`INSTALLS_PER_APPLY`] installs), with the
    /// Loc-RIB's size (IPv4, IPv6 prefixes) now.
    pub fn submit(&mut self, piece: Vec<FibChange>, loc_rib: (usize, usize)) {
        self.in_flight += 1;
        let _ = self.tx.send(Cmd::Changes(piece, loc_rib));
    }

    /// The writer `id` applied a piece ([`CoreMsg::FibTaken`]); another writer's answer (one
    /// stopped before) changes nothing.
    pub fn taken(&mut self, id: u64) {
        if id == self.id {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// The speaker converged (`why`, for the log): after the changes queued so far, the
    /// adopted routes that no best path claims are removed.
    pub fn converged(&self, why: &'static str) {
        let _ = self.tx.send(Cmd::Converged(why));
    }

    /// Stops the writer after every command queued before, and waits until its thread has
    /// ended: from then on nothing of this process touches the kernel FIB (not even the
    /// re-resolution of next hops on route changes). The routes stay.
    pub async fn stop(self) {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Cmd::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
    }

    /// Takeover on a kernel shared with the primary: adopts the primary's routes, makes them
    /// `routes` (the whole Loc-RIB, [`bgpd::rib::Rib::fib_routes`]) touching only those that
    /// differ, removes the rest, and writes the changes that follow.
    pub fn take_over(&self, routes: Vec<FibChange>) {
        let _ = self.tx.send(Cmd::TakeOver(routes));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn change(i: u32, install: bool) -> FibChange {
        let prefix = Prefix::new(IpAddr::V4(Ipv4Addr::from(i << 8)), 24).expect("a /24");
        if install {
            FibChange::Install {
                prefix,
                next_hop: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            }
        } else {
            FibChange::Remove { prefix }
        }
    }

    #[test]
    fn a_full_table_goes_in_pieces_of_at_most_the_install_limit_in_order() {
        let n = 2 * INSTALLS_PER_APPLY as u32 + 5;
        let batch: Vec<FibChange> = (0..n).map(|i| change(i, true)).collect();
        let sizes: Vec<usize> = pieces(&batch).map(<[FibChange]>::len).collect();
        assert_eq!(sizes, [INSTALLS_PER_APPLY, INSTALLS_PER_APPLY, 5]);
        let again: Vec<FibChange> = pieces(&batch).flatten().copied().collect();
        assert_eq!(again, batch);
    }

    #[test]
    fn withdrawals_do_not_count_so_a_mass_withdrawal_stays_in_one_piece() {
        let n = 3 * INSTALLS_PER_APPLY as u32;
        let batch: Vec<FibChange> = (0..n).map(|i| change(i, false)).collect();
        assert_eq!(pieces(&batch).count(), 1);
        let mixed: Vec<FibChange> = (0..n).map(|i| change(i, i % 2 == 0)).collect();
        let split: Vec<&[FibChange]> = pieces(&mixed).collect();
        assert_eq!(split.len(), 2);
        for p in &split {
            let installs = p
                .iter()
                .filter(|c| matches!(c, FibChange::Install { .. }))
                .count();
            assert!(installs <= INSTALLS_PER_APPLY, "{installs}");
        }
        assert!(pieces(&[]).next().is_none());
    }

    #[test]
    fn at_most_two_pieces_are_in_flight_and_only_this_writer_frees_room() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut bridge = FibBridge {
            tx,
            id: 7,
            in_flight: 0,
        };
        let piece = || vec![change(1, true)];
        let mut handed = 0;
        while bridge.has_room() {
            bridge.submit(piece(), (1, 0));
            handed += 1;
            assert!(handed <= PIECES_IN_FLIGHT, "no bound");
        }
        assert_eq!(handed, PIECES_IN_FLIGHT);
        // A writer stopped before answers late: no room for it.
        bridge.taken(6);
        assert!(!bridge.has_room());
        bridge.taken(7);
        assert!(bridge.has_room());
        bridge.submit(piece(), (1, 0));
        assert!(!bridge.has_room());
        let mut queued = 0;
        while let Ok(cmd) = rx.try_recv() {
            assert!(matches!(cmd, Cmd::Changes(ref p, (1, 0)) if p.len() == 1));
            queued += 1;
        }
        assert_eq!(queued, PIECES_IN_FLIGHT + 1);
    }
}
