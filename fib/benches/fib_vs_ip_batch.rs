//! Install then remove 1,000,000 IPv4 and 220,000 IPv6 routes with `fib::Fib` and,
//! in the same run and the same namespace, with `ip -batch` doing the same work
//! (batch files generated before timing). Prints routes/s for both and the ratio,
//! for fib in both modes: routes carrying their gateways (`nexthop_objects = false`,
//! the fallback on kernels without nexthop objects), and routes through kernel
//! nexthop objects (the default; there the removal of every route of an object is
//! one RTM_DELNEXTHOP).
//!
//! Needs root; runs in a namespace of its own (`usfib-bench-PID`, the prefix taken
//! from `FIB_TEST_NETNS_PREFIX` when set; removed at the end) with one veth pair. Run:
//!
//! ```text
//! cargo bench -p fib --bench fib_vs_ip_batch
//! FIB_BENCH_V4=200000 FIB_BENCH_V6=50000 cargo bench -p fib --bench fib_vs_ip_batch
//! FIB_BENCH_BATCH=256,8 FIB_BENCH_NO_IP=1 FIB_BENCH_ONLY=plain cargo bench -p fib --bench fib_vs_ip_batch
//! ```
//!
//! The IPv6 prefixes are /56s inside 2001:db8::/32. A million distinct IPv4 prefixes
//! do not fit in the documentation ranges: the IPv4 prefixes are /24s counted up from
//! 16.0.0.0, installed only in the benchmark's isolated namespace, which has no link
//! to anything outside it and sends no traffic. Next hops are 192.0.2.2 and
//! 2001:db8:ffff::2 on the veth.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use fib::{Fib, FibConfig, NextHop, Outcome, Prefix, RouteUpdate};

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(ns: &str, args: &str) {
    let ok = Command::new("ip")
        .args(["-n", ns])
        .args(args.split_whitespace())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ip -n {ns} {args} failed");
}

fn prefixes_v4(n: usize) -> Vec<Prefix> {
    (0..n as u32)
        .map(|i| {
            Prefix::new(IpAddr::V4(Ipv4Addr::from((16u32 << 24) + (i << 8))), 24)
                .expect("valid /24")
        })
        .collect()
}

fn prefixes_v6(n: usize) -> Vec<Prefix> {
    (0..n as u128)
        .map(|i| {
            let base: u128 = 0x2001_0db8 << 96;
            Prefix::new(IpAddr::V6(Ipv6Addr::from(base | (i << 72))), 56).expect("valid /56")
        })
        .collect()
}

fn batch_file(dir: &std::path::Path, name: &str, lines: impl Iterator<Item = String>) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create batch"));
    for l in lines {
        writeln!(f, "{l}").expect("write batch");
    }
    f.flush().expect("flush batch");
    path
}

/// CPU seconds (user + system) used so far by `who` (RUSAGE_THREAD: the calling
/// thread, where fib does its work and the kernel processes its requests;
/// RUSAGE_CHILDREN: the children waited for, i.e. `ip -batch`). Unlike wall-clock
/// time, it does not count the time other processes held the CPUs.
fn cpu_s(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes one rusage into the zeroed value we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `ru` is valid for writes.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Wall-clock and CPU seconds of one `ip -batch` run.
fn time_ip_batch(ns: &str, file: &std::path::Path) -> (f64, f64) {
    let cpu = cpu_s(libc::RUSAGE_CHILDREN);
    let t = Instant::now();
    let st = Command::new("ip")
        .args(["-n", ns, "-batch"])
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .expect("run ip -batch");
    let dt = t.elapsed().as_secs_f64();
    assert!(st.success(), "ip -batch {} failed", file.display());
    (dt, cpu_s(libc::RUSAGE_CHILDREN) - cpu)
}

struct Row {
    family: &'static str,
    routes: usize,
    op: &'static str,
    ip_s: f64,
    fib_s: f64,
    nh_s: f64,
    ip_cpu: f64,
    fib_cpu: f64,
    nh_cpu: f64,
}

/// Prints one Markdown table of `rows`: routes/s of `ip -batch`, plain fib and fib with
/// nexthop objects from the seconds `secs` picks (wall or CPU), with the ratios to `ip -batch`.
fn print_rates(rows: &[Row], columns: &str, secs: impl Fn(&Row) -> (f64, f64, f64)) {
    println!("| family | routes | operation | {columns} | ratio |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let (ip, fib, nh) = secs(r);
        let rate = |s: f64| r.routes as f64 / s;
        println!(
            "| {} | {} | {} | {:.0} ({ip:.2} s) | {:.0} ({fib:.2} s) | {:.2}x | {:.0} ({nh:.2} s) | {:.2}x |",
            r.family,
            r.routes,
            r.op,
            rate(ip),
            rate(fib),
            rate(fib) / rate(ip),
            rate(nh),
            rate(nh) / rate(ip),
        );
    }
}

/// family, routes, adopt s, re-apply s (plain), adopt s, re-apply s (nexthop objects)
type Takeover = (&'static str, usize, f64, f64, f64, f64);

#[allow(clippy::too_many_arguments)] // one call site, all of it the run's setup
fn run_family(
    ns: &str,
    fib: &mut Fib,
    fib_nh: &mut Fib,
    dir: &std::path::Path,
    family: &'static str,
    prefixes: &[Prefix],
    gw: IpAddr,
    rows: &mut Vec<Row>,
    takeovers: &mut Vec<Takeover>,
) {
    let n = prefixes.len();
    let add = batch_file(
        dir,
        &format!("{family}-add.batch"),
        prefixes
            .iter()
            .map(|p| format!("route add {p} via {gw} dev veth0 proto 186 metric 20")),
    );
    let del = batch_file(
        dir,
        &format!("{family}-del.batch"),
        prefixes
            .iter()
            .map(|p| format!("route del {p} proto 186 metric 20")),
    );
    let installs: Vec<RouteUpdate> = prefixes
        .iter()
        .map(|p| RouteUpdate::install(*p, vec![NextHop::via(gw)]))
        .collect();
    let withdraws: Vec<RouteUpdate> = prefixes.iter().map(|p| RouteUpdate::withdraw(*p)).collect();

    // FIB_BENCH_NO_IP=1 skips the `ip -batch` side (for profiling fib alone).
    let (ip_add, ip_del) = if std::env::var_os("FIB_BENCH_NO_IP").is_some() {
        ((f64::NAN, f64::NAN), (f64::NAN, f64::NAN))
    } else {
        let ip_add = time_ip_batch(ns, &add);
        assert_eq!(
            fib.kernel_routes().expect("dump").len(),
            n,
            "ip -batch installed all"
        );
        let ip_del = time_ip_batch(ns, &del);
        assert_eq!(
            fib.kernel_routes().expect("dump").len(),
            0,
            "ip -batch removed all"
        );
        (ip_add, ip_del)
    };

    let open = |nexthop_objects| {
        move || {
            Fib::open_in_netns(
                &PathBuf::from(format!("/run/netns/{ns}")),
                FibConfig {
                    nexthop_objects,
                    ..FibConfig::default()
                },
            )
            .expect("open fib")
        }
    };
    // FIB_BENCH_ONLY=plain or =nh runs one mode of fib (for profiling).
    let only = std::env::var("FIB_BENCH_ONLY").unwrap_or_default();
    let skipped = || FibTimes {
        add: f64::NAN,
        del: f64::NAN,
        add_cpu: f64::NAN,
        del_cpu: f64::NAN,
        adopt: f64::NAN,
        reapply: f64::NAN,
    };
    let plain = if only == "nh" {
        skipped()
    } else {
        time_fib(fib, &open(false), &installs, &withdraws, n)
    };
    let nh = if only == "plain" {
        skipped()
    } else {
        time_fib(fib_nh, &open(true), &installs, &withdraws, n)
    };
    takeovers.push((family, n, plain.adopt, plain.reapply, nh.adopt, nh.reapply));
    let (fib_add, fib_del, nh_add, nh_del) = (plain.add, plain.del, nh.add, nh.del);
    rows.push(Row {
        family,
        routes: n,
        op: "install",
        ip_s: ip_add.0,
        fib_s: fib_add,
        nh_s: nh_add,
        ip_cpu: ip_add.1,
        fib_cpu: plain.add_cpu,
        nh_cpu: nh.add_cpu,
    });
    rows.push(Row {
        family,
        routes: n,
        op: "remove",
        ip_s: ip_del.0,
        fib_s: fib_del,
        nh_s: nh_del,
        ip_cpu: ip_del.1,
        fib_cpu: plain.del_cpu,
        nh_cpu: nh.del_cpu,
    });
}

/// Installs then withdraws every route with `fib`; the two durations in seconds.
/// Seconds taken by one fib mode: install, remove, and in between the takeover by a
/// fresh writer: adopt (dump and parse), re-apply of the unchanged table, converged.
struct FibTimes {
    add: f64,
    del: f64,
    /// CPU seconds of the install and of the removal (see [`cpu_s`]).
    add_cpu: f64,
    del_cpu: f64,
    adopt: f64,
    reapply: f64,
}

fn time_fib(
    fib: &mut Fib,
    fresh: &dyn Fn() -> Fib,
    installs: &[RouteUpdate],
    withdraws: &[RouteUpdate],
    n: usize,
) -> FibTimes {
    let cpu = cpu_s(libc::RUSAGE_THREAD);
    let t = Instant::now();
    let r = fib.apply(installs).expect("fib apply");
    let add = t.elapsed().as_secs_f64();
    let add_cpu = cpu_s(libc::RUSAGE_THREAD) - cpu;
    let bad = r.iter().filter(|x| x.outcome != Outcome::Installed).count();
    assert_eq!(bad, 0, "fib failed to install {bad} routes");
    drop(r);
    assert_eq!(
        fib.kernel_routes().expect("dump").len(),
        n,
        "fib installed all"
    );
    let (adopt, reapply) = {
        let mut second = fresh();
        let t = Instant::now();
        assert_eq!(second.adopt(None).expect("adopt"), n);
        let adopt = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let r = second.apply(installs).expect("re-apply");
        let reapply = t.elapsed().as_secs_f64();
        assert!(r.iter().all(|x| x.outcome == Outcome::Installed));
        assert_eq!(second.converged().expect("converged").len(), 0);
        (adopt, reapply)
    };
    let cpu = cpu_s(libc::RUSAGE_THREAD);
    let t = Instant::now();
    let r = fib.apply(withdraws).expect("fib apply");
    let del = t.elapsed().as_secs_f64();
    let del_cpu = cpu_s(libc::RUSAGE_THREAD) - cpu;
    let bad = r.iter().filter(|x| x.outcome != Outcome::Removed).count();
    assert_eq!(bad, 0, "fib failed to remove {bad} routes");
    assert_eq!(
        fib.kernel_routes().expect("dump").len(),
        0,
        "fib removed all"
    );
    FibTimes {
        add,
        del,
        add_cpu,
        del_cpu,
        adopt,
        reapply,
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("fib_vs_ip_batch: a benchmark; run `cargo bench -p fib --bench fib_vs_ip_batch` as root");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("fib_vs_ip_batch: skipped, needs root (network namespaces)");
        return;
    }
    let n4: usize = std::env::var("FIB_BENCH_V4")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let n6: usize = std::env::var("FIB_BENCH_V6")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(220_000);
    let prefix = std::env::var("FIB_TEST_NETNS_PREFIX")
        .ok()
        .filter(|p| {
            p.ends_with('-')
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or_else(|| "usfib-".to_string());
    let name = format!("{prefix}bench-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ip netns add {name}");
    let ns = Netns(name);
    ip(&ns.0, "link set lo up");
    ip(&ns.0, "link add veth0 type veth peer name veth1");
    ip(&ns.0, "link set veth0 up");
    ip(&ns.0, "link set veth1 up");
    ip(&ns.0, "addr add 192.0.2.1/24 dev veth0");
    ip(&ns.0, "-6 addr add 2001:db8:ffff::1/64 dev veth0 nodad");
    let dir = std::env::temp_dir().join(format!("{}-batches", ns.0));
    std::fs::create_dir_all(&dir).expect("batch dir");

    let netns_path = PathBuf::from(format!("/run/netns/{}", ns.0));
    let mut fib_nh = Fib::open_in_netns(
        &netns_path,
        FibConfig {
            nexthop_objects: true,
            ..FibConfig::default()
        },
    )
    .expect("open fib in bench namespace");
    assert!(
        fib_nh.config().nexthop_objects,
        "this kernel refuses nexthop objects"
    );
    let mut fib = Fib::open_in_netns(
        &netns_path,
        FibConfig {
            nexthop_objects: false,
            ..FibConfig::default()
        },
    )
    .expect("open fib in bench namespace");
    // FIB_BENCH_BATCH=REQUESTS,DATAGRAMS sets the batching (default 64,32).
    if let Some((per, window)) = std::env::var("FIB_BENCH_BATCH").ok().and_then(|v| {
        let (a, b) = v.split_once(',')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }) {
        fib.set_batching(per, window);
        fib_nh.set_batching(per, window);
    }
    let mut rows = Vec::new();
    let mut takeovers = Vec::new();
    run_family(
        &ns.0,
        &mut fib,
        &mut fib_nh,
        &dir,
        "IPv4",
        &prefixes_v4(n4),
        "192.0.2.2".parse().expect("valid"),
        &mut rows,
        &mut takeovers,
    );
    run_family(
        &ns.0,
        &mut fib,
        &mut fib_nh,
        &dir,
        "IPv6",
        &prefixes_v6(n6),
        "2001:db8:ffff::2".parse().expect("valid"),
        &mut rows,
        &mut takeovers,
    );
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    print_rates(
        &rows,
        "ip -batch routes/s | fib, plain routes, routes/s | ratio | fib, nexthop objects (default), routes/s",
        |r| (r.ip_s, r.fib_s, r.nh_s),
    );
    println!();
    println!("The same by CPU time (user + system of the thread or process doing the work, the kernel's processing of the requests included): routes per CPU second, unaffected by other load on the machine.");
    println!();
    print_rates(
        &rows,
        "ip -batch routes/CPU s | fib, plain routes | ratio | fib, nexthop objects (default)",
        |r| (r.ip_cpu, r.fib_cpu, r.nh_cpu),
    );
    println!();
    println!("Takeover by a fresh writer with the table installed: adopt (dump + parse), then re-apply of the unchanged table (no netlink writes), then converged.");
    println!();
    println!("| family | routes | adopt s | re-apply s | adopt s (nexthop objects) | re-apply s (nexthop objects) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (family, n, a, r, na, nr) in &takeovers {
        println!("| {family} | {n} | {a:.2} | {r:.2} | {na:.2} | {nr:.2} |");
    }
}
