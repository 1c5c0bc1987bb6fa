//! `interop demo`, `bench` and `takeover-bench` from the command line, as a fresh user meets
//! them: numbers that cannot work are refused before anything is built.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};

fn interop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_interop"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn durations_that_cannot_work_are_refused_with_the_option_named() {
    for (command, option, value) in [
        ("demo", "--timeout", "0"),
        ("demo", "--timeout", "-5"),
        ("demo", "--watch", "nan"),
        ("demo", "--observe", "1e30"),
        ("bench", "--timeout", "0"),
        ("bench", "--runs", "0"),
        ("takeover-bench", "--timeout", "0"),
    ] {
        let out = interop(&[command, &format!("{option}={value}")]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command} {option}={value}: {out:?}"
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with(&format!("error: invalid value '{value}' for '{option} <")),
            "{command} {option}={value}: {err}"
        );
    }
    let err = String::from_utf8(interop(&["demo", "--timeout", "0"]).stderr).unwrap();
    assert!(err.contains("a timeout of 0 s cannot work"), "{err}");
    // Nothing to feed the bench.
    let out = interop(&["bench", "--prefixes", "0", "--no-mrt"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "interop: nothing to feed: --prefixes 0 and no MRT dump (give --prefixes N or --mrt \
         FILE)\n"
    );
}
