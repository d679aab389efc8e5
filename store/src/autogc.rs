//! Automatic garbage collection (`min-free`, `max-free`, `min-free-check-interval`): while
//! builds run and when paths are added, the free space of the store's file system is
//! checked at most once per interval; below `min-free`, a collection in the background
//! frees up to `max-free` minus what is free. Additions wait for a running collection;
//! builds do not. A collection that freed little (less than 3% more space than after the
//! previous one) is not started again until the space drops further.
//!
//! `_NIX_TEST_FREE_SPACE_FILE` names a file that holds the free space to assume, as Nix's
//! test suite uses it.

use crate::local::{lock, LocalStore, Log};
use crate::store::{GcAction, GcOptions};
use crate::StoreError;
use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The settings of the automatic collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoGcPolicy {
    pub min_free: u64,
    pub max_free: u64,
    pub check_interval: Duration,
}

impl Default for AutoGcPolicy {
    fn default() -> Self {
        AutoGcPolicy {
            min_free: 0,
            max_free: u64::MAX,
            check_interval: Duration::from_secs(5),
        }
    }
}

/// A collection in the background; `true` once it is over.
type Running = Arc<(Mutex<bool>, Condvar)>;

#[derive(Debug)]
pub(crate) struct AutoGc {
    pub(crate) policy: AutoGcPolicy,
    last_check: Option<Instant>,
    running: Option<Running>,
    avail_after_gc: u64,
}

impl Default for AutoGc {
    fn default() -> Self {
        AutoGc {
            policy: AutoGcPolicy::default(),
            last_check: None,
            running: None,
            avail_after_gc: u64::MAX,
        }
    }
}

/// The bytes free for unprivileged users on the store's file system.
fn available(store_real_dir: &std::path::Path) -> Result<u64, StoreError> {
    if let Some(f) = std::env::var_os("_NIX_TEST_FREE_SPACE_FILE") {
        let text = std::fs::read_to_string(&f).map_err(|e| {
            StoreError::io(
                format!("reading '{}'", std::path::Path::new(&f).display()),
                &e,
            )
        })?;
        return text.trim().parse::<u64>().map_err(|_| {
            StoreError::Other(format!(
                "invalid free space '{}' in the test file",
                text.trim()
            ))
        });
    }
    let st = nix::sys::statvfs::statvfs(store_real_dir).map_err(|e| {
        StoreError::io(
            format!(
                "getting filesystem info about '{}'",
                store_real_dir.display()
            ),
            &std::io::Error::from(e),
        )
    })?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

impl LocalStore {
    /// Sets `min-free`, `max-free` and `min-free-check-interval`.
    pub fn set_auto_gc_policy(&self, p: AutoGcPolicy) {
        lock(&self.auto_gc).policy = p;
    }

    /// Checks the free space and starts a collection if it is short (see the module
    /// documentation). With `sync`, waits for a running collection to end. Errors of the
    /// collection itself are reported and ignored, as in Nix.
    pub fn auto_gc(&self, sync: bool) {
        let running = {
            let mut g = lock(&self.auto_gc);
            if g.policy.min_free == 0 || self.config().read_only {
                return;
            }
            match &g.running {
                Some(r) => r.clone(),
                None => {
                    let now = Instant::now();
                    if g.last_check
                        .is_some_and(|t| now < t + g.policy.check_interval)
                    {
                        return;
                    }
                    let avail = match available(&self.config().real_dir) {
                        Ok(a) => a,
                        Err(e) => {
                            self.log(Log::Error(format!("error (ignored): {e}")));
                            return;
                        }
                    };
                    g.last_check = Some(now);
                    if avail >= g.policy.min_free || avail >= g.policy.max_free {
                        return;
                    }
                    if avail as f64 > g.avail_after_gc as f64 * 0.97 {
                        return;
                    }
                    let r: Running = Arc::new((Mutex::new(false), Condvar::new()));
                    g.running = Some(r.clone());
                    self.start_collection(g.policy.max_free - avail, r.clone());
                    r
                }
            }
        };
        if sync {
            let (m, cv) = &*running;
            let mut done = lock(m);
            while !*done {
                done = cv.wait(done).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Collects up to `max_freed` bytes on a thread of its own, through a store handle of
    /// its own (the collector serves the roots socket meanwhile, so builds and additions
    /// in this process go on).
    fn start_collection(&self, max_freed: u64, running: Running) {
        let cfg = self.config().clone();
        let logger = self.logger_handle();
        let gc_policy = self.gc_policy();
        let state = self.auto_gc.clone();
        std::thread::spawn(move || {
            let log = |m: Log| {
                if let Some(l) = &logger {
                    l(m)
                }
            };
            log(Log::Info(format!(
                "running auto-GC to free {max_freed} bytes"
            )));
            let real_dir = cfg.real_dir.clone();
            let r = LocalStore::open(cfg).and_then(|s| {
                if let Some(l) = &logger {
                    s.set_logger(l.clone());
                }
                crate::gc::collect_garbage(
                    &s,
                    &GcOptions {
                        action: GcAction::DeleteDead,
                        paths: BTreeSet::new(),
                        ignore_liveness: false,
                        max_freed,
                    },
                    gc_policy,
                )
            });
            let after = available(&real_dir);
            {
                let mut g = lock(&state);
                if let Ok(a) = after {
                    g.avail_after_gc = a;
                }
                g.running = None;
                g.last_check = Some(Instant::now());
            }
            if let Err(e) = r {
                log(Log::Error(format!("error (ignored): {e}")));
            }
            let (m, cv) = &*running;
            *lock(m) = true;
            cv.notify_all();
        });
    }
}
