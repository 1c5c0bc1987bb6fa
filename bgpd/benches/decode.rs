//! Decode rate of the BGP codec on the largest real update stream of the shared data set
//! (RIPE RIS, `mrt/bgpdump/updates.et-header.2015.gz`: 89,682 messages), side by side with
//! bgpkit-parser's BGP message parser on the same bytes.
//!
//! The messages are extracted from the MRT file into memory before timing; both parsers
//! then parse every message from its 19-octet header on, with the session facts the MRT
//! record gives (4-octet AS for the AS4 subtypes, no ADD-PATH). Run with
//! `cargo bench -p bgpd --bench decode`.

use std::hint::black_box;

use bgpd::mrt::{MrtReader, RecordBody};
use bgpd::wire::{decode_message, Message, SessionContext};
use bgpkit_parser::models::AsnLength;
use bgpkit_parser::parser::bgp::parse_bgp_message;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/mrt/bgpdump/updates.et-header.2015.gz"
);

struct Corpus {
    /// Each message, and whether its record said 4-octet AS.
    messages: Vec<(Bytes, bool)>,
    contexts: [SessionContext; 2],
    prefixes: u64,
}

fn load() -> Corpus {
    let mut messages = Vec::new();
    let mut contexts: [SessionContext; 2] = Default::default();
    for record in MrtReader::open(FILE).expect("the shared data set is present") {
        let Ok(record) = record else { continue };
        if let RecordBody::Bgp4mpMessage(m) = record.body {
            let ctx = m.implied_context().session_context();
            contexts[usize::from(m.four_octet_as)] = ctx;
            messages.push((Bytes::from(m.message), m.four_octet_as));
        }
    }
    // Prefixes announced and withdrawn, counted by our decoder once, untimed.
    let mut prefixes = 0u64;
    for (bytes, as4) in &messages {
        let ctx = &contexts[usize::from(*as4)];
        if let Some(Message::Update(u)) = decode_message(bytes, ctx).message {
            prefixes += (u.announced_count() + u.withdrawn_count()) as u64;
        }
    }
    Corpus {
        messages,
        contexts,
        prefixes,
    }
}

fn ours(c: &Corpus) -> usize {
    let mut ok = 0;
    for (bytes, as4) in &c.messages {
        let d = decode_message(bytes, &c.contexts[usize::from(*as4)]);
        ok += usize::from(black_box(d).message.is_some());
    }
    ok
}

fn bgpkit(c: &Corpus) -> usize {
    let mut ok = 0;
    for (bytes, as4) in &c.messages {
        let asn_len = if *as4 {
            AsnLength::Bits32
        } else {
            AsnLength::Bits16
        };
        let mut b = bytes.clone();
        ok += usize::from(black_box(parse_bgp_message(&mut b, false, &asn_len)).is_ok());
    }
    ok
}

fn bench(cr: &mut Criterion) {
    let corpus = load();
    let n = corpus.messages.len() as u64;
    eprintln!(
        "corpus: {n} messages, {} prefixes (announced + withdrawn); ours decodes {}, bgpkit-parser {}",
        corpus.prefixes,
        ours(&corpus),
        bgpkit(&corpus)
    );
    for (unit, elements) in [("messages", n), ("prefixes", corpus.prefixes)] {
        let mut g = cr.benchmark_group(format!("decode-{unit}"));
        g.sample_size(10);
        g.measurement_time(std::time::Duration::from_secs(8));
        g.throughput(Throughput::Elements(elements));
        g.bench_function("understudy", |b| b.iter(|| ours(&corpus)));
        g.bench_function("bgpkit-parser", |b| b.iter(|| bgpkit(&corpus)));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
