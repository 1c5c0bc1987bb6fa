//! `GetHaStatus`: what the core knows at once ([`probe`], on the core task) completed with
//! what the checkpoint engines report ([`status`], awaited by the admin service).

use std::net::IpAddr;

use proto::admin as pb;
use ribsync::checkpoint::{FlowId, StandbyFlowView, SyncState};
use ribsync::ha::HaRole;
use ribsync::transport::{PrimaryHandle, StandbyHandle};
use std::collections::BTreeMap;

use bgpd::rib::{LocRibImage, PeerId};

use crate::core::{Core, HaRuntime, TakeoverSummary};

/// Why a standby shows a flow it follows as not protected when `[ha] protect` leaves its
/// neighbour out (selective backup).
pub const NOT_SELECTED: &str =
    "not in [ha] protect: followed for the Loc-RIB, not taken over (its session restarts)";

/// Why a standby does not protect `f` (empty: it does): left out by `[ha] protect`
/// (`protect`, empty for every neighbour), reported by the checkpoint engine, not
/// checkpointed yet, or the standby is not synchronised.
pub fn standby_flow_reason(protect: &[IpAddr], f: &StandbyFlowView, synchronised: bool) -> String {
    if !protect.is_empty() && !protect.contains(&peer_of(&f.flow)) {
        return NOT_SELECTED.into();
    }
    match (&f.unprotected, f.restored, synchronised) {
        (Some(why), _, _) => why.clone(),
        (None, false, _) => "not checkpointed yet".into(),
        (None, true, false) => "standby not synchronised".into(),
        (None, true, true) => String::new(),
    }
}

/// The core's part of the answer.
#[derive(Debug)]
pub struct HaProbe {
    role: &'static str,
    node_id: u32,
    primary_endpoint: String,
    primary: Option<PrimaryHandle>,
    standby: Option<StandbyHandle>,
    write_ahead_us_p50: u64,
    last_takeover: Option<TakeoverSummary>,
    loc_rib: LocRibDigest,
    /// `[ha] protect` (empty: every neighbour).
    protect: Vec<IpAddr>,
}

/// The Loc-RIB as the digest needs it, copied under the replica's lock (one pass, nothing
/// decoded), with the neighbours' addresses: [`LocRibDigest::compute`] hashes it once the
/// lock is released, off the core task. Hashing the decoded routes under the lock held
/// the core and the standby's checkpoint driver for about 2 s at 100,000 routes.
#[derive(Debug, Default)]
pub struct LocRibDigest {
    image: LocRibImage,
    addresses: BTreeMap<PeerId, IpAddr>,
}

impl LocRibDigest {
    /// Copies the Loc-RIB of `core`'s speaker (takes the replica's lock briefly).
    pub fn of(core: &Core) -> LocRibDigest {
        let g = core.lock();
        let speaker = g.speaker();
        LocRibDigest {
            image: speaker.rib().loc_rib_image(),
            addresses: speaker
                .peers()
                .into_iter()
                .map(|(id, address, _)| (id, address))
                .collect(),
        }
    }

    /// Loc-RIB routes.
    pub fn routes(&self) -> u64 {
        self.image.len() as u64
    }

    /// SHA-256 of the Loc-RIB (see [`LocRibImage::digest`]), on a blocking thread.
    pub async fn compute(self) -> Vec<u8> {
        let LocRibDigest { image, addresses } = self;
        tokio::task::spawn_blocking(move || image.digest(&addresses).to_vec())
            .await
            .unwrap_or_default()
    }
}

/// The node's role as `understudy info` and `understudy ha` both name it: `standalone`
/// (no `[ha]`), `primary` or `standby`.
pub fn role(core: &Core) -> &'static str {
    match &core.ha {
        HaRuntime::Standalone => "standalone",
        HaRuntime::Primary(_) => "primary",
        HaRuntime::Standby(_) => "standby",
    }
}

/// Reads what the core holds (on the core task).
pub fn probe(core: &Core) -> HaProbe {
    let node_id = core.ha_config.as_ref().map_or(0, |h| h.node_id);
    let mut p = HaProbe {
        role: role(core),
        node_id,
        primary_endpoint: String::new(),
        primary: None,
        standby: None,
        write_ahead_us_p50: 0,
        last_takeover: core.last_takeover,
        loc_rib: LocRibDigest::of(core),
        protect: core
            .ha_config
            .as_ref()
            .map(|h| h.protect.clone())
            .unwrap_or_default(),
    };
    match &core.ha {
        HaRuntime::Standalone => {}
        HaRuntime::Primary(side) => {
            p.primary = Some(side.handle.clone());
            p.write_ahead_us_p50 = side.latency.p50_us();
        }
        HaRuntime::Standby(side) => {
            p.primary_endpoint = side.primary();
            p.standby = side.handle();
        }
    }
    p
}

fn role_name(role: &HaRole) -> &'static str {
    match role {
        HaRole::Primary => "primary",
        HaRole::Standby { .. } => "standby",
        HaRole::Fencing => "fencing",
        HaRole::TakingOver => "taking_over",
        HaRole::AwaitingPrimary { .. } => "awaiting_primary",
        HaRole::Halted { .. } => "halted",
    }
}

fn peer_of(flow: &FlowId) -> IpAddr {
    flow.remote.ip()
}

/// The whole answer: asks the checkpoint engine for its standbys or flows.
pub async fn status(p: HaProbe) -> pb::HaStatus {
    let mut out = pb::HaStatus {
        role: p.role.to_string(),
        node_id: p.node_id,
        synchronised: false,
        connected: false,
        primary: p.primary_endpoint,
        standbys: Vec::new(),
        flows: Vec::new(),
        last_takeover: p.last_takeover.map(|t| pb::HaTakeover {
            takeover_ms: t.takeover_ms,
            sessions: t.sessions,
            failed: t.failed,
        }),
        loc_rib_routes: p.loc_rib.routes(),
        loc_rib_digest: p.loc_rib.compute().await,
        role_reason: String::new(),
    };
    if let Some(h) = p.primary {
        if let Ok((standbys, flows)) = h.views().await {
            out.standbys = standbys
                .into_iter()
                .map(|s| {
                    let synchronised = s.sync == SyncState::Synchronised;
                    pb::HaStandby {
                        node_id: s.node.0,
                        synchronised,
                        lag_bytes: s.lag_bytes,
                        lag_ms: s.lag_ms,
                        digests_matched: s.digests_matched,
                        digests_mismatched: s.digests_mismatched,
                        gap_fill_bytes: s.gap_fill_bytes,
                        write_ahead_us_p50: if synchronised {
                            p.write_ahead_us_p50
                        } else {
                            0
                        },
                        sync_state: match s.sync {
                            SyncState::Checkpointing {
                                acknowledged,
                                total,
                            } => format!("checkpointing {acknowledged}/{total}"),
                            SyncState::Resynchronising => "resynchronising".into(),
                            SyncState::Synchronised => "synchronised".into(),
                        },
                    }
                })
                .collect();
            out.flows = flows
                .into_iter()
                .map(|f| pb::HaFlow {
                    peer: peer_of(&f.flow).to_string(),
                    protected: f.protected(),
                    reason: if f.protected() {
                        String::new()
                    } else if f.unprotected_reasons.is_empty() {
                        "no standby".into()
                    } else {
                        f.unprotected_reasons.join("; ")
                    },
                })
                .collect();
        }
    }
    if let Some(h) = p.standby {
        let st = h.status().borrow().clone();
        out.role = role_name(&st.role).to_string();
        if let HaRole::Halted { reason } = &st.role {
            out.role_reason = reason.clone();
        }
        out.synchronised = st.synchronised;
        out.connected = st.connected;
        if let Ok(flows) = h.flow_views().await {
            out.flows = flows
                .into_iter()
                .map(|f| {
                    let reason = standby_flow_reason(&p.protect, &f, st.synchronised);
                    pb::HaFlow {
                        peer: peer_of(&f.flow).to_string(),
                        protected: reason.is_empty(),
                        reason,
                    }
                })
                .collect();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(peer: [u8; 4], restored: bool, unprotected: Option<&str>) -> StandbyFlowView {
        StandbyFlowView {
            flow: FlowId {
                local: std::net::SocketAddr::from(([192, 0, 2, 254], 179)),
                remote: std::net::SocketAddr::from((peer, 40_000)),
            },
            restored,
            fed_to: 0,
            egress_backlog: 0,
            unprotected: unprotected.map(str::to_string),
        }
    }

    #[test]
    fn selective_backup_shows_the_flows_left_out_with_the_reason() {
        let protect: Vec<IpAddr> = vec![[192, 0, 2, 11].into()];
        let kept = view([192, 0, 2, 11], true, None);
        let left = view([192, 0, 2, 12], true, None);
        assert_eq!(standby_flow_reason(&protect, &kept, true), "");
        assert_eq!(standby_flow_reason(&protect, &left, true), NOT_SELECTED);
        // Left out wins over any other reason; every flow is protected without the key.
        let broken = view([192, 0, 2, 12], false, Some("gap"));
        assert_eq!(standby_flow_reason(&protect, &broken, false), NOT_SELECTED);
        assert_eq!(standby_flow_reason(&[], &left, true), "");
        assert_eq!(standby_flow_reason(&[], &broken, true), "gap");
        assert_eq!(
            standby_flow_reason(&[], &view([192, 0, 2, 12], false, None), true),
            "not checkpointed yet"
        );
        assert_eq!(
            standby_flow_reason(&protect, &kept, false),
            "standby not synchronised"
        );
    }
}
