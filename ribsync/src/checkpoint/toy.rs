//! A toy [`Replicated`] application: a key-value store per flow, fed by a byte stream of
//! length-prefixed `key=value` records. For tests and as a worked example of the trait.
//!
//! Wire format of one record: a 2-octet big-endian length `n` (of the whole record,
//! including these 2 octets, so n >= 2), then `n - 2` octets `key=value`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sha2::{Digest as _, Sha256};

use super::app::{
    Digest, FlowId, FlowSnapshot, Replicated, SeqAnchor, StaticContext, StreamOffsets,
};
use crate::takeover::TcpRepairState;

/// Errors of the toy application.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToyError {
    /// A record is shorter than its own header, or a snapshot does not decode.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// Bytes fed at an offset other than the end of what was fed.
    #[error("fed at offset {got}, expected {expected}")]
    Offset {
        /// Where the bytes started.
        got: u64,
        /// Where they should have.
        expected: u64,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ToyFlow {
    consumed: u64,
    sent: u64,
    partial: Vec<u8>,
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl ToyFlow {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.kv {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(k);
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    fn decode(mut b: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, ToyError> {
        fn take<'a>(b: &mut &'a [u8]) -> Result<&'a [u8], ToyError> {
            let bad = ToyError::Malformed("snapshot");
            let len_bytes: [u8; 4] = b
                .get(..4)
                .ok_or(bad.clone())?
                .try_into()
                .map_err(|_| bad.clone())?;
            let len = u32::from_be_bytes(len_bytes) as usize;
            let v = b.get(4..4 + len).ok_or(bad)?;
            *b = &b[4 + len..];
            Ok(v)
        }
        let mut kv = BTreeMap::new();
        while !b.is_empty() {
            let k = take(&mut b)?.to_vec();
            let v = take(&mut b)?.to_vec();
            kv.insert(k, v);
        }
        Ok(kv)
    }

    fn digest(&self) -> Digest {
        let mut h = Sha256::new();
        h.update(self.consumed.to_be_bytes());
        h.update(self.encode());
        h.finalize().into()
    }
}

/// The toy store.
#[derive(Debug, Clone, Default)]
pub struct KvLog {
    config: StaticContext,
    flows: BTreeMap<FlowId, ToyFlow>,
    anchors: BTreeMap<FlowId, SeqAnchor>,
    tcp: BTreeMap<FlowId, TcpRepairState>,
}

/// One record on the wire.
pub fn record(key: &str, value: &str) -> Vec<u8> {
    let body = format!("{key}={value}");
    let mut out = ((body.len() + 2) as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body.as_bytes());
    out
}

impl KvLog {
    /// A store with static context `config`.
    pub fn new(config: StaticContext) -> Self {
        KvLog {
            config,
            flows: BTreeMap::new(),
            anchors: BTreeMap::new(),
            tcp: BTreeMap::new(),
        }
    }

    /// The flow's TCP context as its last socket peek read it, exported in snapshots (a
    /// real application peeks its socket now and then, so it may predate the last write).
    pub fn set_tcp(&mut self, flow: FlowId, tcp: TcpRepairState) {
        self.tcp.insert(flow, tcp);
    }

    /// The sequence numbers of the flow's offset 0 (a real application reads them from
    /// its socket), exported in snapshots.
    pub fn set_anchor(&mut self, flow: FlowId, anchor: SeqAnchor) {
        self.anchors.insert(flow, anchor);
    }

    /// The static context in force.
    pub fn static_context(&self) -> &StaticContext {
        &self.config
    }

    /// Open a flow (primary side).
    pub fn open_flow(&mut self, flow: FlowId) {
        self.flows.entry(flow).or_default();
    }

    /// Close a flow.
    pub fn close_flow(&mut self, flow: &FlowId) {
        self.flows.remove(flow);
    }

    /// Account `n` octets written to the flow's socket; returns their egress offset.
    pub fn note_sent(&mut self, flow: &FlowId, n: u64) -> u64 {
        let f = self.flows.entry(*flow).or_default();
        let at = f.sent;
        f.sent += n;
        at
    }

    /// Bytes fed so far (consumed plus buffered partial record).
    pub fn received(&self, flow: &FlowId) -> u64 {
        self.flows
            .get(flow)
            .map_or(0, |f| f.consumed + f.partial.len() as u64)
    }

    /// The value of `key` in `flow`.
    pub fn get(&self, flow: &FlowId, key: &str) -> Option<String> {
        let v = self.flows.get(flow)?.kv.get(key.as_bytes())?;
        Some(String::from_utf8_lossy(v).into_owned())
    }
}

impl Replicated for KvLog {
    type Error = ToyError;

    fn export_static(&self) -> StaticContext {
        self.config.clone()
    }

    fn import_static(&mut self, context: &StaticContext) -> Result<(), ToyError> {
        self.config = context.clone();
        Ok(())
    }

    fn flows(&self) -> Vec<FlowId> {
        self.flows.keys().copied().collect()
    }

    fn snapshot_flow(&self, flow: &FlowId) -> Option<FlowSnapshot> {
        let f = self.flows.get(flow)?;
        Some(FlowSnapshot {
            flow: *flow,
            offsets: StreamOffsets {
                consumed_from_peer: f.consumed,
                sent_to_peer: f.sent,
            },
            anchor: self.anchors.get(flow).copied(),
            state: f.encode(),
            tcp: self.tcp.get(flow).cloned(),
            digest: f.digest(),
        })
    }

    fn restore_flow(&mut self, snapshot: &FlowSnapshot) -> Result<(), ToyError> {
        let kv = ToyFlow::decode(&snapshot.state)?;
        self.flows.insert(
            snapshot.flow,
            ToyFlow {
                consumed: snapshot.offsets.consumed_from_peer,
                sent: snapshot.offsets.sent_to_peer,
                partial: Vec::new(),
                kv,
            },
        );
        Ok(())
    }

    fn end_flow(&mut self, flow: &FlowId) {
        self.flows.remove(flow);
    }

    fn flow_offsets(&self, flow: &FlowId) -> Option<StreamOffsets> {
        self.flows.get(flow).map(|f| StreamOffsets {
            consumed_from_peer: f.consumed,
            sent_to_peer: f.sent,
        })
    }

    fn feed_peer_bytes(
        &mut self,
        _now_ms: u64,
        flow: &FlowId,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), ToyError> {
        let f = self.flows.entry(*flow).or_default();
        let expected = f.consumed + f.partial.len() as u64;
        if offset != expected {
            return Err(ToyError::Offset {
                got: offset,
                expected,
            });
        }
        f.partial.extend_from_slice(bytes);
        while let Some(len) = f
            .partial
            .get(..2)
            .map(|h| u16::from_be_bytes([h[0], h[1]]) as usize)
        {
            if len < 2 {
                return Err(ToyError::Malformed("record shorter than its header"));
            }
            if f.partial.len() < len {
                break;
            }
            let rec: Vec<u8> = f.partial.drain(..len).collect();
            let body = &rec[2..];
            let (k, v) = match body.iter().position(|b| *b == b'=') {
                Some(i) => (&body[..i], &body[i + 1..]),
                None => (body, &b""[..]),
            };
            f.kv.insert(k.to_vec(), v.to_vec());
            f.consumed += len as u64;
        }
        Ok(())
    }

    fn flow_digest(&self, flow: &FlowId) -> Option<Digest> {
        self.flows.get(flow).map(ToyFlow::digest)
    }

    fn state_digest(&self) -> Digest {
        let mut h = Sha256::new();
        h.update(&self.config.config);
        h.update(self.config.router_id.map_or([0; 4], |r| r.octets()));
        for (flow, f) in &self.flows {
            h.update(flow.to_string().as_bytes());
            h.update(f.digest());
        }
        h.finalize().into()
    }
}

/// A static context for tests (documentation addresses).
pub fn sample_static() -> StaticContext {
    StaticContext {
        config: b"router-id = 192.0.2.1\n".to_vec(),
        router_id: Some(Ipv4Addr::new(192, 0, 2, 1)),
        addresses: vec!["192.0.2.1".parse().expect("literal address")],
        rng_seeds: vec![7],
        clock_base_ms: 1_700_000_000_000,
    }
}
