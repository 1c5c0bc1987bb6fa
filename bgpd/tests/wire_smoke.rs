//! Smoke tests of the public codec API: decode, outcome JSON, re-encode.

use bgpd::wire::{decode_message, encode_message, Message, Outcome, SessionContext};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test hex")
}

#[test]
fn baseline_update_decodes_and_reencodes() {
    let bytes = unhex("ffffffffffffffffffffffffffffffff002f02000000144001010040020602010000fde94003040a00000218cb0071");
    let ctx = SessionContext::modern();
    let d = decode_message(&bytes, &ctx);
    assert_eq!(d.outcome, Outcome::Accept);
    let Some(Message::Update(u)) = &d.message else {
        panic!("not an update: {d:?}")
    };
    assert_eq!(u.nlri.len(), 1);
    assert_eq!(u.nlri[0].prefix.to_string(), "203.0.113.0/24");
    assert_eq!(
        u.attributes.next_hop().map(|a| a.to_string()),
        Some("10.0.0.2".to_string())
    );
    assert_eq!(
        u.attributes
            .as_path()
            .and_then(|p| p.first_asn())
            .map(|a| a.0),
        Some(65001)
    );
    let again = encode_message(d.message.as_ref().expect("message"), &ctx).expect("encode");
    assert_eq!(hex::encode(again), hex::encode(&bytes));
}

#[test]
fn outcome_json_shape() {
    let bytes = unhex("ffffffffffffffffffffffffffffffff001204");
    let d = decode_message(&bytes, &SessionContext::new());
    assert_eq!(
        d.outcome.to_json(),
        serde_json::json!({"action": "session-reset", "code": 1, "subcode": 2, "data": "0012"})
    );
    let w = Outcome::TreatAsWithdraw { reason: "x".into() };
    assert_eq!(w.to_json()["action"], "treat-as-withdraw");
}
