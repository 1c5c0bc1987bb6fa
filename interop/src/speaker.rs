//! The understudy speakers of a topology (nodes with role `understudy`): `bgpd` started in
//! the node's namespace with its bound configuration and JSON logs, and what those logs
//! say (the `ha: ...` lines the failover waits for, notes in /work/coord/ha-contract.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::error::{LabError, Result};
use crate::poll::poll_until;
use crate::process::LabProcess;
use crate::topology::instantiate::RunningTopology;
use crate::topology::Role;

/// The configuration file name a speaker's bind ends with.
pub const CONFIG_NAMES: &[&str] = &["bgpd.toml", "*.toml"];

/// One `bgpd` of the lab.
#[derive(Debug)]
pub struct LabSpeaker {
    /// Node name.
    pub node: String,
    /// The node's `understudy.ha` label (`primary`, `standby`), if any.
    pub ha: Option<String>,
    /// The running daemon.
    pub process: LabProcess,
    /// Its namespace.
    pub ns: crate::netns::Netns,
}

/// `bgpd` next to the running executable: `DIR/bgpd`, or `DIR/../bgpd` for a test
/// executable in `target/<profile>/deps`.
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join(name), dir.parent()?.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Starts `bgpd` (the binary `bgpd`) on every understudy node of `rt` whose `understudy.ha`
/// label is not `standby`, and on the standbys too when `with_standby`; primaries first.
/// Each gets `--config` (its bind), `--log-json`, and logs to `{workdir}/{node}/bgpd.log`.
///
/// # Errors
/// A topology error when an understudy node binds no configuration; an I/O error when a
/// process cannot be started; [`LabError::Exited`] when `bgpd --check-config` refuses the
/// configuration.
pub fn start_speakers(
    rt: &RunningTopology,
    bgpd: &Path,
    with_standby: bool,
) -> Result<Vec<LabSpeaker>> {
    let mut nodes: Vec<_> = rt
        .nodes
        .iter()
        .filter(|n| n.role == Role::Understudy)
        .map(|n| (n, n.def.labels.get("understudy.ha").cloned()))
        .filter(|(_, ha)| with_standby || ha.as_deref() != Some("standby"))
        .collect();
    nodes.sort_by_key(|(_, ha)| ha.as_deref() == Some("standby"));
    let mut out = Vec::new();
    for (node, ha) in nodes {
        let conf = rt
            .topology
            .bind_source(node, CONFIG_NAMES)
            .ok_or_else(|| LabError::Topology {
                file: rt.topology.name.clone(),
                detail: format!(
                    "topology.nodes.{}.binds: an understudy node needs its configuration bound (SRC:/etc/understudy/bgpd.toml)",
                    node.name
                ),
            })?;
        let check = std::process::Command::new(bgpd)
            .arg("--check-config")
            .arg(&conf)
            .output()
            .map_err(|e| LabError::io(bgpd, e))?;
        if !check.status.success() {
            return Err(LabError::Exited {
                name: format!("bgpd --check-config {}", conf.display()),
                status: check.status.to_string(),
                log: String::from_utf8_lossy(&check.stderr).trim().to_string(),
            });
        }
        let dir = rt.lab.subdir(&node.name)?;
        let conf_s = conf.to_string_lossy().into_owned();
        let process = LabProcess::spawn(
            rt.ns(&node.name)?,
            &format!("bgpd on {}", node.name),
            &bgpd.to_string_lossy(),
            &["--config", &conf_s, "--log-json"],
            &[("RUST_LOG", "info")],
            &dir.join("bgpd.log"),
        )?;
        out.push(LabSpeaker {
            node: node.name.clone(),
            ha,
            process,
            ns: rt.ns(&node.name)?.clone(),
        });
    }
    Ok(out)
}

/// The JSON log lines of a `bgpd --log-json` log (other lines skipped).
pub fn log_events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// The message of a tracing JSON log line (`fields.message`).
pub fn message(event: &Value) -> Option<&str> {
    event.pointer("/fields/message")?.as_str()
}

/// A numeric field of a tracing JSON log line (`fields.NAME`, a number or a numeric string).
pub fn field_f64(event: &Value, name: &str) -> Option<f64> {
    let v = event.get("fields")?.get(name)?;
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

impl LabSpeaker {
    /// `understudy --json ha` against this speaker (its default admin address in its
    /// namespace): role, synchronised, connected, Loc-RIB routes and digest, last takeover.
    ///
    /// # Errors
    /// When the CLI is missing, fails, or prints no JSON.
    pub fn ha_status(&self) -> Result<Value> {
        let cli = sibling_binary("understudy").ok_or_else(|| LabError::Topology {
            file: "<lab>".into(),
            detail: "the understudy CLI is missing next to this executable (cargo build --release -p bgpd)".into(),
        })?;
        let out = self.ns.exec(&cli.to_string_lossy(), &["--json", "ha"])?;
        serde_json::from_str(out.trim()).map_err(|e| LabError::parse("understudy ha --json", e))
    }

    /// Every JSON log line so far.
    pub fn events(&self) -> Vec<Value> {
        log_events(&std::fs::read_to_string(self.process.log_path()).unwrap_or_default())
    }

    /// Waits up to `timeout` for a log line whose message starts with `prefix`; returns it.
    /// Fails at once when the daemon exits.
    ///
    /// # Errors
    /// [`LabError::Exited`] when bgpd is gone, a timeout error otherwise.
    pub fn wait_log(&mut self, prefix: &str, timeout: Duration) -> Result<Value> {
        let what = format!("bgpd on {} to log {prefix:?}", self.node);
        poll_until(&what, timeout, Duration::from_millis(5), || {
            if let Some(e) = self
                .events()
                .into_iter()
                .find(|e| message(e).is_some_and(|m| m.starts_with(prefix)))
            {
                return Ok(Some(e));
            }
            self.process.check_running()?;
            Ok(None)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_log_lines_are_read() {
        let text = "not json\n{\"timestamp\":\"t\",\"level\":\"INFO\",\"fields\":{\"message\":\"ha: takeover complete\",\"sessions\":2,\"failed\":0,\"takeover_ms\":12.5},\"target\":\"bgpd\"}\n{\"fields\":{\"message\":\"x\",\"n\":\"3.5\"}}\n";
        let ev = log_events(text);
        assert_eq!(ev.len(), 2);
        assert_eq!(message(&ev[0]), Some("ha: takeover complete"));
        assert_eq!(field_f64(&ev[0], "takeover_ms"), Some(12.5));
        assert_eq!(field_f64(&ev[0], "sessions"), Some(2.0));
        assert_eq!(field_f64(&ev[1], "n"), Some(3.5));
        assert_eq!(field_f64(&ev[1], "missing"), None);
    }
}
