//! The BGP UPDATE messages of a dump, each with the session context its record implies.

use super::{MrtError, MrtReader, RecordBody};
use crate::wire::{MessageType, SessionContext};

/// Offset of the Type octet in a BGP message header (RFC 4271 section 4.1: 16 octets of
/// Marker, 2 of Length, then Type).
const TYPE_OFFSET: usize = 18;

/// The UPDATE messages of an MRT dump in record order: each is the whole message (header
/// included) with the codec context its record implies
/// ([`ImpliedContext::session_context`](super::ImpliedContext::session_context)). Made by
/// [`MrtReader::update_messages`].
///
/// Only message records count (BGP4MP and BGP4MP_ET `MESSAGE*` subtypes and the deprecated
/// `BGP`/`BGP4PLUS` ones); other records and other message types are passed over. A record
/// the reader cannot parse is an `Err` item, and the walk goes on as the reader does (see
/// [`MrtReader::next_record`]).
#[derive(Debug)]
pub struct UpdateMessages {
    reader: MrtReader,
}

impl MrtReader {
    /// The UPDATE messages of the rest of the dump, each with its session context.
    pub fn update_messages(self) -> UpdateMessages {
        UpdateMessages { reader: self }
    }
}

impl Iterator for UpdateMessages {
    /// The whole message (header included) and the context to decode it with.
    type Item = Result<(Vec<u8>, SessionContext), MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let record = match self.reader.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            let RecordBody::Bgp4mpMessage(m) = record.body else {
                continue;
            };
            if m.message.get(TYPE_OFFSET) == Some(&MessageType::Update.code()) {
                let ctx = m.implied_context().session_context();
                return Some(Ok((m.message, ctx)));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A BGP4MP MESSAGE_AS4 record (RFC 6396 section 4.4.3) of IPv4 peers 192.0.2.1 (AS
    /// `peer_as`) and 192.0.2.254 (AS 65000) carrying `message`.
    fn record(peer_as: u32, message: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&peer_as.to_be_bytes());
        body.extend_from_slice(&65000u32.to_be_bytes());
        body.extend_from_slice(&[0, 0, 0, 1]); // interface index, AFI IPv4
        body.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 254]);
        body.extend_from_slice(message);
        let mut r = vec![0x65, 0x00, 0x00, 0x00, 0, 16, 0, 4];
        r.extend_from_slice(&(body.len() as u32).to_be_bytes());
        r.extend_from_slice(&body);
        r
    }

    /// A message of `kind` with `body` after the header.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&(19 + body.len() as u16).to_be_bytes());
        m.push(kind);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn only_update_messages_come_out_with_their_records_context() {
        let keepalive = message(4, &[]);
        let end_of_rib = message(2, &[0, 0, 0, 0]);
        let withdrawal = message(2, &[0, 2, 8, 10, 0, 0]);
        let mut dump = record(64700, &keepalive);
        dump.extend(record(64700, &end_of_rib));
        dump.extend(record(65000, &withdrawal));
        let got: Vec<_> = MrtReader::new(std::io::Cursor::new(dump))
            .unwrap()
            .update_messages()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, end_of_rib);
        assert_eq!(got[1].0, withdrawal);
        // MESSAGE_AS4: 4-octet ASNs; the peer's AS equal to the collector's: internal.
        assert!(got[0].1.four_octet_as && got[1].1.four_octet_as);
        assert!(!got[0].1.ibgp);
        assert!(got[1].1.ibgp);
    }

    #[test]
    fn a_record_that_does_not_parse_is_an_error_and_the_walk_goes_on() {
        let update = message(2, &[0, 0, 0, 0]);
        // A MESSAGE_AS4 record too short for its peer addresses.
        let mut dump = vec![
            0x65, 0, 0, 0, 0, 16, 0, 4, 0, 0, 0, 6, 0, 0, 0xfc, 0xbc, 0, 0,
        ];
        dump.extend(record(64700, &update));
        let got: Vec<_> = MrtReader::new(std::io::Cursor::new(dump))
            .unwrap()
            .update_messages()
            .collect();
        assert_eq!(got.len(), 2);
        assert!(matches!(got[0], Err(MrtError::Record { .. })), "{got:?}");
        assert_eq!(got[1].as_ref().unwrap().0, update);
    }
}
