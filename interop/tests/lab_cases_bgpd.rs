//! Lab test: every case of shared/cases/sessions.json sent by the raw test peer over TCP to
//! understudy's bgpd (run as root; the bgpd and understudy binaries from the same target
//! directory, `cargo build -p bgpd --bins`). Each case's outcome on the wire: the
//! NOTIFICATION bgpd sent (code, subcode and, where the RFC fixes it, data) or none, whether
//! the session is still Established, the prefixes bgpd holds from the peer, and that bgpd is
//! still running. Where the RFC disagrees with a case's `expect` text, the RFC outcome is
//! asserted and the reason given beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use interop::cases::{default_path, run_against_bgpd, CaseFile, Observation};
use ipnetwork::IpNetwork;

const PREFIX: &str = "uscs-";

/// What bgpd must do with a case.
struct Expect {
    /// The NOTIFICATION (code, subcode, data when the RFC fixes it: empty where RFC 4271
    /// section 6 gives that error no data), or None for none.
    notification: Option<(u8, u8, Option<&'static [u8]>)>,
    /// The prefixes held from the peer afterwards (the session stays Established exactly
    /// when no NOTIFICATION is expected).
    routes: &'static [&'static str],
}

const V4: &[&str] = &["203.0.113.0/24"];
const V6: &[&str] = &["2001:db8::/32"];
const NONE: &[&str] = &[];

fn keep(routes: &'static [&'static str]) -> Expect {
    Expect {
        notification: None,
        routes,
    }
}

fn reset(code: u8, subcode: u8, data: Option<&'static [u8]>) -> Expect {
    Expect {
        notification: Some((code, subcode, data)),
        routes: NONE,
    }
}

fn expectations() -> BTreeMap<&'static str, Expect> {
    BTreeMap::from([
        ("TC00", keep(V4)),
        ("TC01", keep(NONE)),
        ("TC02", keep(NONE)),
        ("TC04", keep(NONE)),
        // RFC: bgpd does not advertise ADD-PATH (RFC 7911), so the PoC's Path Identifiers
        // are read as plain NLRI (RFC 7911 section 3 applies only once negotiated): a prefix
        // length above 32 follows, the NLRI field is syntactically incorrect, and RFC 7606
        // section 5.3 / RFC 4271 section 6.3 make that a session reset with 3/10 Invalid
        // Network Field. The case's treat-as-withdraw needs ADD-PATH receive negotiated.
        ("TC05", reset(3, 10, Some(&[]))),
        ("TC06", reset(3, 10, Some(&[]))),
        // The case allows 3/1 or 3/9 (RFC 7606 section 7.11: session reset); 3/9 Optional
        // Attribute Error, whose data "MUST contain the attribute (type, length, and value)"
        // (RFC 4271 section 6.3): checked in `check` against the bytes sent.
        ("TC08", reset(3, 9, None)),
        ("TC09", reset(3, 9, None)),
        // ORF not negotiated: the ORF part is ignored, the session stays.
        ("TC10", keep(NONE)),
        ("TC12", keep(V4)),
        ("TC14", keep(NONE)),
        ("TC15a", keep(NONE)),
        ("TC15b", keep(NONE)),
        ("TC17", keep(NONE)),
        // RFC: RFC 7606 section 2 / 3(d): treat-as-withdraw applies to every route of the
        // UPDATE, the MP_REACH_NLRI one (198.51.100.0/24) included, not only the NLRI field's.
        ("TC18", keep(NONE)),
        // Disputed in the case; no NLRI field can be located and the attribute list
        // overruns, so treat-as-withdraw could not name the routes to withdraw: RFC 7606
        // section 4 then leaves session reset, 3/1 Malformed Attribute List.
        ("TC19", reset(3, 1, Some(&[]))),
        ("TC20", reset(3, 1, Some(&[]))),
        ("TC21", keep(V4)),
        ("TC23", keep(V4)),
        ("TC24", keep(NONE)),
        ("TC26", keep(&["198.51.100.0/24"])),
        ("TC27", keep(NONE)),
        ("TC28", keep(NONE)),
        ("TC30", keep(V4)),
        ("TC32", keep(NONE)),
        ("TC33", keep(V4)),
        ("TC34", keep(NONE)),
        ("TC35", keep(V4)),
        // Installed, then withdrawn by the MP_UNREACH_NLRI.
        ("TC37", keep(NONE)),
        ("TC38", keep(NONE)),
        ("TC39", keep(V4)),
        ("TC41", keep(V6)),
        ("TC42", keep(V6)),
        ("TC43", keep(V6)),
        ("TC45", reset(3, 10, Some(&[]))),
        // bgpd advertises Extended Message (RFC 8654), so the case's own "one that
        // advertised cap 6: accept" holds (RFC 8654 section 4); checked below that the
        // session stays and routes arrive.
        ("TC46", keep(NONE)),
        ("TC47", reset(1, 2, Some(&[0x00, 0x12]))),
        ("TC49", reset(1, 3, Some(&[0x14]))),
        ("TC50", reset(1, 1, Some(&[]))),
        ("TC51", reset(2, 6, Some(&[]))),
        ("TC52", keep(NONE)),
        ("TC54", keep(NONE)),
        ("TC55", reset(2, 0, None)),
        ("TC57", reset(2, 1, Some(&[0x00, 0x04]))),
        ("TC58", reset(2, 3, Some(&[]))),
    ])
}

fn check(id: &str, sent: &[Vec<u8>], e: &Expect, o: &Observation) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{id}: {what}; saw {}", o.summary()));
    if !o.alive {
        return fail("bgpd is gone (crash)");
    }
    match e.notification {
        None => {
            if !o.notifications.is_empty() {
                return fail("no NOTIFICATION expected");
            }
            if !o.established_after || o.closed {
                return fail("the session must stay Established");
            }
        }
        Some((code, subcode, data)) => {
            if o.notifications.len() != 1 {
                return fail(&format!("one NOTIFICATION {code}/{subcode} expected"));
            }
            let n = &o.notifications[0];
            if (n.code, n.subcode) != (code, subcode) {
                return fail(&format!("NOTIFICATION {code}/{subcode} expected"));
            }
            if let Some(d) = data {
                if n.data != d {
                    return fail(&format!("NOTIFICATION data {} expected", hex::encode(d)));
                }
            }
            if (code, subcode) == (3, 9) {
                // The whole MP_REACH_NLRI attribute (type 14) as it was sent.
                let attr = n.data.get(1) == Some(&14)
                    && sent
                        .iter()
                        .any(|m| m.windows(n.data.len()).any(|w| w == n.data.as_slice()));
                if !attr {
                    return fail("3/9 data must be the MP_REACH_NLRI attribute as sent");
                }
            }
            if !o.closed || o.established_after {
                return fail("the session must be closed after the NOTIFICATION");
            }
        }
    }
    if id == "TC46" {
        // The 4551-octet UPDATE's routes are installed.
        if o.routes.is_empty() {
            return fail("the Extended Message UPDATE's routes must be installed");
        }
        return Ok(());
    }
    let want: std::collections::BTreeSet<IpNetwork> =
        e.routes.iter().map(|p| p.parse().unwrap()).collect();
    if o.routes != want {
        return fail(&format!("routes {want:?} expected"));
    }
    Ok(())
}

#[test]
fn every_session_case_against_bgpd_on_the_wire() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the lab tests must run as root (network namespaces)"
    );
    let file = CaseFile::load(&default_path().expect("shared/cases/sessions.json")).unwrap();
    let expect = expectations();
    let mut failures = Vec::new();
    for case in &file.cases {
        let e = expect.get(case.id.as_str()).unwrap_or_else(|| {
            panic!(
                "sessions.json has a case {} this test does not know",
                case.id
            )
        });
        let sent: Vec<Vec<u8>> = case
            .messages
            .iter()
            .map(|m| interop::rawpeer::from_hex(m).unwrap())
            .collect();
        match run_against_bgpd(&file, case, PREFIX) {
            Ok(o) => {
                if let Err(f) = check(&case.id, &sent, e, &o) {
                    failures.push(f);
                }
            }
            Err(err) => failures.push(format!("{}: the lab failed: {err}", case.id)),
        }
    }
    assert_eq!(
        file.cases.len(),
        expect.len(),
        "every expectation has a case"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        file.cases.len(),
        failures.join("\n")
    );
}
