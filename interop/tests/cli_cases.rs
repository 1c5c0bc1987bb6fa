//! `interop cases` from the command line: an unknown case id is an error (no lab is built).
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn an_unknown_case_id_fails_and_names_it() {
    let dir = std::env::temp_dir().join(format!("interop-cli-cases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sessions.json");
    std::fs::write(
        &file,
        r#"{"context": {"named_opens": {}}, "cases": [
          {"id": "TC00", "title": "a", "phase": "established", "open": null, "messages": [], "expect": "", "rfc": ""}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_interop"))
        .args(["cases", "--prefix", "uspo-", "--file"])
        .arg(&file)
        .arg("TC99999")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "interop: cannot parse case ids: no case TC99999 in the file (it has TC00 to TC00)\n"
    );
}
