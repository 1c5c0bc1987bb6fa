//! Lab test: every case of shared/cases/sessions.json sent by the raw test peer over TCP to
//! understudy's bgpd (run as root; the bgpd and understudy binaries from the same target
//! directory, `cargo build -p bgpd --bins`). Each case's outcome on the wire: the
//! NOTIFICATION bgpd sent (code, subcode and, where the RFC fixes it, data) or none, whether
//! the session is still Established, the prefixes bgpd holds from the peer, and that bgpd is
//! still running. Where the RFC disagrees with a case's `expect` text, the RFC outcome is
//! asserted and the reason given beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use interop::cases::verdict::{check, expectations};
use interop::cases::{default_path, run_against_bgpd, CaseFile};

const PREFIX: &str = "uscs-";

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
