//! The admin subcommands: each asks bgpd over gRPC and prints a human table, or with
//! `--json` one JSON document (for `rib` and `watch`: JSON lines, one object per route or
//! event, so a full table streams without sitting in memory).

use std::net::IpAddr;

use anyhow::Context;
use bgpd::config::special::originated_route;
use bgpd::wire::Prefix;
use clap::{Args, ValueEnum};
use proto::admin as pb;
use serde_json::{json, Value};

use crate::client::{connect, Admin};

/// Which soft reset to ask for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Soft {
    /// Re-import: ROUTE-REFRESH to the neighbour (RFC 2918) or re-evaluation of Adj-RIB-In.
    In,
    /// Resend the Adj-RIB-Out.
    Out,
}

/// Address families of `rib --afi`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Afi {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

/// Arguments of `understudy rib`.
#[derive(Debug, Args)]
pub struct RibArgs {
    /// Show the Adj-RIB-In of this neighbour instead of the Loc-RIB.
    #[arg(long = "in", value_name = "PEER", conflicts_with = "out")]
    pub adj_in: Option<IpAddr>,
    /// Show the Adj-RIB-Out of this neighbour instead of the Loc-RIB.
    #[arg(long = "out", value_name = "PEER")]
    pub out: Option<IpAddr>,
    /// Only this address family.
    #[arg(long)]
    pub afi: Option<Afi>,
    /// Only routes equal to or more specific than this prefix.
    pub prefix: Option<String>,
}

/// Arguments of `understudy route add`.
#[derive(Debug, Args)]
pub struct RouteAddArgs {
    /// The prefix to originate, e.g. 203.0.113.0/24 or 2001:db8:1::/48; host bits must be
    /// zero (203.0.113.1/24 is refused).
    pub prefix: String,
    /// The next hop to announce to internal (iBGP) neighbours, of the prefix's family (IPv4
    /// for an IPv4 prefix, IPv6 for an IPv6 one). Default: next hop self, bgpd's address on
    /// each session. External neighbours always get next hop self (RFC 4271 section 5.1.3)
    /// unless an export policy sets one.
    #[arg(long, value_name = "ADDRESS")]
    pub next_hop: Option<IpAddr>,
}

/// A request to the daemon, parsed from the command line.
#[derive(Debug)]
pub enum Request {
    /// `info`.
    Info,
    /// `neighbors`.
    Neighbors,
    /// `neighbor ADDR`.
    Neighbor(IpAddr),
    /// `rib`.
    Rib(RibArgs),
    /// `route add`.
    RouteAdd(RouteAddArgs),
    /// `route del`.
    RouteDel(String),
    /// `reset ADDR [--soft in|out]`.
    Reset(IpAddr, Option<Soft>),
    /// `enable ADDR`.
    Enable(IpAddr),
    /// `disable ADDR [--message TEXT]`.
    Disable(IpAddr, Option<String>),
    /// `watch`.
    Watch,
    /// `reload`.
    Reload,
    /// `ha`.
    Ha,
    /// `switchover [--to NODE_ID]`.
    Switchover(Option<u32>),
}

impl Request {
    /// Checks the arguments that need no daemon, with the functions bgpd's admin API checks
    /// them with, so that a bad one is said (exit status 2) whether or not bgpd runs:
    /// `route add`'s prefix and next hop ([`originated_route`]), `route del`'s prefix, `rib`'s
    /// prefix filter. Returns what a good argument probably does not mean (`route add` of
    /// the default route or of other special space), to be said before connecting.
    ///
    /// Errors: why not, as [`crate::BadInput`].
    pub fn check(&self) -> Result<Option<String>, crate::BadInput> {
        let checked = match self {
            Request::RouteAdd(r) => {
                return originated_route(&r.prefix, r.next_hop)
                    .map(|(_, warning)| warning)
                    .map_err(crate::BadInput);
            }
            Request::RouteDel(prefix) => Prefix::parse_exact(prefix.trim())
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Request::Rib(RibArgs {
                prefix: Some(p), ..
            }) if !p.trim().is_empty() => p
                .trim()
                .parse::<Prefix>()
                .map(|_| ())
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        };
        checked.map(|()| None).map_err(crate::BadInput)
    }
}

/// Runs one request against the daemon at `addr` (from `from`: `--admin` or
/// `UNDERSTUDY_ADMIN`), once its arguments are checked ([`Request::check`]).
pub fn run(
    addr: &str,
    from: &str,
    tls: &crate::client::TlsArgs,
    json: bool,
    req: Request,
) -> anyhow::Result<()> {
    // What the arguments alone say is said before the daemon is looked for, so that it is
    // said whether or not the daemon answers.
    let warning = req.check()?;
    if let Some(what) = &warning {
        eprintln!("understudy: warning: {what}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let mut admin = connect(addr, from, tls).await?;
        dispatch(&mut admin, json, req).await
    })
}

/// `understudy ha --json`: the object of /work/coord/ha-contract.md (plus the Loc-RIB
/// digest and size, for comparing nodes). `connected`, `synchronised` and `primary` are a
/// follower's view of its primary: null on a node that follows none (a primary, whose
/// standbys and their state are in `standbys`, or a standalone node).
pub fn ha_json(h: &pb::HaStatus) -> Value {
    let follower = !matches!(h.role.as_str(), "primary" | "standalone");
    let of_follower = |v: Value| if follower { v } else { Value::Null };
    json!({
        "role": h.role,
        "role_reason": h.role_reason,
        "node_id": h.node_id,
        "synchronised": of_follower(json!(h.synchronised)),
        "connected": of_follower(json!(h.connected)),
        "primary": of_follower(json!(h.primary)),
        "standbys": h.standbys.iter().map(|s| json!({
            "node_id": s.node_id, "synchronised": s.synchronised, "sync_state": s.sync_state,
            "lag_bytes": s.lag_bytes, "lag_ms": s.lag_ms,
            "digests_matched": s.digests_matched, "digests_mismatched": s.digests_mismatched,
            "write_ahead_us_p50": s.write_ahead_us_p50,
            "gap_fill_bytes": s.gap_fill_bytes,
        })).collect::<Vec<_>>(),
        "flows": h.flows.iter().map(|f| json!({
            "peer": f.peer, "protected": f.protected, "reason": f.reason,
        })).collect::<Vec<_>>(),
        "last_takeover": h.last_takeover.as_ref().map(|t| json!({
            "takeover_ms": t.takeover_ms, "sessions": t.sessions, "failed": t.failed,
        })),
        "loc_rib_routes": h.loc_rib_routes,
        "loc_rib_digest": hex::encode(&h.loc_rib_digest),
    })
}

/// `understudy ha` as a table: the role, then (on a primary) its standbys, `none` when no
/// standby is attached, then the sessions and whether a standby protects them.
fn ha_text(h: &pb::HaStatus) -> String {
    use std::fmt::Write;
    // Writing to a String cannot fail: the results are dropped.
    let mut o = String::new();
    if h.role_reason.is_empty() {
        let _ = writeln!(o, "role            {}", h.role);
    } else {
        let _ = writeln!(o, "role            {} ({})", h.role, h.role_reason);
    }
    let _ = writeln!(o, "node id         {}", h.node_id);
    if h.role != "primary" && h.role != "standalone" {
        let _ = writeln!(o, "primary         {}", h.primary);
        let _ = writeln!(o, "connected       {}", h.connected);
        let _ = writeln!(o, "synchronised    {}", h.synchronised);
    }
    let _ = writeln!(o, "Loc-RIB routes  {}", h.loc_rib_routes);
    let _ = writeln!(o, "Loc-RIB digest  {}", hex::encode(&h.loc_rib_digest));
    if let Some(t) = &h.last_takeover {
        let _ = writeln!(
            o,
            "last takeover   {:.1} ms, {} sessions, {} failed",
            t.takeover_ms, t.sessions, t.failed
        );
    }
    if h.standbys.is_empty() {
        if h.role == "primary" {
            let _ = writeln!(o, "standbys        none");
        }
    } else {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<8} {:<18} {:>10} {:>8} {:>8} {:>10} {:>8}",
            "STANDBY", "STATE", "LAG-BYTES", "LAG-MS", "MATCHED", "MISMATCHED", "WAL-P50"
        );
        for s in &h.standbys {
            let _ = writeln!(
                o,
                "{:<8} {:<18} {:>10} {:>8} {:>8} {:>10} {:>6}us",
                s.node_id,
                s.sync_state,
                s.lag_bytes,
                s.lag_ms,
                s.digests_matched,
                s.digests_mismatched,
                s.write_ahead_us_p50
            );
        }
    }
    if !h.flows.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "{:<40} {:<10} REASON", "SESSION", "PROTECTED");
        for f in &h.flows {
            let _ = writeln!(
                o,
                "{:<40} {:<10} {}",
                f.peer,
                if f.protected { "yes" } else { "no" },
                f.reason
            );
        }
    }
    o
}

async fn dispatch(a: &mut Admin, json: bool, req: Request) -> anyhow::Result<()> {
    match req {
        Request::Ha => {
            let h = a
                .client
                .get_ha_status(pb::GetHaStatusRequest {})
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            if json {
                print_json(&ha_json(&h));
            } else {
                print!("{}", ha_text(&h));
            }
        }
        Request::Info => {
            let i = a
                .client
                .get_info(pb::GetInfoRequest {})
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            if json {
                print_json(&json!({
                    "version": i.version, "role": i.role, "router_id": i.router_id,
                    "local_as": i.local_as, "loc_rib_routes": i.loc_rib_routes,
                    "prefixes": i.prefixes, "uptime_ms": i.uptime_ms,
                }));
            } else {
                println!("version         {}", i.version);
                println!("role            {}", i.role);
                println!("router id       {}", i.router_id);
                println!("local AS        {}", i.local_as);
                println!("Loc-RIB routes  {}", i.loc_rib_routes);
                println!("prefixes        {}", i.prefixes);
                println!("uptime          {}", duration(i.uptime_ms));
            }
        }
        Request::Neighbors => {
            let list = a
                .client
                .list_neighbors(pb::ListNeighborsRequest {})
                .await
                .map_err(|s| a.status(s))?
                .into_inner()
                .neighbors;
            if json {
                print_json(&Value::Array(list.iter().map(neighbor_json).collect()));
            } else {
                neighbors_table(&list);
            }
        }
        Request::Neighbor(addr) => {
            let n = a
                .client
                .get_neighbor(pb::GetNeighborRequest {
                    address: addr.to_string(),
                })
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            if json {
                print_json(&neighbor_json(&n));
            } else {
                neighbor_detail(&n);
            }
        }
        Request::Rib(r) => rib(a, json, r).await?,
        Request::RouteAdd(r) => {
            let mut ack = a
                .client
                .add_route(pb::AddRouteRequest {
                    prefix: r.prefix,
                    next_hop: r.next_hop.map(|h| h.to_string()).unwrap_or_default(),
                })
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            if !json {
                // The warning was said before connecting (`run`), from the same check.
                if let Some(i) = ack.message.find(" (warning: ") {
                    ack.message.truncate(i);
                }
            }
            ack_out(json, &ack);
        }
        Request::RouteDel(prefix) => {
            let ack = a
                .client
                .delete_route(pb::DeleteRouteRequest { prefix })
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            ack_out(json, &ack);
        }
        Request::Reset(addr, soft) => {
            let kind = match soft {
                None => pb::ResetKind::Hard,
                Some(Soft::In) => pb::ResetKind::SoftIn,
                Some(Soft::Out) => pb::ResetKind::SoftOut,
            };
            let ack = a
                .client
                .reset_neighbor(pb::ResetNeighborRequest {
                    address: addr.to_string(),
                    kind: kind as i32,
                })
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            ack_out(json, &ack);
        }
        Request::Enable(addr) => {
            let ack = a
                .client
                .enable_neighbor(pb::NeighborRequest {
                    address: addr.to_string(),
                })
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            ack_out(json, &ack);
        }
        Request::Disable(addr, communication) => {
            let ack = a
                .client
                .disable_neighbor(pb::DisableNeighborRequest {
                    address: addr.to_string(),
                    communication: communication.unwrap_or_default(),
                })
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            ack_out(json, &ack);
        }
        Request::Watch => {
            let mut stream = a
                .client
                .watch_events(pb::WatchEventsRequest {})
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            while let Some(e) = stream
                .message()
                .await
                .map_err(|s| a.stream_broken("the watch", s))?
            {
                if json {
                    print_json(&json!({
                        "time_ms": e.time_ms, "neighbor": e.neighbor,
                        "kind": e.kind, "text": e.text,
                    }));
                } else {
                    println!(
                        "{:>12}  {:<24} {:<22} {}",
                        duration(e.time_ms),
                        e.neighbor,
                        e.kind,
                        e.text
                    );
                }
            }
            // The stream has no end of its own: bgpd closed it.
            anyhow::bail!(
                "the bgpd admin API at {} ended the watch: bgpd stopped or restarted",
                a.addr
            );
        }
        Request::Switchover(to) => {
            let r = a
                .client
                .switchover(pb::SwitchoverRequest { to })
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            if json {
                print_json(&json!({
                    "node_id": r.node_id, "endpoint": r.endpoint, "sessions": r.sessions,
                    "stopped_ms": r.stopped_ms, "message": r.message,
                }));
            } else {
                println!("{}", r.message);
            }
        }
        Request::Reload => {
            let ack = a
                .client
                .reload(pb::ReloadRequest {})
                .await
                .map_err(|s| a.status(s))?
                .into_inner();
            ack_out(json, &ack);
        }
    }
    Ok(())
}

async fn rib(a: &mut Admin, json: bool, r: RibArgs) -> anyhow::Result<()> {
    let (table, neighbor) = match (r.adj_in, r.out) {
        (Some(p), _) => (pb::Table::AdjRibIn, p.to_string()),
        (None, Some(p)) => (pb::Table::AdjRibOut, p.to_string()),
        (None, None) => (pb::Table::LocRib, String::new()),
    };
    let afi = match r.afi {
        None => "",
        Some(Afi::Ipv4) => "ipv4",
        Some(Afi::Ipv6) => "ipv6",
    };
    let mut stream = a
        .client
        .list_routes(pb::ListRoutesRequest {
            table: table as i32,
            neighbor,
            afi: afi.to_string(),
            prefix: r.prefix.unwrap_or_default(),
        })
        .await
        .map_err(|s| a.status(s))?
        .into_inner();
    if !json {
        println!(
            "   {:<24} {:<20} {:<26} {:>6} {:>6}  {:<4} AS path",
            "prefix", "neighbor", "next hop", "lpref", "med", "orig"
        );
    }
    while let Some(route) = stream
        .message()
        .await
        .map_err(|s| a.stream_broken("the route listing", s))?
    {
        if json {
            print_json(&route_json(&route));
        } else {
            let flags = format!(
                "{}{}",
                if route.best { '*' } else { ' ' },
                if route.stale { 'S' } else { ' ' }
            );
            println!(
                "{flags} {:<24} {:<20} {:<26} {:>6} {:>6}  {:<4} {}",
                route.prefix,
                if route.neighbor.is_empty() {
                    "local"
                } else {
                    &route.neighbor
                },
                if route.next_hop.is_empty() {
                    "self"
                } else {
                    &route.next_hop
                },
                opt(route.local_pref),
                opt(route.med),
                route.origin,
                route.as_path
            );
        }
    }
    Ok(())
}

fn print_json(v: &Value) {
    println!("{v}");
}

fn ack_out(json: bool, ack: &pb::Ack) {
    if json {
        print_json(&json!({ "ok": true, "message": ack.message }));
    } else if ack.message.is_empty() {
        println!("ok");
    } else {
        println!("{}", ack.message);
    }
}

fn opt(v: Option<u32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// Milliseconds as `1d02h03m04s`.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m{s:02}s")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// One route of `rib --json`. `neighbor` is null for a route this node originates (a
/// `[[network]]` or `route add`), `next_hop` null when it is next hop self (bgpd's own
/// address on each session): the JSON says "none" rather than an empty string.
fn route_json(r: &pb::Route) -> Value {
    let or_null = |s: &str| {
        if s.is_empty() {
            Value::Null
        } else {
            json!(s)
        }
    };
    json!({
        "prefix": r.prefix, "neighbor": or_null(&r.neighbor), "next_hop": or_null(&r.next_hop),
        "as_path": r.as_path, "origin": r.origin, "local_pref": r.local_pref,
        "med": r.med, "communities": r.communities,
        "large_communities": r.large_communities, "best": r.best,
        "stale": r.stale, "accepted": r.accepted,
    })
}

fn neighbor_json(n: &pb::Neighbor) -> Value {
    let negotiated = n.negotiated.as_ref().map(|g| {
        json!({
            "remote_as": g.remote_as, "remote_id": g.remote_id, "hold_time": g.hold_time,
            "keepalive_ms": g.keepalive_ms, "four_octet_as": g.four_octet_as,
            "route_refresh": g.route_refresh,
            "enhanced_route_refresh": g.enhanced_route_refresh,
            "extended_message": g.extended_message, "families": g.families,
            "add_path_receive": g.add_path_receive, "add_path_send": g.add_path_send,
            "graceful_restart": g.graceful_restart,
        })
    });
    json!({
        "address": n.address, "remote_as": n.remote_as, "description": n.description,
        "state": n.state, "admin_up": n.admin_up, "ibgp": n.ibgp,
        "uptime_ms": n.uptime_ms, "established_transitions": n.established_transitions,
        "messages_in": n.messages_in, "messages_out": n.messages_out,
        "updates_in": n.updates_in, "prefixes_received": n.prefixes_received,
        "prefixes_accepted": n.prefixes_accepted, "prefixes_sent": n.prefixes_sent,
        "negotiated": negotiated, "last_error": n.last_error,
        "stale_families": n.stale_families,
    })
}

fn neighbors_table(list: &[pb::Neighbor]) {
    println!(
        "{:<26} {:>10} {:<12} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "neighbor", "AS", "state", "up", "msg in", "msg out", "pfx rcv", "pfx snt"
    );
    for n in list {
        let state = if n.admin_up {
            n.state.clone()
        } else {
            format!("{} (down)", n.state)
        };
        println!(
            "{:<26} {:>10} {:<12} {:>10} {:>8} {:>8} {:>8} {:>8}",
            n.address,
            n.remote_as,
            state,
            duration(n.uptime_ms),
            n.messages_in,
            n.messages_out,
            n.prefixes_received,
            n.prefixes_sent
        );
    }
}

fn neighbor_detail(n: &pb::Neighbor) {
    println!("neighbor            {}", n.address);
    println!(
        "remote AS           {} ({})",
        n.remote_as,
        if n.ibgp { "iBGP" } else { "eBGP" }
    );
    if !n.description.is_empty() {
        println!("description         {}", n.description);
    }
    println!(
        "state               {}{}",
        n.state,
        if n.admin_up { "" } else { " (disabled)" }
    );
    println!("uptime              {}", duration(n.uptime_ms));
    println!("established         {} times", n.established_transitions);
    println!(
        "messages            {} in ({} UPDATE), {} out",
        n.messages_in, n.updates_in, n.messages_out
    );
    println!(
        "prefixes            {} received, {} accepted, {} sent",
        n.prefixes_received, n.prefixes_accepted, n.prefixes_sent
    );
    if let Some(g) = &n.negotiated {
        println!("remote id           {}", g.remote_id);
        println!(
            "hold time           {} s (keepalive {} ms)",
            g.hold_time, g.keepalive_ms
        );
        println!("families            {}", g.families.join(", "));
        let mut caps = Vec::new();
        for (on, name) in [
            (g.four_octet_as, "four-octet-as"),
            (g.route_refresh, "route-refresh"),
            (g.enhanced_route_refresh, "enhanced-route-refresh"),
            (g.extended_message, "extended-message"),
            (g.graceful_restart, "graceful-restart"),
        ] {
            if on {
                caps.push(name);
            }
        }
        println!("capabilities        {}", caps.join(", "));
        if !g.add_path_receive.is_empty() || !g.add_path_send.is_empty() {
            println!(
                "ADD-PATH            receive {}; send {}",
                g.add_path_receive.join(","),
                g.add_path_send.join(",")
            );
        }
    }
    if !n.stale_families.is_empty() {
        println!("stale families      {}", n.stale_families.join(", "));
    }
    if !n.last_error.is_empty() {
        println!("last error          {}", n.last_error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha_json_carries_the_standby_sync_state_the_table_shows() {
        let h = pb::HaStatus {
            role: "primary".into(),
            node_id: 1,
            standbys: vec![pb::HaStandby {
                node_id: 2,
                synchronised: false,
                sync_state: "checkpointing 3/10".into(),
                lag_bytes: 40,
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = ha_json(&h);
        assert_eq!(v["standbys"][0]["sync_state"], "checkpointing 3/10");
        assert_eq!(v["standbys"][0]["synchronised"], false);
        assert_eq!(v["standbys"][0]["lag_bytes"], 40);
    }

    #[test]
    fn a_lone_primary_says_it_has_no_standby() {
        let lone = pb::HaStatus {
            role: "primary".into(),
            node_id: 1,
            ..Default::default()
        };
        let text = ha_text(&lone);
        assert!(text.contains("\nstandbys        none\n"), "{text}");
        assert_eq!(ha_json(&lone)["standbys"], json!([]));
        let with = pb::HaStatus {
            standbys: vec![pb::HaStandby {
                node_id: 2,
                sync_state: "synchronised".into(),
                ..Default::default()
            }],
            ..lone
        };
        let text = ha_text(&with);
        assert!(!text.contains("none"), "{text}");
        assert!(text.contains("\n2        synchronised"), "{text}");
        // A standby has no standbys of its own to speak of.
        let standby = pb::HaStatus {
            role: "standby".into(),
            ..Default::default()
        };
        assert!(!ha_text(&standby).contains("standbys"));
    }

    #[test]
    fn a_primary_shows_its_standbys_not_a_followers_fields() {
        // What bgpd sends a primary's CLI: the follower fields at their zero values.
        let primary = pb::HaStatus {
            role: "primary".into(),
            node_id: 1,
            standbys: vec![pb::HaStandby {
                node_id: 2,
                synchronised: true,
                sync_state: "synchronised".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = ha_json(&primary);
        assert_eq!(v["role"], "primary");
        for key in ["connected", "synchronised", "primary"] {
            assert!(v[key].is_null(), "{key} on a primary: {v}");
        }
        assert_eq!(v["standbys"][0]["node_id"], 2);
        assert_eq!(v["standbys"][0]["synchronised"], true);
        assert_eq!(v["standbys"][0]["sync_state"], "synchronised");
        let standalone = ha_json(&pb::HaStatus {
            role: "standalone".into(),
            ..Default::default()
        });
        assert!(standalone["connected"].is_null(), "{standalone}");
        // A standby keeps its view of its primary, false included.
        let standby = ha_json(&pb::HaStatus {
            role: "standby".into(),
            primary: "http://192.0.2.254:50052".into(),
            connected: true,
            synchronised: false,
            ..Default::default()
        });
        assert_eq!(standby["connected"], true);
        assert_eq!(standby["synchronised"], false);
        assert_eq!(standby["primary"], "http://192.0.2.254:50052");
    }

    #[test]
    fn a_local_route_has_null_neighbour_and_next_hop_in_json() {
        let local = route_json(&pb::Route {
            prefix: "203.0.113.0/24".into(),
            ..Default::default()
        });
        assert!(local["neighbor"].is_null(), "{local}");
        assert!(local["next_hop"].is_null(), "{local}");
        let learned = route_json(&pb::Route {
            prefix: "203.0.113.0/24".into(),
            neighbor: "192.0.2.2".into(),
            next_hop: "192.0.2.2".into(),
            ..Default::default()
        });
        assert_eq!(learned["neighbor"], "192.0.2.2");
        assert_eq!(learned["next_hop"], "192.0.2.2");
    }

    #[test]
    fn ha_json_says_why_a_node_halted() {
        let h = pb::HaStatus {
            role: "halted".into(),
            role_reason: "takeover failed: cannot add 192.0.2.1/24".into(),
            ..Default::default()
        };
        let v = ha_json(&h);
        assert_eq!(v["role"], "halted");
        assert_eq!(v["role_reason"], "takeover failed: cannot add 192.0.2.1/24");
        assert_eq!(ha_json(&pb::HaStatus::default())["role_reason"], "");
    }
}
