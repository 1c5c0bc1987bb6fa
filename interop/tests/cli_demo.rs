//! `interop demo` from the command line, as a fresh user meets it: numbers that cannot work
//! are refused, a missing bgpd is said before any lab is built (by the benches too), the
//! `--topology` default is a path a user understands and is found from a clone's root, and
//! an interrupted demo cleans up and exits 128 + the signal (130 for SIGINT, 143 for SIGTERM,
//! 129 for SIGHUP).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn interop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_interop"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The namespaces whose name starts with `prefix`.
fn namespaces(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_project_prefix_that_cannot_work_is_refused_before_anything_runs() {
    for (args, says) in [
        (&["sweep"][..], "the project prefix is empty"),
        (&["cases"], "the project prefix is empty"),
        (&["demo"], "the project prefix is empty"),
        (&["bench"], "the project prefix is empty"),
        (&["takeover-bench"], "the project prefix is empty"),
        (
            &["lab", "down", "topologies/demo.clab.yml"],
            "the project prefix is empty",
        ),
    ] {
        let mut full = args.to_vec();
        full.push("--prefix=");
        let out = interop(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("error: invalid value '' for '--prefix <PREFIX>': ")
                && err.contains(says)
                && err.contains("2-12 lowercase letters or digits followed by '-', e.g. us-"),
            "{args:?}: {err}"
        );
    }
    let out = interop(&["sweep", "--prefix", "US"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"US\" is not a project prefix"),
        "{out:?}"
    );
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

#[test]
fn a_missing_bgpd_is_said_before_the_lab_is_built() {
    let prefix = format!("ust3b{}-", std::process::id() % 10_000);
    // A file that is there but not executable.
    let plain = std::env::temp_dir().join(format!("ust3-not-executable-{}", std::process::id()));
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let plain = plain.to_str().unwrap().to_string();
    for bgpd in ["/nonexistent/bgpd", plain.as_str()] {
        // An MRT dump that does not exist either: the programs are checked first.
        let out = interop(&[
            "demo",
            "--prefix",
            &prefix,
            "--bgpd",
            bgpd,
            "--mrt",
            "/nonexistent/rib.mrt",
        ]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stdout.is_empty(), "nothing was brought up: {out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            err,
            format!(
                "interop: {bgpd}: not found or not executable; the understudy nodes run it \
                 (--bgpd)\n"
            )
        );
        assert!(namespaces(&prefix).is_empty());
    }
    let _ = std::fs::remove_file(&plain);
}

#[test]
fn the_topology_default_is_a_relative_path_found_from_a_clone_root() {
    let help = String::from_utf8(interop(&["demo", "--help"]).stdout).unwrap();
    assert!(
        !help.contains(env!("CARGO_MANIFEST_DIR")),
        "the build's source path: {help}"
    );
    assert!(
        help.contains("[default: topologies/demo.clab.yml"),
        "{help}"
    );
    assert!(help.contains("./interop/ (the root of a clone)"), "{help}");
    // No default is an absolute path of the machine that built interop.
    assert!(!help.contains("[default: /"), "{help}");

    // A clone: its root holds interop/topologies/; `cargo run` runs there.
    let root = std::env::temp_dir().join(format!("ust3-clone-{}", std::process::id()));
    let topologies = root.join("interop/topologies");
    std::fs::create_dir_all(&topologies).unwrap();
    std::fs::write(topologies.join("demo.clab.yml"), "name: demo\n").unwrap();
    let found = interop::demo::find_topology("demo.clab.yml", &root);
    let inner = interop::demo::find_topology("demo.clab.yml", &root.join("interop"));
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(found.unwrap(), topologies.join("demo.clab.yml"));
    assert_eq!(inner.unwrap(), topologies.join("demo.clab.yml"));
    // Run from the workspace root, the demo finds it as interop/topologies/demo.clab.yml and
    // goes on to check bgpd.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_interop"))
        .args(["demo", "--bgpd", "/nonexistent/bgpd"])
        .current_dir(workspace)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("interop: /nonexistent/bgpd: "), "{err}");
}

#[test]
fn an_interrupted_demo_cleans_up_and_exits_130() {
    a_demo_stopped_by_a_signal_cleans_up_and_exits_128_plus_it(libc::SIGINT, "i");
}

#[test]
fn a_demo_sent_sigterm_cleans_up_and_exits_143() {
    a_demo_stopped_by_a_signal_cleans_up_and_exits_128_plus_it(libc::SIGTERM, "t");
}

#[test]
fn a_demo_sent_sighup_cleans_up_and_exits_129() {
    a_demo_stopped_by_a_signal_cleans_up_and_exits_128_plus_it(libc::SIGHUP, "h");
}

/// Starts a demo, sends `signal` once its lab is up, and checks that it exits with 128 +
/// `signal` (as a shell reports a command the signal ended) and leaves no namespace. `tag`
/// keeps the namespace prefixes of the tests apart.
fn a_demo_stopped_by_a_signal_cleans_up_and_exits_128_plus_it(signal: i32, tag: &str) {
    if !nix_is_root() {
        eprintln!("SKIPPED: needs root (network namespaces)");
        return;
    }
    // The lab allows letters and digits before its one dash.
    let prefix = format!("ust3{tag}{}-", std::process::id() % 10_000);
    let topology: PathBuf = [env!("CARGO_MANIFEST_DIR"), "topologies", "small.clab.yml"]
        .iter()
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_interop"))
        .args([
            "demo",
            "--mrt",
            "none",
            "--observe",
            "60",
            "--prefix",
            &prefix,
        ])
        .arg("--topology")
        .arg(&topology)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Interrupt once the lab is up (its namespaces exist).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no `lab ... up` line within 60 s: {seen:?}"));
        let up = line.starts_with("lab ") && line.contains(" up: ");
        seen.push(line);
        if up {
            break;
        }
    }
    assert!(!namespaces(&prefix).is_empty(), "the lab is up: {seen:?}");
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not stop within 60 s of signal {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(128 + signal), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(namespaces(&prefix).is_empty(), "cleaned up");
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn the_benches_check_their_daemons_before_encoding_a_table() {
    // understudy's binaries are looked for in $US_BIN_DIR when it is set.
    let empty = std::env::temp_dir().join(format!("ust3-no-bins-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    for (args, who) in [
        (
            vec![
                "bench",
                "--daemons",
                "bgpd",
                "--prefixes",
                "1000",
                "--no-mrt",
            ],
            "the bench (bgpd under test)",
        ),
        (
            vec![
                "takeover-bench",
                "--sessions",
                "1",
                "--routes",
                "1000",
                "--no-gr",
            ],
            "the takeover bench",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_interop"))
            .args(&args)
            .env("US_BIN_DIR", &empty)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        // One line: nothing was encoded or built before it.
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!(
                "interop: bgpd: not found or not executable; {who} runs understudy's bgpd ({}",
                empty.join("bgpd").display()
            )),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn lab_up_says_how_to_remove_the_lab_under_its_prefix() {
    if !nix_is_root() {
        eprintln!("SKIPPED: needs root (network namespaces)");
        return;
    }
    let prefix = format!("ust3l{}-", std::process::id() % 10_000);
    let topology: PathBuf = [env!("CARGO_MANIFEST_DIR"), "topologies", "small.clab.yml"]
        .iter()
        .collect();
    let t = topology.to_str().unwrap();
    let up = interop(&["lab", "up", "--prefix", &prefix, "--no-daemons", t]);
    let down = interop(&["lab", "down", "--prefix", &prefix, t]);
    assert!(up.status.success(), "{up:?}");
    assert!(down.status.success(), "{down:?}");
    let out = String::from_utf8(up.stdout).unwrap();
    assert!(
        out.contains(&format!(
            "remove it with: interop lab down --prefix {prefix} {t}\n"
        )),
        "{out}"
    );
    assert!(namespaces(&prefix).is_empty());
}
