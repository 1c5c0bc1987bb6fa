//! The evidence of a failed lab test: the work directories (bgpd's logs, the neighbours'
//! logs, captures, configurations) of every lab a test thread made outlive the lab, and are
//! kept when the test fails.
//!
//! A [`crate::Lab`] made on a test thread (any named thread but `main`: libtest runs each
//! test on a thread of its own, named after the test) hands its work directory here when it
//! is torn down, instead of deleting it: it is moved (a rename, no copy) to
//! `/tmp/understudy-lab-logs/{test}-{pid}/{lab id}`. When the thread ends, the directory is
//! deleted, unless the thread panicked (a failed assertion): then it stays, and its path is
//! printed on stderr, at the panic (beside the panic message) and again when the thread
//! ends. Many lab tests only look at what a scenario reported after its lab is gone, so the
//! lab itself cannot know whether the test will fail; the thread can. Any panic on the thread
//! counts, also one the test catches itself (`catch_unwind`): the panic hook cannot know it
//! will be caught. A test that means to fail inside a lab does so on a thread of its own (as
//! `lab_topology::lab_is_removed_when_a_test_panics` does).
//!
//! The `interop` binary makes its labs on the main thread: their work directories are
//! deleted at once, as before. `US_LAB_KEEP=1` keeps every work directory where it is.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Where the kept evidence of failed lab tests goes.
pub const EVIDENCE_ROOT: &str = "/tmp/understudy-lab-logs";

/// The labs a test thread made, torn down so far, and whether the thread panicked.
struct Keeper {
    /// `{EVIDENCE_ROOT}/{test}-{pid}`.
    dir: PathBuf,
    /// The test thread has panicked: keep `dir`.
    panicked: bool,
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if !self.dir.exists() {
            return;
        }
        if self.panicked {
            eprintln!(
                "lab logs of the failed test kept in {} (remove it when read)",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
            // The root stays: other tests may be keeping evidence in it.
        }
    }
}

thread_local! {
    static KEEPER: RefCell<Option<Keeper>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Makes the current thread keep its labs' evidence when it is a test thread (named, not
/// `main`); called by [`crate::Lab::new`]. Installs, once per process, a panic hook (in front
/// of the one there was) that marks the panicking thread and prints where its evidence is.
pub(crate) fn arm() {
    let thread = std::thread::current();
    let Some(name) = thread.name().filter(|n| *n != "main") else {
        return;
    };
    let dir = Path::new(EVIDENCE_ROOT).join(format!("{}-{}", file_name(name), std::process::id()));
    let _ = KEEPER.try_with(|k| {
        if let Ok(mut k) = k.try_borrow_mut() {
            if k.is_none() {
                *k = Some(Keeper {
                    dir,
                    panicked: false,
                });
            }
        }
    });
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = KEEPER.try_with(|k| {
                if let Ok(mut k) = k.try_borrow_mut() {
                    if let Some(k) = k.as_mut() {
                        k.panicked = true;
                        eprintln!(
                            "lab logs of this test (bgpd, neighbours, captures) are kept in {}",
                            k.dir.display()
                        );
                    }
                }
            });
            previous(info);
        }));
    });
}

/// Moves the torn-down lab's work directory `workdir` (lab `id`) into the current test
/// thread's evidence directory. False when the thread keeps no evidence (not a test thread)
/// or the move failed: the caller deletes `workdir` then.
pub(crate) fn keep(workdir: &Path, id: &str) -> bool {
    KEEPER
        .try_with(|k| {
            let Ok(k) = k.try_borrow() else {
                return false;
            };
            let Some(k) = k.as_ref() else {
                return false;
            };
            if std::fs::create_dir_all(&k.dir).is_err() {
                return false;
            }
            let to = k.dir.join(id);
            let _ = std::fs::remove_dir_all(&to);
            std::fs::rename(workdir, &to).is_ok()
        })
        .unwrap_or(false)
}

/// A test name as one path component: `module::test` becomes `module-test`, and anything
/// but letters, digits, `-` and `_` becomes `_`.
fn file_name(test: &str) -> String {
    test.replace("::", "-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_test_name_is_one_path_component() {
        assert_eq!(file_name("a::b_c"), "a-b_c");
        assert_eq!(file_name("x/y z"), "x_y_z");
    }

    /// A work directory handed over on a test thread that passes is gone when the thread
    /// ends; on one that panics it is kept, under the test's name.
    #[test]
    fn evidence_is_kept_only_when_the_test_thread_panics() {
        let run = |name: &str, fail: bool| {
            let name = name.to_string();
            std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    arm();
                    let workdir = std::env::temp_dir()
                        .join(format!("usevidence-{name}-{}", std::process::id()));
                    std::fs::create_dir_all(&workdir).unwrap();
                    std::fs::write(workdir.join("bgpd.log"), "the log\n").unwrap();
                    assert!(keep(&workdir, "lab1"));
                    assert!(!workdir.exists());
                    assert!(!fail, "failing on purpose");
                })
                .unwrap()
                .join()
                .is_ok()
        };
        let pid = std::process::id();
        let passed = format!("{EVIDENCE_ROOT}/evidence_unit_pass-{pid}");
        let failed = format!("{EVIDENCE_ROOT}/evidence_unit_fail-{pid}");
        assert!(run("evidence_unit_pass", false));
        assert!(!Path::new(&passed).exists());
        assert!(!run("evidence_unit_fail", true));
        let log = std::fs::read_to_string(format!("{failed}/lab1/bgpd.log"));
        let _ = std::fs::remove_dir_all(&failed);
        assert_eq!(log.unwrap(), "the log\n");
    }
}
