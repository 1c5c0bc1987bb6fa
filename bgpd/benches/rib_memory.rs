//! Memory per route of the Adj-RIB-In + Loc-RIB for the generated 1,000,000-prefix table
//! (300,000 distinct attribute sets) from one neighbour: heap bytes held by the `Rib` (a
//! counting global allocator) and the growth of the resident set, divided by the routes.
//! Not a timing benchmark: prints its figures.
//!
//! `cargo bench -p bgpd --bench rib_memory`

mod gen;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn rss_bytes() -> i64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// CPU time of this thread in nanoseconds (`/proc/thread-self/schedstat`, first field):
/// unlike wall time, it does not grow when other processes load the machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let (msgs, n) = gen::internet_table(1_000_000, 300_000);
    let ctx = gen::ctx();
    // Decode alone, for reference.
    let c0 = cpu_ns();
    let mut decoded = 0usize;
    for m in &msgs {
        if let Some(bgpd::wire::Message::Update(u)) = bgpd::wire::decode_message(m, &ctx).message {
            decoded += u.announced_count();
        }
    }
    let decode_cpu = (cpu_ns() - c0) as f64 / 1e9;
    assert_eq!(decoded, n);
    // What the ingest reads them with: the in-place view (the decode only where it declines).
    let c0 = cpu_ns();
    let mut viewed = 0usize;
    for m in &msgs {
        if let Some(v) = bgpd::wire::UpdateView::parse_message(m, &ctx) {
            viewed += v.announced_count();
        }
    }
    let view_cpu = (cpu_ns() - c0) as f64 / 1e9;
    assert_eq!(viewed, n);
    let heap0 = LIVE.load(Ordering::Relaxed);
    let rss0 = rss_bytes();
    let mut rib = gen::rib_with_peer(ctx.clone(), 64_700);
    let t = std::time::Instant::now();
    let c0 = cpu_ns();
    gen::ingest(&mut rib, &msgs, &ctx);
    let cpu = (cpu_ns() - c0) as f64 / 1e9;
    let elapsed = t.elapsed();
    // Drain the pending change log (what the speaker does after every input).
    let _ = rib.poll_updates(bgpd::rib::PeerId(1));
    let _ = rib.poll_fib();
    let heap1 = LIVE.load(Ordering::Relaxed);
    let rss1 = rss_bytes();
    let s = rib.stats();
    assert_eq!(s.loc_rib, n, "every prefix in the Loc-RIB");
    let routes = s.routes as f64;
    println!(
        "rib_memory: {} routes, {} prefixes in Loc-RIB, {} attribute sets",
        s.routes, s.loc_rib, s.attribute_sets
    );
    println!(
        "rib_memory: heap held by the Rib: {} bytes = {:.1} bytes/route (Adj-RIB-In + Loc-RIB)",
        heap1 - heap0,
        (heap1 - heap0) as f64 / routes
    );
    println!(
        "rib_memory: RSS growth: {} bytes = {:.1} bytes/route",
        rss1 - rss0,
        (rss1 - rss0) as f64 / routes
    );
    println!(
        "rib_memory: one ingest pass (UPDATEs read + Adj-RIB-In + decision + Loc-RIB): wall {:.3} s = {:.0} prefixes/s; CPU {:.3} s = {:.0} prefixes/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        cpu,
        n as f64 / cpu
    );
    println!(
        "rib_memory: of which reading the UPDATEs in place (UpdateView) alone: CPU {:.3} s = {:.0} prefixes/s (the full decode, which the ingest no longer needs for these UPDATEs: CPU {:.3} s = {:.0} prefixes/s)",
        view_cpu,
        n as f64 / view_cpu,
        decode_cpu,
        n as f64 / decode_cpu
    );
    drop(rib);
}
