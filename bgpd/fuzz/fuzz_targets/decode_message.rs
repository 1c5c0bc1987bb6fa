//! Fuzz target: `decode_message` must never panic, whatever the bytes and the session context;
//! what it accepts must re-encode, and the re-encoding must decode to the same message.
#![no_main]

use bgpd::wire::{decode_message, encode_message, frame, AfiSafi, Outcome, SessionContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let mut ctx = match sel % 4 {
        0 => SessionContext::new(),
        1 => SessionContext::modern(),
        2 => SessionContext::everything(),
        _ => SessionContext {
            add_path_receive: vec![AfiSafi::IPV4_UNICAST],
            ..SessionContext::new()
        },
    };
    ctx.ibgp = sel & 0x10 != 0;
    let _ = frame(bytes, &ctx);
    // Most inputs are not framed: fix up the marker and length so the body parsers are reached.
    let mut msg = bytes.to_vec();
    if sel & 0x20 != 0 && msg.len() >= 19 && msg.len() <= 65535 {
        msg[..16].fill(0xff);
        let l = (msg.len() as u16).to_be_bytes();
        msg[16] = l[0];
        msg[17] = l[1];
    }
    let d = decode_message(&msg, &ctx);
    if let (Some(m), Outcome::Accept) = (&d.message, &d.outcome) {
        // Re-encode with the mirrored context (what we decode as received, the peer sent).
        let tx = ctx.reversed();
        if let Ok(again) = encode_message(m, &tx) {
            let d2 = decode_message(&again, &ctx);
            assert_eq!(
                d2.message.as_ref(),
                Some(m),
                "re-encoded message decodes differently"
            );
        }
    }
    let _ = serde_json::to_string(&d);
});
