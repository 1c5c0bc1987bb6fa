//! Lab test: session cases of shared/cases/sessions.json run by the raw peer against FRR
//! (run as root). Proves the case runner on the cases whose RFC outcome FRR 8.4 gives;
//! lab_cases_bgpd.rs runs every case against understudy's bgpd.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use interop::cases::{default_path, run_against_frr, CaseFile, Notification, Observation};

fn run(file: &CaseFile, id: &str) -> Observation {
    run_against_frr(file, file.case(id).unwrap(), PREFIX).unwrap()
}

fn notification(code: u8, subcode: u8, data: &[u8]) -> Notification {
    Notification {
        code,
        subcode,
        data: data.to_vec(),
    }
}

#[test]
fn cases_with_a_clear_rfc_outcome_against_frr() {
    require_root();
    let file = CaseFile::load(&default_path().expect("shared/cases/sessions.json")).unwrap();

    let o = run(&file, "TC00");
    assert!(
        o.notifications.is_empty() && o.established_after,
        "TC00 {o:?}"
    );
    assert!(
        o.routes.contains(&"203.0.113.0/24".parse().unwrap()),
        "TC00 route installed: {o:?}"
    );

    let o = run(&file, "TC47");
    assert_eq!(
        o.notifications,
        vec![notification(1, 2, &[0x00, 0x12])],
        "TC47 {o:?}"
    );
    assert!(o.closed && !o.established_after);

    let o = run(&file, "TC49");
    assert_eq!(
        o.notifications,
        vec![notification(1, 3, &[0x14])],
        "TC49 {o:?}"
    );

    let o = run(&file, "TC50");
    assert_eq!(o.notifications.len(), 1, "TC50 {o:?}");
    assert_eq!(
        (o.notifications[0].code, o.notifications[0].subcode),
        (1, 1),
        "TC50 {o:?}"
    );

    let o = run(&file, "TC51");
    assert_eq!(o.notifications.len(), 1, "TC51 {o:?}");
    assert_eq!(
        (o.notifications[0].code, o.notifications[0].subcode),
        (2, 6),
        "TC51 {o:?}"
    );
    assert!(!o.reached_established);

    let o = run(&file, "TC57");
    assert_eq!(o.notifications.len(), 1, "TC57 {o:?}");
    assert_eq!(
        (o.notifications[0].code, o.notifications[0].subcode),
        (2, 1),
        "TC57 {o:?}"
    );
}
