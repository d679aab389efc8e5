//! `nix-instantiate --workers N` with several `-A` attributes: the attributes are split into
//! up to N runs of consecutive attributes, each evaluated in a process of its own (forked
//! before anything is opened or evaluated), and what each printed is then replayed in order,
//! stopping after the first that failed. The output, the errors and the exit status are those
//! of one sequential evaluation:
//!
//! - a process evaluates its attributes in order, as the sequential run would;
//! - the output of the runs after a failed one is dropped, as the sequential run would never
//!   have evaluated them;
//! - the warning that the `.drv` paths are not roots, printed once per process, is kept only
//!   where the sequential run prints it: in the first run that printed a derivation.
//!
//! What is not shared is the work: each process evaluates what its attributes need on its
//! own (nixpkgs' `stdenv`, say), so this pays off for attributes that each take a while.

use crate::shared::eval::{InstantiateArgs, GC_WARNING};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

/// The runs `args` splits into, or `None` when it must be evaluated in one process: fewer
/// than two workers or attributes, more than one input (files and attributes interleave),
/// standard input, `--add-root` (whose links are numbered across all attributes), or a mode
/// other than evaluation.
pub fn split(args: &InstantiateArgs) -> Option<Vec<InstantiateArgs>> {
    let n = args.workers.min(args.attr.len());
    if n < 2
        || args.files.len() > 1
        || (args.files.is_empty() && args.expr)
        || args.files.iter().any(|f| f == "-")
        || args.add_root.is_some()
        || args.parse
        || args.find_file
    {
        return None;
    }
    let per = args.attr.len().div_ceil(n);
    Some(
        args.attr
            .chunks(per)
            .map(|attrs| InstantiateArgs {
                attr: attrs.to_vec(),
                workers: 1,
                ..args.clone()
            })
            .collect(),
    )
}

/// The number of threads of this process (fork is only safe with one).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(usize::MAX, |d| d.count())
}

/// What one run printed, and how it ended.
struct Finished {
    out: Vec<u8>,
    err: Vec<u8>,
    status: i32,
}

/// Runs each of `runs` with `run` in a forked process and replays their output in order;
/// returns the exit status. `None` when forking is not safe here (more than one thread) or
/// failed before any process started: the caller then evaluates in this process.
pub fn run_all(runs: &[InstantiateArgs], run: impl Fn(&InstantiateArgs) -> i32) -> Option<i32> {
    let finished = run_forked(runs, run)?;
    Some(replay(&finished, true).1)
}

/// As [`run_all`], but what the runs print on standard output is returned (in order, up to
/// the first failure) rather than printed; their messages are printed. `nix-build` takes
/// the `.drv` paths to build this way.
pub fn run_collect(
    runs: &[InstantiateArgs],
    run: impl Fn(&InstantiateArgs) -> i32,
) -> Option<(Vec<u8>, i32)> {
    let finished = run_forked(runs, run)?;
    Some(replay(&finished, false))
}

/// Forks a process per run and waits for them all; `None` when forking is not safe here.
fn run_forked(
    runs: &[InstantiateArgs],
    run: impl Fn(&InstantiateArgs) -> i32,
) -> Option<Vec<Finished>> {
    if thread_count() != 1 {
        return None;
    }
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let mut started: Vec<(nix::unistd::Pid, OwnedFd, OwnedFd)> = Vec::new();
    for r in runs {
        let (Ok((out_r, out_w)), Ok((err_r, err_w))) = (nix::unistd::pipe(), nix::unistd::pipe())
        else {
            break;
        };
        // SAFETY: the process has one thread (checked above, and nothing here starts one
        // before the last fork), so the child may run any code.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                // In the child: standard output and error go to the pipes.
                // SAFETY: the descriptors are open; dup2 only replaces 1 and 2.
                unsafe {
                    libc::dup2(out_w.as_raw_fd(), 1);
                    libc::dup2(err_w.as_raw_fd(), 2);
                }
                drop((out_r, out_w, err_r, err_w));
                for (_, a, b) in started.drain(..) {
                    drop((a, b));
                }
                let status = run(r);
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                // SAFETY: ends the child without running the parent's exit handlers twice.
                unsafe { libc::_exit(status) };
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                drop((out_w, err_w));
                started.push((child, out_r, err_r));
            }
            Err(_) => break,
        }
    }
    if started.len() < runs.len() {
        // Not every run could start: end those that did and evaluate here instead.
        for (pid, _, _) in &started {
            let _ = nix::sys::signal::kill(*pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(*pid, None);
        }
        return None;
    }
    // Every pipe is read at once, so that no process waits on a full pipe.
    let finished: Vec<Finished> = std::thread::scope(|s| {
        let readers: Vec<_> = started
            .into_iter()
            .map(|(pid, out_r, err_r)| {
                let out = s.spawn(move || read_all(out_r));
                let err = s.spawn(move || read_all(err_r));
                (pid, out, err)
            })
            .collect();
        readers
            .into_iter()
            .map(|(pid, out, err)| Finished {
                out: out.join().unwrap_or_default(),
                err: err.join().unwrap_or_default(),
                status: exit_status(pid),
            })
            .collect()
    });
    if std::env::var_os("FERRIX_SHOW_STATS").is_some() {
        eprintln!("evaluation processes: {}", finished.len());
    }
    Some(finished)
}

/// Everything readable from `fd` until its end.
fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = std::fs::File::from(fd).read_to_end(&mut buf);
    buf
}

/// The exit status of a child, as the shell would give it.
fn exit_status(pid: nix::unistd::Pid) -> i32 {
    use nix::sys::wait::WaitStatus;
    match nix::sys::wait::waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, sig, _)) => {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "error: evaluation process killed by signal {sig}");
            128 + sig as i32
        }
        _ => 1,
    }
}

/// Prints what the runs printed, in order, up to the first that failed, and returns its
/// status (0 when none failed). Standard output is printed when `print_out`, else returned.
fn replay(finished: &[Finished], print_out: bool) -> (Vec<u8>, i32) {
    let mut warned = false;
    let mut warning = GC_WARNING.as_bytes().to_vec();
    warning.push(b'\n');
    let mut kept = Vec::new();
    for f in finished {
        let mut err = f.err.clone();
        if warned {
            if let Some(i) = find(&err, &warning) {
                err.drain(i..i + warning.len());
            }
        }
        warned |= !f.out.is_empty() && find(&f.err, &warning).is_some();
        if print_out {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&f.out).and_then(|_| out.flush());
        } else {
            kept.extend_from_slice(&f.out);
        }
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(&err).and_then(|_| e.flush());
        if f.status != 0 {
            return (kept, f.status);
        }
    }
    (kept, 0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(attrs: &[&str], workers: usize) -> InstantiateArgs {
        InstantiateArgs {
            files: vec!["f.nix".into()],
            attr: attrs.iter().map(|s| s.to_string()).collect(),
            workers,
            ..InstantiateArgs::default()
        }
    }

    #[test]
    fn splits_into_runs_of_consecutive_attributes() {
        let runs = split(&args(&["a", "b", "c", "d", "e"], 2)).unwrap();
        let attrs: Vec<Vec<String>> = runs.iter().map(|r| r.attr.clone()).collect();
        assert_eq!(attrs, vec![vec!["a", "b", "c"], vec!["d", "e"]]);
        assert!(runs.iter().all(|r| r.workers == 1 && r.files == ["f.nix"]));
        assert_eq!(split(&args(&["a", "b"], 8)).unwrap().len(), 2);
    }

    #[test]
    fn stays_in_one_process_where_order_or_numbering_depends_on_it() {
        assert!(split(&args(&["a", "b"], 1)).is_none());
        assert!(split(&args(&["a"], 4)).is_none());
        let mut two_files = args(&["a", "b"], 2);
        two_files.files.push("g.nix".into());
        assert!(split(&two_files).is_none());
        let mut stdin = args(&["a", "b"], 2);
        stdin.files = vec!["-".into()];
        assert!(split(&stdin).is_none());
        let mut root = args(&["a", "b"], 2);
        root.add_root = Some("r".into());
        assert!(split(&root).is_none());
    }

    #[test]
    fn replay_stops_at_the_first_failure_and_warns_once() {
        let w = format!("{GC_WARNING}\n");
        let f = |out: &str, err: String, status| Finished {
            out: out.into(),
            err: err.into_bytes(),
            status,
        };
        // Only the status is observable here; the printing goes to this test's streams.
        let runs = [
            f("/a.drv\n", w.clone(), 0),
            f("/b.drv\n", format!("trace: x\n{w}"), 0),
            f("", "error: boom\n".into(), 1),
            f("/d.drv\n", w.clone(), 0),
        ];
        assert_eq!(replay(&runs, true), (Vec::new(), 1));
        assert_eq!(replay(&runs[..2], true).1, 0);
        // Collected, the output stops at the failure too.
        assert_eq!(replay(&runs, false), (b"/a.drv\n/b.drv\n".to_vec(), 1));
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
    }
}
