//! Framing and context tests of the session tracker, on crafted stream events.

use std::net::{Ipv4Addr, SocketAddr};

use ribsync::capture::{CloseReason, StreamEvent, StreamId};

use super::{CapturedItem, ContextOverrides, SessionTracker};
use crate::wire::{
    encode_message, AddPathEntry, AddPathMode, AfiSafi, Asn, Capability, HoldTime, Message, Open,
    RouterId, SessionContext,
};

fn client() -> StreamId {
    StreamId {
        src: "192.0.2.1:40000".parse::<SocketAddr>().expect("addr"),
        dst: "192.0.2.2:179".parse::<SocketAddr>().expect("addr"),
    }
}

const KEEPALIVE: [u8; 19] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x13, 0x04,
];

fn data(stream: StreamId, offset: u64, bytes: &[u8]) -> StreamEvent {
    StreamEvent::Data {
        stream,
        offset,
        bytes: bytes.to_vec(),
    }
}

fn items(t: &mut SessionTracker) -> Vec<CapturedItem> {
    std::iter::from_fn(|| t.poll_item()).collect()
}

fn messages(items: &[CapturedItem]) -> Vec<(u64, Vec<u8>)> {
    items
        .iter()
        .filter_map(|i| match i {
            CapturedItem::Message { offset, bytes, .. } => Some((*offset, bytes.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn messages_split_across_segments_are_framed_whole() {
    let mut t = SessionTracker::default();
    let mut two = KEEPALIVE.to_vec();
    two.extend_from_slice(&KEEPALIVE);
    t.on_event(data(client(), 0, &two[..7]));
    assert!(items(&mut t).is_empty());
    t.on_event(data(client(), 7, &two[7..30]));
    t.on_event(data(client(), 30, &two[30..]));
    let got = items(&mut t);
    assert_eq!(
        messages(&got),
        vec![(0, KEEPALIVE.to_vec()), (19, KEEPALIVE.to_vec())]
    );
}

#[test]
fn gap_cuts_the_partial_message_and_framing_resumes_at_the_next_marker() {
    let mut t = SessionTracker::default();
    t.on_event(data(client(), 0, &KEEPALIVE[..10]));
    t.on_event(StreamEvent::Gap {
        stream: client(),
        range: 10..25,
    });
    // After the gap: the tail of some message, then a whole KEEPALIVE at offset 28.
    let mut after = vec![0x42, 0x42, 0x42];
    after.extend_from_slice(&KEEPALIVE);
    t.on_event(data(client(), 25, &after));
    let got = items(&mut t);
    assert_eq!(
        got,
        vec![
            CapturedItem::Skipped {
                stream: client(),
                range: 0..10
            },
            CapturedItem::Gap {
                stream: client(),
                range: 10..25
            },
            CapturedItem::Skipped {
                stream: client(),
                range: 25..28
            },
            CapturedItem::Message {
                stream: client(),
                offset: 28,
                bytes: KEEPALIVE.to_vec(),
                context: ContextOverrides::default().base_context(),
            },
        ]
    );
}

#[test]
fn invalid_header_is_handed_over_then_skipped_to_next_marker() {
    let mut t = SessionTracker::default();
    let mut bad = KEEPALIVE.to_vec();
    bad[3] = 0x00; // marker not all ones: Connection Not Synchronized (RFC 4271 6.1)
    let mut stream = bad.clone();
    stream.extend_from_slice(&[1, 2, 3]);
    stream.extend_from_slice(&KEEPALIVE);
    t.on_event(data(client(), 0, &stream));
    let got = items(&mut t);
    let msgs = messages(&got);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0], (0, bad));
    assert_eq!(msgs[1], (22, KEEPALIVE.to_vec()));
    assert!(got.contains(&CapturedItem::Skipped {
        stream: client(),
        range: 19..22
    }));
}

fn open_bytes(asn: u32, caps: Vec<Capability>) -> Vec<u8> {
    let open = Open::new(
        Asn(asn),
        HoldTime::DEFAULT,
        RouterId(Ipv4Addr::new(192, 0, 2, 9)),
        caps,
    );
    encode_message(&Message::Open(open), &SessionContext::new()).expect("encodes")
}

#[test]
fn context_follows_both_opens() {
    let mut t = SessionTracker::default();
    let server = client().reverse();
    let add_path = |mode| {
        Capability::AddPath(vec![AddPathEntry {
            afi_safi: AfiSafi::IPV4_UNICAST,
            mode,
        }])
    };
    let c_open = open_bytes(64500, vec![add_path(AddPathMode::Send)]);
    let s_open = open_bytes(64500, vec![add_path(AddPathMode::Receive)]);
    t.on_event(data(client(), 0, &c_open));
    // One OPEN only: still the base context.
    assert_eq!(
        t.context(client()),
        ContextOverrides::default().base_context()
    );
    t.on_event(data(server, 0, &s_open));
    let ctx = t.context(client());
    assert!(ctx.four_octet_as);
    assert!(ctx.ibgp);
    // The client sends paths, the server receives them: client->server NLRI carry ids.
    assert!(ctx.receives_path_id(AfiSafi::IPV4_UNICAST));
    assert!(!t.context(server).receives_path_id(AfiSafi::IPV4_UNICAST));
    // The KEEPALIVE after the OPENs is framed with the negotiated context.
    t.on_event(data(client(), c_open.len() as u64, &KEEPALIVE));
    let got = items(&mut t);
    match got.last() {
        Some(CapturedItem::Message { context, .. }) => assert_eq!(context, &ctx),
        other => panic!("expected a message, got {other:?}"),
    }
    // A new connection (SYN) forgets the OPENs.
    t.on_event(StreamEvent::Opened {
        stream: client(),
        isn: 1,
    });
    assert!(!t.context(client()).four_octet_as);
}

#[test]
fn overrides_apply_on_top_of_everything() {
    let t = SessionTracker::new(ContextOverrides {
        four_octet_as: true,
        add_path: vec![AfiSafi::IPV6_UNICAST],
        extended_message: true,
        ibgp: true,
    });
    let ctx = t.context(client());
    assert!(ctx.four_octet_as && ctx.extended_message && ctx.ibgp);
    assert!(ctx.receives_path_id(AfiSafi::IPV6_UNICAST));
    assert!(!ctx.receives_path_id(AfiSafi::IPV4_UNICAST));
}

#[test]
fn end_of_stream_reports_the_unfinished_message() {
    let mut t = SessionTracker::default();
    t.on_event(data(client(), 0, &KEEPALIVE[..5]));
    t.on_event(StreamEvent::Closed {
        stream: client(),
        offset: 5,
        reason: CloseReason::Fin,
    });
    assert_eq!(
        items(&mut t),
        vec![CapturedItem::Skipped {
            stream: client(),
            range: 0..5
        }]
    );
}
