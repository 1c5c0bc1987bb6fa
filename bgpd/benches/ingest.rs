//! Ingest into the Loc-RIB from one neighbour: decode + Adj-RIB-In + import policy +
//! decision process + Loc-RIB, per prefix (announced or withdrawn).
//!
//! (a) the largest real update stream of ../shared/data (bgpdump updates.et-header.2015.gz,
//!     89,679 UPDATEs, fed as one neighbour);
//! (b) a generated table of 1,000,000 IPv4 prefixes shaped like the Internet's with
//!     300,000 distinct attribute sets, pre-encoded as UPDATEs before timing.
//!
//! `cargo bench -p bgpd --bench ingest`

mod gen;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;

fn real_stream(c: &mut Criterion) {
    let msgs = gen::real_stream();
    let ctx0 = gen::ctx();
    // Count the prefixes once.
    let mut probe = gen::rib_with_peer(ctx0.clone(), 64_700);
    let mut n = 0;
    for (m, ctx) in &msgs {
        n += gen::ingest(&mut probe, std::slice::from_ref(m), ctx);
    }
    drop(probe);
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("real_stream_et_2015", |b| {
        b.iter_batched(
            || gen::rib_with_peer(ctx0.clone(), 64_700),
            |mut rib| {
                for (m, ctx) in &msgs {
                    gen::ingest(&mut rib, std::slice::from_ref(m), ctx);
                }
                rib
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn generated_table(c: &mut Criterion) {
    let (msgs, n) = gen::internet_table(1_000_000, 300_000);
    let ctx = gen::ctx();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("generated_1m_ipv4_300k_sets", |b| {
        b.iter_batched(
            || gen::rib_with_peer(ctx.clone(), 64_700),
            |mut rib| {
                gen::ingest(&mut rib, &msgs, &ctx);
                rib
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, real_stream, generated_table);
criterion_main!(benches);
