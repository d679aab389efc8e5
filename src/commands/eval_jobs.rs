//! `ferrix eval-jobs` / `nix-eval-jobs`: evaluates every derivation of an attribute set, as
//! Hydra's evaluator does, in worker processes, and prints one JSON line per attribute.
//!
//! The process the user starts is the collector. It starts `--workers` worker processes
//! (the same binary, told by [`WORKER_ENV`] what it is), each of which evaluates the root
//! expression once and then takes jobs: an attribute path, to which it answers with a line
//! to print (a derivation's `drvPath`, `outputs`, ..., or the error), with the names below
//! the path when the collector should go on there (the root, and sets with
//! `recurseForDerivations = true`), or with nothing. The collector keeps one queue of paths
//! for all the workers, so one slow or failing attribute holds up nothing else.
//!
//! Memory: the evaluator's arena only grows, so a worker's resident size follows everything
//! it has evaluated. A worker leaves after a job that took it past 15/16 of
//! `--max-memory-size`, and the collector starts a new one when there is more to do. A
//! watchdog thread also stops a job that would take the worker past the limit itself: the
//! evaluation is interrupted, the worker leaves, and the job is given to a fresh worker; a
//! fresh worker that still cannot evaluate it reports the attribute as an error. So no
//! worker goes over the limit, and every attribute is evaluated at most twice.
//!
//! The lines are printed as jobs finish, so their order depends on timing; their content
//! does not, and is what one sequential evaluation would give.

use crate::cli::{parse, scan::Spec, CommandSpec, Invocation, Program};
use crate::shared::eval::{self as shared_eval, InstantiateArgs};
use ferrix_eval::error::EvalError;
use ferrix_eval::value::{Attr, AttrSet, Value};
use ferrix_eval::{Evaluator, Pos};
use serde_json::{json, Map, Value as Json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Set in a worker's environment; the collector starts workers with it.
const WORKER_ENV: &str = "FERRIX_EVAL_JOBS_WORKER";

/// The clap side of `nix-eval-jobs`'s flags.
#[derive(clap::Parser, Debug)]
#[command(override_usage = "nix-eval-jobs [OPTIONS] FILE")]
pub(crate) struct Cli {
    /// The file to evaluate, or with --expr, the expression
    #[arg(value_name = "FILE")]
    file: Option<String>,
    /// Treat the argument as a Nix expression rather than a file name
    #[arg(short = 'E', long = "expr")]
    expr: bool,
    /// Number of evaluation worker processes [default: one per core]
    #[arg(long = "workers", value_name = "N")]
    workers: Option<usize>,
    /// Restart a worker before its resident memory passes this many MiB
    #[arg(long = "max-memory-size", value_name = "MIB", default_value_t = 4096)]
    max_memory_size: u64,
    /// Make each derivation a garbage collector root, a link in DIR named as the .drv
    #[arg(long = "gc-roots-dir", value_name = "DIR")]
    gc_roots_dir: Option<String>,
    /// Include each derivation's meta attributes in its line
    #[arg(long = "meta")]
    meta: bool,
    /// Recurse into every attribute set, not only those with recurseForDerivations
    #[arg(long = "force-recurse")]
    force_recurse: bool,
}

impl CommandSpec for Cli {
    const PROGRAM: Program = Program::EvalJobs;
    const SPEC: Spec = Spec::LEGACY;
    const EVAL_FLAGS: bool = true;
}

/// Everything `nix-eval-jobs` was asked to do.
#[derive(Clone, Debug)]
pub struct EvalJobsArgs {
    /// What to evaluate and how: the file or expression, `--arg`s, `-I`, settings.
    pub eval: InstantiateArgs,
    /// `--workers`.
    pub workers: usize,
    /// `--max-memory-size`, in bytes.
    pub max_memory: u64,
    /// `--gc-roots-dir`.
    pub gc_roots_dir: Option<String>,
    /// `--meta`.
    pub meta: bool,
    /// `--force-recurse`.
    pub force_recurse: bool,
}

/// Parses `nix-eval-jobs`'s arguments (argv without the program name).
pub fn parse_args(inv: &Invocation, args: &[String]) -> Result<EvalJobsArgs, i32> {
    let p = parse::<Cli>(inv, args)?;
    let c = p.cli;
    let Some(file) = c.file else {
        return Err(inv.usage_error("no expression specified"));
    };
    let workers = match c.workers {
        Some(0) => return Err(inv.usage_error("'--workers' must be at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if c.max_memory_size == 0 {
        return Err(inv.usage_error("'--max-memory-size' must be at least 1"));
    }
    let read_only = p.common.readonly_mode;
    Ok(EvalJobsArgs {
        eval: InstantiateArgs {
            files: vec![file],
            expr: c.expr,
            read_only,
            ..InstantiateArgs::from_flags(p.eval, p.common)
        },
        workers,
        max_memory: c.max_memory_size.saturating_mul(1 << 20),
        gc_roots_dir: c.gc_roots_dir,
        meta: c.meta,
        force_recurse: c.force_recurse,
    })
}

/// Entry point of `nix-eval-jobs`: the collector, or in a worker process, the worker.
pub fn main(inv: &Invocation, args: &[String]) -> i32 {
    let a = match parse_args(inv, args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if std::env::var_os(WORKER_ENV).is_some() {
        return worker(&a);
    }
    collect(&a, args)
}

// ---------------------------------------------------------------------------------------
// The collector.

/// The work left, shared by the threads that drive the workers.
///
/// Each worker slot has its own list, taken from the front, and the jobs a job finds go to
/// the front of its finder's list. A slot whose list is empty takes the back half of the
/// longest other list. So each worker evaluates a run of neighbouring attributes, and the
/// members of a set right after the set: work that shares what a worker has already
/// evaluated (a package set, the same dependencies) stays on that worker. Handed out one by
/// one in turn, every worker would evaluate nearly everything the whole set needs, and
/// again after each restart: 2.2 times the CPU time of one process over nixpkgs.
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

struct QueueState {
    /// What each worker slot has to do, in order.
    todo: Vec<VecDeque<Vec<String>>>,
    /// Jobs given out and not finished: while there are some, more work may come.
    in_flight: usize,
    /// Set when the root could not be evaluated: everything stops.
    failed: bool,
}

impl Queue {
    /// A queue for `slots` worker slots, holding the root job in the first slot's list.
    fn new(slots: usize) -> Queue {
        let mut todo = vec![VecDeque::new(); slots.max(1)];
        todo[0].push_back(Vec::new());
        Queue {
            state: Mutex::new(QueueState {
                todo,
                in_flight: 0,
                failed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// Slot `slot`'s next job, waiting while others may still add some; `None` when all is
    /// done.
    fn take(&self, slot: usize) -> Option<Vec<String>> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if s.failed {
                return None;
            }
            if s.todo[slot].is_empty() {
                s.steal_for(slot);
            }
            if let Some(job) = s.todo[slot].pop_front() {
                s.in_flight += 1;
                return Some(job);
            }
            if s.in_flight == 0 {
                return None;
            }
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Marks a job of `slot` finished, adding the jobs it found in front of the slot's list.
    fn finish(&self, slot: usize, more: Vec<Vec<String>>, failed: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let own = &mut s.todo[slot];
        for job in more.into_iter().rev() {
            own.push_front(job);
        }
        s.in_flight -= 1;
        s.failed |= failed;
        self.changed.notify_all();
    }
}

impl QueueState {
    /// Moves the back half (at least one job) of the longest other list to `slot`'s.
    fn steal_for(&mut self, slot: usize) {
        let Some(from) = (0..self.todo.len())
            .filter(|&i| i != slot)
            .max_by_key(|&i| self.todo[i].len())
        else {
            return;
        };
        let n = self.todo[from].len();
        if n == 0 {
            return;
        }
        let stolen = self.todo[from].split_off(n / 2);
        self.todo[slot].extend(stolen);
    }
}

/// How many workers were started, for `FERRIX_SHOW_STATS`.
static STARTED: AtomicUsize = AtomicUsize::new(0);
/// How many jobs were given to a fresh worker again, for `FERRIX_SHOW_STATS`.
static RETRIED: AtomicUsize = AtomicUsize::new(0);

/// One running worker process.
struct Worker {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
    /// Jobs it has answered.
    done: usize,
}

impl Worker {
    /// Starts a worker and waits until it has evaluated the root; `Err` holds the error
    /// to print when it could not.
    fn start(args: &[String], max_memory: u64) -> Result<Worker, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the ferrix executable: {e}"))?;
        let mut child = Command::new(exe)
            .arg(Program::EvalJobs.subcommand())
            .args(args)
            .env(WORKER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start an evaluation worker: {e}"))?;
        STARTED.fetch_add(1, Ordering::Relaxed);
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot talk to an evaluation worker".into());
        };
        let mut w = Worker {
            child,
            to,
            from: BufReader::new(from),
            done: 0,
        };
        match w.read() {
            Some(m) if m.get("ready").is_some() => Ok(w),
            Some(m) => {
                let msg = m
                    .get("fatal")
                    .and_then(Json::as_str)
                    .unwrap_or("evaluation worker failed")
                    .to_string();
                w.stop();
                Err(msg)
            }
            None => {
                let ended = w.stop();
                Err(if ended.code() == Some(LIMIT_EXIT) {
                    limit_text(max_memory)
                } else {
                    format!("error: evaluation worker ended unexpectedly ({ended})")
                })
            }
        }
    }

    /// The next message, or `None` when the worker is gone or says something unreadable.
    fn read(&mut self) -> Option<Map<String, Json>> {
        let mut line = String::new();
        match self.from.read_line(&mut line) {
            Ok(n) if n > 0 => match serde_json::from_str(&line) {
                Ok(Json::Object(m)) => Some(m),
                _ => None,
            },
            _ => None,
        }
    }

    /// Asks for one job and returns the answer.
    fn ask(&mut self, path: &[String]) -> Option<Map<String, Json>> {
        let mut line = json!({ "do": path }).to_string();
        line.push('\n');
        self.to.write_all(line.as_bytes()).ok()?;
        self.to.flush().ok()?;
        self.read()
    }

    /// Ends the worker (closing its input ends its loop) and returns how it ended.
    fn stop(mut self) -> Ended {
        drop(self.to);
        Ended(self.child.wait().ok())
    }
}

/// How a worker ended, as far as it could be learnt.
struct Ended(Option<std::process::ExitStatus>);

impl Ended {
    fn code(&self) -> Option<i32> {
        self.0.and_then(|s| s.code())
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(s) => write!(f, "{s}"),
            None => f.write_str("status unknown"),
        }
    }
}

/// Prints one result line, whole, as soon as it is known.
fn print_line(line: &Json) {
    let mut text = line.to_string();
    text.push('\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// `attr` as nix-eval-jobs writes it: the names joined with dots, a name with a dot quoted.
fn attr_text(path: &[String]) -> String {
    path.iter()
        .map(|n| {
            if n.contains('.') {
                format!("\"{n}\"")
            } else {
                n.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The error line of an attribute.
fn error_line(path: &[String], msg: &str) -> Json {
    json!({ "attr": attr_text(path), "attrPath": path, "error": msg })
}

/// Drives one worker slot: takes jobs, (re)starts its worker, and handles the answers.
fn drive(
    slot: usize,
    queue: &Queue,
    a: &EvalJobsArgs,
    args: &[String],
    fatal: &Mutex<Option<String>>,
) {
    let mut worker: Option<Worker> = None;
    while let Some(job) = queue.take(slot) {
        let mut more = Vec::new();
        let mut failed = false;
        // A job that took its worker to the memory limit is tried again on a fresh worker;
        // one that does so on a fresh worker is reported.
        loop {
            let mut w = match worker.take() {
                Some(w) => w,
                None => match Worker::start(args, a.max_memory) {
                    Ok(w) => w,
                    Err(msg) => {
                        let mut f = fatal.lock().unwrap_or_else(|e| e.into_inner());
                        f.get_or_insert(msg);
                        failed = true;
                        break;
                    }
                },
            };
            let fresh = w.done == 0;
            let reply = w.ask(&job);
            let out_of_room = match &reply {
                Some(r) => r.get("retry").and_then(Json::as_bool) == Some(true),
                None => false,
            };
            let Some(reply) = reply.filter(|_| !out_of_room) else {
                let status = w.stop();
                let limit = out_of_room || status.code() == Some(LIMIT_EXIT);
                if limit && !fresh {
                    RETRIED.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let msg = if limit {
                    limit_message(a)
                } else {
                    format!("error: evaluation worker ended unexpectedly ({status})")
                };
                print_line(&error_line(&job, &msg));
                break;
            };
            w.done += 1;
            if let Some(line) = reply.get("line") {
                print_line(line);
            }
            if let Some(Json::Array(names)) = reply.get("attrs") {
                for n in names {
                    if let Some(n) = n.as_str() {
                        let mut p = job.clone();
                        p.push(n.to_string());
                        more.push(p);
                    }
                }
            }
            if reply.get("restart").and_then(Json::as_bool) == Some(true) {
                w.stop();
            } else {
                worker = Some(w);
            }
            break;
        }
        queue.finish(slot, more, failed);
    }
    if let Some(w) = worker {
        w.stop();
    }
}

/// The collector: starts the workers and prints what they find; the exit status is 1 when
/// the root could not be evaluated, else 0 (attributes' errors are in their lines).
fn collect(a: &EvalJobsArgs, args: &[String]) -> i32 {
    let queue = Queue::new(a.workers);
    let fatal = Mutex::new(None);
    std::thread::scope(|s| {
        for slot in 0..a.workers {
            let (queue, fatal) = (&queue, &fatal);
            s.spawn(move || drive(slot, queue, a, args, fatal));
        }
    });
    let status = match fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(msg) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{msg}");
            1
        }
        None => 0,
    };
    if std::env::var_os("FERRIX_SHOW_STATS").is_some() {
        eprintln!("workers started: {}", STARTED.load(Ordering::Relaxed));
        eprintln!("jobs retried: {}", RETRIED.load(Ordering::Relaxed));
    }
    status
}

// ---------------------------------------------------------------------------------------
// The worker.

/// Set by the watchdog when the worker's resident memory came near its limit.
static LIMIT_REACHED: AtomicBool = AtomicBool::new(false);

/// The exit status of a worker the watchdog ended because it reached its limit.
const LIMIT_EXIT: i32 = 75;

/// The memory thresholds of a worker with the limit `max` (bytes): after a job, past
/// `between` the worker leaves; during one, past `stop` the evaluation is interrupted, and
/// past `kill` (when an evaluation step that allocates a lot has not stopped yet) the
/// worker ends at once.
struct Thresholds {
    between: u64,
    stop: u64,
    kill: u64,
}

impl Thresholds {
    /// Margins of 1/128 of the limit (at least 4 MiB) below it for `kill`, the same again
    /// for `stop`, and 1/64 (at least 8 MiB) more for `between`: 1016, 1008 and 992 MiB
    /// for 1 GiB. A fresh worker then has most of the limit for its jobs, and a job that
    /// finds less room than it needs is interrupted and tried again on a fresh worker.
    fn new(max: u64) -> Thresholds {
        let step = (max / 128).max(4 << 20).min(max / 8);
        let kill = max - step;
        let stop = kill - step;
        let between = stop.saturating_sub((max / 64).max(8 << 20).min(max / 4));
        Thresholds {
            between,
            stop,
            kill,
        }
    }
}

/// Reads the resident size from an open `/proc/self/statm` (a read at offset 0 renews it).
fn resident_from(statm: &std::fs::File) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 128];
    let n = statm.read_at(&mut buf, 0).unwrap_or(0);
    let pages: u64 = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// The process's resident memory in bytes.
fn resident_bytes() -> u64 {
    match std::fs::File::open("/proc/self/statm") {
        Ok(f) => resident_from(&f),
        Err(_) => 0,
    }
}

/// Watches the resident size: past `stop` it interrupts the evaluation (which stops at
/// its next step, through the check that serves Ctrl-C); past `kill` it ends the process
/// with [`LIMIT_EXIT`], for a single step (a builtin filling a large list, say) that
/// allocates faster than that. It looks every millisecond near the limit and every 10 ms
/// while more than 256 MiB away, which no evaluation fills in that time.
fn start_watchdog(t: &Thresholds) {
    let Ok(statm) = std::fs::File::open("/proc/self/statm") else {
        return;
    };
    let (stop, kill) = (t.stop, t.kill);
    std::thread::spawn(move || loop {
        let rss = resident_from(&statm);
        if rss >= kill {
            // SAFETY: `_exit` ends the process without running anything else; the worker's
            // state is its own, and the store's writes are atomic.
            unsafe { libc::_exit(LIMIT_EXIT) };
        }
        if rss >= stop && !LIMIT_REACHED.swap(true, Ordering::SeqCst) {
            ferrix_eval::INTERRUPTED.store(true, Ordering::SeqCst);
        }
        let far = kill.saturating_sub(rss) > 256 << 20;
        std::thread::sleep(std::time::Duration::from_millis(if far { 10 } else { 1 }));
    });
}

/// What a job found.
enum Found {
    /// A line to print.
    Line(Json),
    /// Names to go on with.
    Attrs(Vec<String>),
    /// Nothing to build here.
    Nothing,
}

/// The worker process: evaluates the root, then answers the jobs on standard input.
fn worker(a: &EvalJobsArgs) -> i32 {
    let thresholds = Thresholds::new(a.max_memory);
    let session = match crate::store_setup::open(a.eval.read_only, &a.eval.common) {
        Ok(s) => s,
        Err(msg) => return send_fatal(&format!("error: {msg}")),
    };
    let setup = match shared_eval::set_up(&a.eval, &session) {
        Ok(s) => s,
        Err(code) => {
            send_fatal("error: cannot set up the evaluator");
            return code;
        }
    };
    start_watchdog(&thresholds);
    stacker::maybe_grow(256 * 1024, 64 << 20, || {
        serve_jobs(a, &setup, &session, &thresholds)
    })
}

/// Tells the collector the worker cannot go on; returns exit status 1.
fn send_fatal(msg: &str) -> i32 {
    send(&json!({ "fatal": msg }));
    1
}

fn send(m: &Json) {
    let mut line = m.to_string();
    line.push('\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|_| out.flush());
}

fn limit_message(a: &EvalJobsArgs) -> String {
    limit_text(a.max_memory)
}

fn limit_text(max_memory: u64) -> String {
    format!(
        "error: evaluation needs more than the --max-memory-size of {} MiB",
        max_memory >> 20
    )
}

fn serve_jobs(
    a: &EvalJobsArgs,
    setup: &shared_eval::Setup<'_>,
    session: &ferrix_primops::store_session::StoreSession,
    thresholds: &Thresholds,
) -> i32 {
    let ev = setup.ev;
    let input = if a.eval.expr {
        shared_eval::Input::Expr(a.eval.files[0].clone())
    } else {
        shared_eval::Input::File(a.eval.files[0].clone())
    };
    let show_trace = a.eval.show_trace;
    let root = shared_eval::auto_args(ev, &a.eval).and_then(|auto| {
        let v = shared_eval::load(ev, &input)?;
        Ok((v, auto))
    });
    let (root, auto) = match root {
        Ok(r) => r,
        Err(_) if LIMIT_REACHED.load(Ordering::SeqCst) => return send_fatal(&limit_message(a)),
        Err(e) => {
            return send_fatal(&String::from_utf8_lossy(
                &setup.render_error(&e, show_trace),
            ))
        }
    };
    send(&json!({ "ready": true }));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let path: Vec<String> = match serde_json::from_str::<Json>(&line) {
            Ok(m) => match m
                .get("do")
                .and_then(|p| serde_json::from_value(p.clone()).ok())
            {
                Some(p) => p,
                None => break,
            },
            Err(_) => break,
        };
        let found = job(ev, a, session, root, &auto, &path);
        let mut reply = Map::new();
        match found {
            Ok(Found::Line(l)) => {
                reply.insert("line".into(), l);
            }
            Ok(Found::Attrs(names)) => {
                reply.insert("attrs".into(), json!(names));
            }
            Ok(Found::Nothing) => {}
            Err(_) if LIMIT_REACHED.load(Ordering::SeqCst) => {
                reply.insert("retry".into(), Json::Bool(true));
            }
            Err(e) => {
                let msg = setup.render_error(&e, show_trace);
                reply.insert(
                    "line".into(),
                    error_line(&path, &String::from_utf8_lossy(&msg)),
                );
            }
        }
        let restart =
            LIMIT_REACHED.load(Ordering::SeqCst) || resident_bytes() >= thresholds.between;
        if restart {
            reply.insert("restart".into(), Json::Bool(true));
        }
        send(&Json::Object(reply));
        if restart {
            return 0;
        }
    }
    0
}

/// Evaluates one attribute path.
fn job<'a>(
    ev: &Evaluator<'a>,
    a: &EvalJobsArgs,
    session: &ferrix_primops::store_session::StoreSession,
    root: Value<'a>,
    auto: &[Attr<'a>],
    path: &[String],
) -> Result<Found, Box<EvalError>> {
    let nowhere = Pos::NONE;
    let mut v = root;
    for name in path {
        v = shared_eval::auto_call(ev, v, auto)?;
        let Value::Attrs(set) = v else {
            return Ok(Found::Nothing);
        };
        match set.get(ev.intern(name.as_bytes())) {
            Some(attr) => v = ev.force(attr.value, attr.pos)?,
            None => return Ok(Found::Nothing),
        }
    }
    v = shared_eval::auto_call(ev, v, auto)?;
    let Value::Attrs(set) = v else {
        return Ok(Found::Nothing);
    };
    if ev.is_derivation(set, nowhere)? {
        return derivation_line(ev, a, session, set, path).map(Found::Line);
    }
    let recurse = path.is_empty()
        || a.force_recurse
        || match set.get(ev.intern(b"recurseForDerivations")) {
            Some(r) => matches!(ev.force(r.value, r.pos)?, Value::Bool(true)),
            None => false,
        };
    if !recurse {
        return Ok(Found::Nothing);
    }
    let symbols = ev.symbols();
    let mut names: Vec<&[u8]> = set.attrs().iter().map(|a| symbols.name(a.name)).collect();
    names.sort();
    Ok(Found::Attrs(
        names
            .into_iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect(),
    ))
}

/// A string attribute of a derivation, coerced as Nix's `DrvInfo` does.
fn string_attr<'a>(
    ev: &Evaluator<'a>,
    set: &'a AttrSet<'a>,
    name: &[u8],
) -> Result<Option<String>, Box<EvalError>> {
    let Some(a) = set.get(ev.intern(name)) else {
        return Ok(None);
    };
    let v = ev.force(a.value, a.pos)?;
    let mut s = Vec::new();
    let mut ctx = Vec::new();
    ev.coerce_to_string(v, a.pos, false, false, &mut s, &mut ctx)?;
    Ok(Some(String::from_utf8_lossy(&s).into_owned()))
}

/// The line of a derivation: `attr`, `attrPath`, `drvPath`, `name`, `outputs` (name to
/// path), `system`, and with `--meta`, `meta`. With `--gc-roots-dir`, the `.drv` becomes a
/// garbage collector root there.
fn derivation_line<'a>(
    ev: &Evaluator<'a>,
    a: &EvalJobsArgs,
    session: &ferrix_primops::store_session::StoreSession,
    set: &'a AttrSet<'a>,
    path: &[String],
) -> Result<Json, Box<EvalError>> {
    let fail = |m: String| EvalError::new(ferrix_eval::error::ErrorKind::Eval, m, None);
    let drv_path = string_attr(ev, set, b"drvPath")?
        .ok_or_else(|| fail("derivation does not contain a 'drvPath' attribute".into()))?;
    let name =
        string_attr(ev, set, b"name")?.ok_or_else(|| fail("derivation name missing".into()))?;
    let system = string_attr(ev, set, b"system")?.unwrap_or_else(|| "unknown".into());
    let mut outputs = Map::new();
    let output_names: Vec<String> = match set.get(ev.intern(b"outputs")) {
        Some(o) => match ev.force(o.value, o.pos)? {
            Value::List(l) => {
                let mut names = Vec::new();
                for t in l.items {
                    let mut s = Vec::new();
                    let mut ctx = Vec::new();
                    let v = ev.force(t, o.pos)?;
                    ev.coerce_to_string(v, o.pos, false, false, &mut s, &mut ctx)?;
                    names.push(String::from_utf8_lossy(&s).into_owned());
                }
                names
            }
            _ => {
                return Err(fail(
                    "the 'outputs' attribute of a derivation must be a list".into(),
                ))
            }
        },
        None => vec!["out".into()],
    };
    for o in output_names {
        let out_path = match set.get(ev.intern(o.as_bytes())) {
            Some(attr) => match ev.force(attr.value, attr.pos)? {
                Value::Attrs(os) => string_attr(ev, os, b"outPath")?,
                _ => None,
            },
            None => None,
        };
        let out_path =
            out_path.ok_or_else(|| fail(format!("derivation does not have output '{o}'")))?;
        outputs.insert(o, Json::String(out_path));
    }
    let mut line = Map::new();
    line.insert("attr".into(), Json::String(attr_text(path)));
    line.insert("attrPath".into(), json!(path));
    line.insert("drvPath".into(), Json::String(drv_path.clone()));
    line.insert("name".into(), Json::String(name));
    line.insert("outputs".into(), Json::Object(outputs));
    line.insert("system".into(), Json::String(system));
    if a.meta {
        let meta = match set.get(ev.intern(b"meta")) {
            Some(m) => {
                let v = ev.force(m.value, m.pos)?;
                let mut out = Vec::new();
                let mut ctx = Vec::new();
                ferrix_primops::json::value_to_json(ev, v, m.pos, true, &mut out, &mut ctx)?;
                serde_json::from_slice(&out).unwrap_or(Json::Null)
            }
            None => json!({}),
        };
        line.insert("meta".into(), meta);
    }
    if let Some(dir) = &a.gc_roots_dir {
        if !a.eval.read_only {
            add_root(session, dir, &drv_path).map_err(fail)?;
        }
    }
    Ok(Json::Object(line))
}

/// `DIR/<name of the .drv>` → the `.drv`, registered as an indirect root, unless the link
/// is there already.
fn add_root(
    session: &ferrix_primops::store_session::StoreSession,
    dir: &str,
    drv_path: &str,
) -> Result<(), String> {
    let p = session.dir().parse(drv_path).map_err(|e| e.to_string())?;
    let base = drv_path.rsplit('/').next().unwrap_or(drv_path);
    let link = format!("{dir}/{base}");
    if std::fs::symlink_metadata(&link).is_ok() {
        return Ok(());
    }
    crate::shared::build::add_perm_root(&*session.store, &p, &link)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_text_quotes_names_with_dots() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(attr_text(&p(&["a", "b"])), "a.b");
        assert_eq!(attr_text(&p(&["a", "b.c"])), "a.\"b.c\"");
        assert_eq!(attr_text(&[]), "");
    }

    #[test]
    fn resident_size_is_read() {
        let before = resident_bytes();
        assert!(before > 0);
        let v = std::hint::black_box(vec![1u8; 64 << 20]);
        let after = resident_bytes();
        assert!(after >= before + (32 << 20), "{before} -> {after}");
        drop(v);
    }

    #[test]
    fn thresholds_sit_below_the_limit_in_order() {
        let t = Thresholds::new(1 << 30);
        assert_eq!(
            (t.between >> 20, t.stop >> 20, t.kill >> 20),
            (992, 1008, 1016)
        );
        for max in [1 << 20, 64 << 20, 150 << 20, 4 << 30] {
            let t = Thresholds::new(max);
            assert!(
                t.between < t.stop && t.stop < t.kill && t.kill < max,
                "{max}"
            );
        }
    }

    fn jobs(names: &[&str]) -> Vec<Vec<String>> {
        names.iter().map(|n| vec![n.to_string()]).collect()
    }

    #[test]
    fn queue_ends_when_nothing_is_in_flight() {
        let q = Queue::new(1);
        let root = q.take(0).expect("the root job");
        assert!(root.is_empty());
        q.finish(0, jobs(&["a", "b"]), false);
        assert_eq!(q.take(0), Some(vec!["a".to_string()]));
        assert_eq!(q.take(0), Some(vec!["b".to_string()]));
        q.finish(0, Vec::new(), false);
        q.finish(0, Vec::new(), false);
        assert_eq!(q.take(0), None);
    }

    #[test]
    fn queue_keeps_neighbours_together() {
        let q = Queue::new(2);
        assert_eq!(q.take(0), Some(Vec::new()));
        q.finish(0, jobs(&["a", "b", "c", "d", "e"]), false);
        // The idle slot takes the back half; each slot then goes on in order.
        assert_eq!(q.take(1), Some(vec!["c".to_string()]));
        assert_eq!(q.take(0), Some(vec!["a".to_string()]));
        // What a job finds comes next on its slot, before the rest of the run.
        q.finish(
            0,
            vec![vec!["a".into(), "x".into()], vec!["a".into(), "y".into()]],
            false,
        );
        assert_eq!(q.take(0), Some(vec!["a".to_string(), "x".to_string()]));
        q.finish(1, Vec::new(), false);
        assert_eq!(q.take(1), Some(vec!["d".to_string()]));
        q.finish(1, Vec::new(), false);
        assert_eq!(q.take(1), Some(vec!["e".to_string()]));
        q.finish(1, Vec::new(), false);
        // Slot 1 has run out: it takes the back half of slot 0's [a.y, b].
        assert_eq!(q.take(1), Some(vec!["b".to_string()]));
        q.finish(0, Vec::new(), false);
        assert_eq!(q.take(0), Some(vec!["a".to_string(), "y".to_string()]));
        q.finish(0, Vec::new(), false);
        q.finish(1, Vec::new(), false);
        assert_eq!(q.take(0), None);
        assert_eq!(q.take(1), None);
    }
}
