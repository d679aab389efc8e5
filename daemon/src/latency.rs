//! The latency of a connection's small operations.
//!
//! A client of the worker protocol waits for each reply before it sends the next request,
//! so a run of small operations (`isValidPath`, `queryPathInfo`, small additions) costs two
//! wake-ups per operation and almost no work. On a machine whose idle CPUs sleep (in a
//! virtual machine, a sleeping CPU is woken through the hypervisor), those wake-ups are
//! most of the time of such an operation: 10,000 `isValidPath` calls of Nix 2.8's client
//! took 0.6 s on two CPUs of a virtual machine, and 0.12 s with client and server held on
//! one. Three measures keep the server's side of that cost down:
//!
//! - [`SpinRead`]: while the client answers quickly, the connection waits for its next
//!   request by polling the socket for up to [`SPIN`] ([`SPIN_AFTER_ADD`] after an
//!   addition; yielding the CPU at each turn) before it sleeps, so that the request finds
//!   it awake. A client that pauses longer
//!   makes it sleep at once, until the client is quick again; an idle connection costs
//!   nothing. Only the daemon's only connection polls: several polling connections take
//!   the CPUs their clients need.
//! - [`CoSchedule`]: a connection process runs on the CPU its client last ran on while the
//!   operations are short, and on every CPU it may use otherwise. Operations that build,
//!   collect, optimise or verify give up the pin before they start (their builders and
//!   threads inherit the full set); an operation that took longer than [`LONG`] gives it
//!   up after the fact (a large addition: client and server then stream side by side);
//!   after [`SHORT_RUN`] short operations in a row, the connection moves to its client's
//!   CPU again. Only processes of their own, one per connection, are moved.
//! - The idle class: a pinned connection answers questions (operations that only read the
//!   store and answer at once, [`is_question`]) at the `SCHED_IDLE` scheduling class. The
//!   client, woken by the reply, then counts the CPU they share as free: the scheduler
//!   puts it there, where it takes the CPU from the connection at once, instead of on a
//!   sleeping CPU that must be woken first (10,000 `isValidPath` calls took 0.31 s with
//!   the pin alone and 0.16 s with the idle class). A connection at that class runs only
//!   when nothing else on its CPU wants to, so it watches how long it waited to run (the
//!   run-queue delay in `/proc/thread-self/schedstat`) before each question and after a
//!   long one, and gives the class up for [`IDLE_RETRY`] when it waited longer than its
//!   own polling explains, or longer on average than its client's turns explain (another
//!   client and its connection on the same CPU): on a busy CPU it is served as any other
//!   process, and several clients at once spread over the CPUs as before. Every other
//!   operation (additions, builds, anything that takes locks other processes wait for, or
//!   starts processes or threads, which would inherit the class) runs at the normal class.
//!
//! None of these changes a result or the protocol.

use ferrix_wire::op::Op;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::sys::socket::{recv, MsgFlags};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a quick client's connection polls for its next request before it sleeps.
pub const SPIN: Duration = Duration::from_micros(50);

/// How long it polls after an addition. Nix 2.8's client reads the next file and starts a
/// thread before it sends the next addition, 50–100 µs after the answer: with 50 µs of
/// polling, the connection slept before 40–250 of 1,000 additions (and each time the
/// request had to wake its CPU); with 150 µs, before 20–55, and 1,000 additions took
/// 0.141 s against 0.145 s (medians of 11 alternating rounds). Questions keep the short
/// time: polling longer while they share the client's CPU slowed them down.
pub const SPIN_AFTER_ADD: Duration = Duration::from_micros(150);

/// A client that took longer than this to send its next request is not quick: the
/// connection sleeps at once next time.
const QUICK: Duration = Duration::from_micros(200);

/// The same after an addition.
const QUICK_AFTER_ADD: Duration = Duration::from_micros(300);

/// What a connection's reader ([`SpinRead`]) and its scheduling ([`CoSchedule`]) share:
/// whether the last operation was an addition (set by [`CoSchedule::before`]), and the
/// daemon's other connections, read once for both.
#[derive(Clone, Default)]
pub struct Link(Arc<LinkState>);

#[derive(Default)]
struct LinkState {
    addition: AtomicBool,
    /// The listener's children, when known: without them the connection counts as alone.
    peers: Option<Mutex<Peers>>,
}

impl Link {
    /// For a child of the listener `listener`: several connections polling or at the idle
    /// class take the CPUs their clients need (two clients of 10,000 `queryPathInfo` each:
    /// 0.28 s with polling, 0.22 s without).
    pub fn of_listener(listener: i32) -> Link {
        Link::watching(Peers::of(listener))
    }

    fn watching(peers: Peers) -> Link {
        Link(Arc::new(LinkState {
            addition: AtomicBool::new(false),
            peers: Some(Mutex::new(peers)),
        }))
    }

    /// Whether this is the daemon's only connection (or its peers are unknown).
    fn alone(&self) -> bool {
        self.0
            .peers
            .as_ref()
            .is_none_or(|p| p.lock().unwrap_or_else(|e| e.into_inner()).alone())
    }

    fn set_addition(&self, yes: bool) {
        self.0.addition.store(yes, Ordering::Relaxed);
    }

    fn after_addition(&self) -> bool {
        self.0.addition.load(Ordering::Relaxed)
    }
}

/// A socket whose reads poll for [`SPIN`] before they block, while the peer is quick.
pub struct SpinRead<S> {
    inner: S,
    quick: bool,
    /// It polls only while the connection is the daemon's only one.
    link: Link,
}

impl<S: Read + AsRawFd> SpinRead<S> {
    pub fn new(inner: S) -> SpinRead<S> {
        SpinRead {
            inner,
            quick: true,
            link: Link::default(),
        }
    }

    /// Polls only while `link` says the connection is alone, and longer after an addition
    /// (see [`SPIN_AFTER_ADD`]).
    pub fn with_link(mut self, link: Link) -> SpinRead<S> {
        self.link = link;
        self
    }

    /// How long the next read polls, and how soon the client must answer to stay quick.
    fn budget(&self) -> (Duration, Duration) {
        if self.link.after_addition() {
            (SPIN_AFTER_ADD, QUICK_AFTER_ADD)
        } else {
            (SPIN, QUICK)
        }
    }

    /// Whether the next read polls before it sleeps: the client was quick, and no other
    /// connection needs the CPUs.
    fn polls(&self) -> bool {
        self.quick && self.link.alone()
    }
}

impl<S: Read + AsRawFd> Read for SpinRead<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = Instant::now();
        let (spin, quick) = self.budget();
        if self.polls() {
            let fd = self.inner.as_raw_fd();
            loop {
                match recv(fd, buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => return Ok(n),
                    Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
                if start.elapsed() >= spin {
                    break;
                }
                // Another task on this CPU (the client, perhaps) runs first.
                let _ = nix::sched::sched_yield();
            }
        }
        let n = self.inner.read(buf)?;
        self.quick = start.elapsed() <= quick;
        Ok(n)
    }
}

/// An operation longer than this is work, not a question: the connection leaves its
/// client's CPU.
pub const LONG: Duration = Duration::from_millis(2);

/// Short operations in a row before the connection goes back to its client's CPU.
pub const SHORT_RUN: u32 = 8;

/// Waiting to run for this long more than the polling for a request explains means the
/// connection's CPU is busy with other work.
const STARVED: Duration = Duration::from_micros(500);

/// Questions over which the connection's waits to run are averaged.
const WINDOW: u32 = 32;

/// An average wait to run above this, over [`WINDOW`] questions, means the CPU is shared
/// with more than the client: the connection's turn comes after other work every time.
/// Alone with its client it waits only while the client runs after a reply (7–9 µs at the
/// median and 90th percentile for Nix 2.8's `nix-store -q`); with a second client and its
/// connection on the CPU, 28–42 µs.
const BUSY: Duration = Duration::from_micros(16);

/// How long a connection that found its CPU busy stays at the normal class.
pub const IDLE_RETRY: Duration = Duration::from_secs(5);

/// The pinning state of one connection process (its serving thread).
pub struct CoSchedule {
    client: Pid,
    /// The CPUs the process may use, as it started.
    all: CpuSet,
    pinned: bool,
    /// Short operations since the last long one.
    short: u32,
    /// The serving thread's run-queue delay, while it runs at the idle class.
    idle: Option<Watch>,
    /// The idle class is not used again before this.
    idle_after: Option<Instant>,
    /// Where the serving thread's run-queue delay is read.
    schedstat: PathBuf,
    /// Shared with the connection's reader: the idle class is used only while this
    /// connection is the daemon's only one, and the reader is told of additions.
    link: Link,
}

/// How long an answer to "is this the only connection" is kept.
const PEERS_FRESH: Duration = Duration::from_millis(10);

/// The children of the daemon's listener.
struct Peers {
    path: PathBuf,
    file: Option<File>,
    /// The last answer and when it was read.
    last: Option<(Instant, bool)>,
}

impl Peers {
    fn of(listener: i32) -> Peers {
        Peers {
            path: PathBuf::from(format!("/proc/{listener}/task/{listener}/children")),
            file: None,
            last: None,
        }
    }

    /// Whether the listener has exactly one child, this process, as read at most
    /// [`PEERS_FRESH`] ago. An unreadable list counts as not alone.
    fn alone(&mut self) -> bool {
        match self.last {
            Some((at, alone)) if at.elapsed() < PEERS_FRESH => alone,
            _ => {
                let alone = self.read_alone();
                self.last = Some((Instant::now(), alone));
                alone
            }
        }
    }

    fn read_alone(&mut self) -> bool {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        let Some(f) = &self.file else {
            return false;
        };
        let mut buf = [0u8; 64];
        match f.read_at(&mut buf, 0) {
            Ok(n) => count_pids(&buf[..n]) == 1,
            Err(_) => false,
        }
    }
}

/// The number of process ids in a `children` file (space-separated); a list longer than
/// what was read counts as at least two.
fn count_pids(text: &[u8]) -> usize {
    text.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count()
        .max(if text.len() >= 64 { 2 } else { 0 })
}

/// What a connection at the idle class keeps to notice that it waits to run.
struct Watch {
    /// `/proc/thread-self/schedstat`, opened by the serving thread.
    stat: File,
    /// The run-queue delay at the last look, in nanoseconds.
    delay: u64,
    /// Waits to run over the current window of looks, in nanoseconds, and the looks.
    window: u64,
    looks: u32,
}

impl CoSchedule {
    /// For a connection of the process `client`; pins at once. `None` when the process's
    /// CPU set cannot be read (the connection then runs as scheduled).
    pub fn new(client: i32) -> Option<CoSchedule> {
        let client = Pid::from_raw(client);
        let all = sched_getaffinity(Pid::from_raw(0)).ok()?;
        let mut s = CoSchedule {
            client,
            all,
            pinned: false,
            short: SHORT_RUN,
            idle: None,
            idle_after: None,
            schedstat: PathBuf::from("/proc/thread-self/schedstat"),
            link: Link::default(),
        };
        s.pin();
        Some(s)
    }

    /// The connection shares `link` with its reader ([`SpinRead::with_link`]). While the
    /// daemon has other connections, they and their clients share the CPUs as the scheduler
    /// places them, and this one stays at the normal class (two clients whose connections
    /// took the idle class could end up on one CPU with the other idle).
    pub fn with_link(mut self, link: Link) -> CoSchedule {
        self.link = link;
        self
    }

    /// Before `op`: operations that start builds or long work run on every CPU; questions
    /// asked while pinned are answered at the idle class.
    pub fn before(&mut self, op: Op) {
        self.link.set_addition(is_addition(op));
        if is_work(op) {
            self.short = 0;
            self.unpin();
        } else if !self.pinned && self.short >= SHORT_RUN {
            self.pin();
        }
        if self.starved() {
            self.back_off();
        }
        let allowed = self.idle_after.is_none_or(|t| Instant::now() >= t);
        if self.pinned && is_question(op) && allowed {
            self.enter_idle();
        } else {
            self.leave_idle();
        }
    }

    /// After an operation that took `took`.
    pub fn after(&mut self, took: Duration) {
        // A question that took long may have waited for its CPU in the middle.
        if took >= STARVED && self.starved() {
            self.back_off();
        }
        if took > LONG {
            self.short = 0;
            self.unpin();
        } else {
            self.short = self.short.saturating_add(1);
        }
    }

    /// Whether the thread, at the idle class, waited to run since the last look (before the
    /// last request, or after the answer) for longer than its polling for a request
    /// explains (it is runnable while it polls, and its client runs). One `pread` of a
    /// small file per question.
    fn starved(&mut self) -> bool {
        let Some(w) = &mut self.idle else {
            return false;
        };
        let Some(now) = run_delay(&w.stat) else {
            return true;
        };
        let waited = now.saturating_sub(w.delay);
        w.delay = now;
        if waited > (SPIN + STARVED).as_nanos() as u64 {
            return true;
        }
        w.window = w.window.saturating_add(waited);
        w.looks += 1;
        if w.looks < WINDOW {
            return false;
        }
        let busy = w.window / u64::from(w.looks) > BUSY.as_nanos() as u64;
        w.window = 0;
        w.looks = 0;
        busy || !self.link.alone()
    }

    /// Leaves the idle class for [`IDLE_RETRY`]: the CPU has other work.
    fn back_off(&mut self) {
        self.leave_idle();
        self.idle_after = Some(Instant::now() + IDLE_RETRY);
    }

    fn enter_idle(&mut self) {
        if self.idle.is_some() || !self.link.alone() {
            return;
        }
        // Without a view of the run-queue delay, the class could starve unnoticed.
        let Ok(stat) = File::open(&self.schedstat) else {
            return;
        };
        let Some(delay) = run_delay(&stat) else {
            return;
        };
        if set_class(libc::SCHED_IDLE) {
            self.idle = Some(Watch {
                stat,
                delay,
                window: 0,
                looks: 0,
            });
        }
    }

    fn leave_idle(&mut self) {
        if self.idle.is_some() && set_class(libc::SCHED_OTHER) {
            self.idle = None;
        }
    }

    fn pin(&mut self) {
        let Some(cpu) = last_cpu(self.client) else {
            return;
        };
        if !self.all.is_set(cpu).unwrap_or(false) {
            return;
        }
        let mut one = CpuSet::new();
        if one.set(cpu).is_ok() && sched_setaffinity(Pid::from_raw(0), &one).is_ok() {
            self.pinned = true;
        }
    }

    fn unpin(&mut self) {
        self.leave_idle();
        if self.pinned && sched_setaffinity(Pid::from_raw(0), &self.all).is_ok() {
            self.pinned = false;
        }
    }
}

/// Sets the calling thread's scheduling class (`SCHED_IDLE` or `SCHED_OTHER`, which take
/// no priority). Any process may lower its class, and go back to `SCHED_OTHER` while its
/// nice value is within its `RLIMIT_NICE`.
fn set_class(class: libc::c_int) -> bool {
    let p = libc::sched_param { sched_priority: 0 };
    // SAFETY: `p` is a valid parameter block for the duration of the call; pid 0 is the
    // calling thread.
    unsafe { libc::sched_setscheduler(0, class, &p) == 0 }
}

/// The run-queue delay (time spent runnable but not running, in nanoseconds): the second
/// field of a `schedstat` file.
fn run_delay(stat: &File) -> Option<u64> {
    let mut buf = [0u8; 96];
    let n = stat.read_at(&mut buf, 0).ok()?;
    parse_run_delay(std::str::from_utf8(&buf[..n]).ok()?)
}

fn parse_run_delay(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Operations that only read the store and answer at once: no payload, no lock that
/// another process waits for, no process or thread started.
fn is_question(op: Op) -> bool {
    matches!(
        op,
        Op::IsValidPath
            | Op::QueryPathInfo
            | Op::QueryReferences
            | Op::QueryReferrers
            | Op::QueryDeriver
            | Op::QueryValidDerivers
            | Op::QueryDerivationOutputs
            | Op::QueryDerivationOutputNames
            | Op::QueryDerivationOutputMap
            | Op::QueryPathFromHashPart
            | Op::QueryRealisation
    )
}

/// Operations that add one path from what the client sends.
pub fn is_addition(op: Op) -> bool {
    matches!(op, Op::AddToStore | Op::AddTextToStore | Op::AddToStoreNar)
}

/// Operations that build, substitute, collect or walk the whole store.
fn is_work(op: Op) -> bool {
    matches!(
        op,
        Op::BuildPaths
            | Op::BuildPathsWithResults
            | Op::BuildDerivation
            | Op::EnsurePath
            | Op::CollectGarbage
            | Op::OptimiseStore
            | Op::VerifyStore
            | Op::ImportPaths
            | Op::AddMultipleToStore
    )
}

/// The CPU `pid` last ran on: field 39 of `/proc/PID/stat`.
fn last_cpu(pid: Pid) -> Option<usize> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_processor(&stat)
}

/// The `processor` field of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses, so fields are counted after its last
/// `)`, where field 3 starts.
fn parse_processor(stat: &str) -> Option<usize> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(39 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processor_is_field_39_after_an_odd_command_name() {
        let mut line = String::from("1234 (a) b (c) S");
        for f in 4..=38 {
            line.push_str(&format!(" {f}"));
        }
        line.push_str(" 7 0 0");
        assert_eq!(parse_processor(&line), Some(7));
        assert_eq!(parse_processor("1234 (x) S 1 2"), None);
        assert_eq!(parse_processor("no parenthesis"), None);
    }

    #[test]
    fn spin_read_reads_what_arrives_early_and_late_and_the_end() {
        use std::io::Write;
        use std::os::unix::net::UnixStream;
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut r = SpinRead::new(a);
        b.write_all(b"now").unwrap();
        let mut buf = [0u8; 16];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"now");
        assert!(r.quick);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"later").unwrap();
            b
        });
        // Not there within the spin: the read sleeps until it comes.
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"later");
        assert!(!r.quick, "a slow client still counts as quick");
        drop(t.join().unwrap());
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn spin_read_polls_only_as_the_only_connection() {
        let dir = tempfile::tempdir().unwrap();
        let children = dir.path().join("children");
        std::fs::write(&children, "4242 ").unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut r = SpinRead::new(a).with_link(Link::watching(Peers {
            path: children.clone(),
            file: None,
            last: None,
        }));
        assert!(r.polls());
        std::fs::write(&children, "4242 4243 ").unwrap();
        std::thread::sleep(PEERS_FRESH * 2);
        assert!(!r.polls());
        // A slow client: no polling, alone or not.
        std::fs::write(&children, "4242 ").unwrap();
        std::thread::sleep(PEERS_FRESH * 2);
        r.quick = false;
        assert!(!r.polls());
    }

    #[test]
    fn spin_read_polls_longer_after_an_addition() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let link = Link::default();
        let r = SpinRead::new(a).with_link(link.clone());
        assert_eq!(r.budget(), (SPIN, QUICK));
        let p = link.clone();
        on_own_thread(move || {
            let mut co = CoSchedule::new(std::process::id() as i32)
                .unwrap()
                .with_link(p.clone());
            co.before(Op::AddToStore);
            assert!(p.after_addition());
            co.before(Op::QueryPathInfo);
            assert!(!p.after_addition());
            co.before(Op::AddToStoreNar);
        });
        assert_eq!(r.budget(), (SPIN_AFTER_ADD, QUICK_AFTER_ADD));
        assert!(SPIN_AFTER_ADD > SPIN && QUICK_AFTER_ADD > QUICK);
    }

    #[test]
    fn own_cpu_is_readable_and_allowed() {
        let me = Pid::this();
        let cpu = last_cpu(me).expect("the processor field of our own stat");
        let all = sched_getaffinity(Pid::from_raw(0)).unwrap();
        assert!(all.is_set(cpu).unwrap());
    }

    #[test]
    fn run_delay_is_the_second_field() {
        assert_eq!(parse_run_delay("161551 67074 3\n"), Some(67074));
        assert_eq!(parse_run_delay("161551"), None);
        assert_eq!(parse_run_delay("a b c"), None);
        let stat = File::open("/proc/thread-self/schedstat").unwrap();
        assert!(run_delay(&stat).is_some());
    }

    /// Runs `f` on a thread of its own, so that pinning and scheduling classes do not
    /// move the test harness.
    fn on_own_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    /// The class a question is answered at here: the idle one where the run-queue delay
    /// can be watched (`/proc/thread-self/schedstat`), the normal one otherwise.
    fn question_class() -> libc::c_int {
        if File::open("/proc/thread-self/schedstat").is_ok() {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        }
    }

    /// A connection whose run-queue delay, read from a file in `dir`, does not grow: the
    /// machine's load (other tests) does not decide what a test sees.
    fn steady(dir: &std::path::Path) -> CoSchedule {
        let stat = dir.join("schedstat");
        std::fs::write(&stat, "1000 2000 3\n").unwrap();
        let mut s = CoSchedule::new(Pid::this().as_raw()).unwrap();
        s.schedstat = stat;
        s
    }

    fn class() -> libc::c_int {
        // SAFETY: no arguments but the calling thread's pid 0.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn questions_are_answered_at_the_idle_class_and_nothing_else_is() {
        on_own_thread(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut s = steady(dir.path());
            assert_eq!(class(), libc::SCHED_OTHER);
            s.before(Op::IsValidPath);
            assert_eq!(class(), libc::SCHED_IDLE);
            s.after(Duration::from_micros(10));
            s.before(Op::QueryPathInfo);
            assert_eq!(class(), libc::SCHED_IDLE);
            s.after(Duration::from_micros(10));
            // An addition takes the database's write lock: normal class, still pinned.
            s.before(Op::AddToStore);
            assert_eq!(class(), libc::SCHED_OTHER);
            assert!(s.pinned);
            s.after(Duration::from_micros(10));
            s.before(Op::QueryPathInfo);
            assert_eq!(class(), libc::SCHED_IDLE);
            // A long question leaves the pin, and the class with it.
            s.after(LONG * 2);
            assert_eq!(class(), libc::SCHED_OTHER);
            assert!(!s.pinned);
            // Builds start processes, which would inherit the class.
            s.before(Op::BuildPaths);
            assert_eq!(class(), libc::SCHED_OTHER);
            // A request after a pause in which the thread did not wait to run keeps the
            // class.
            for _ in 0..=SHORT_RUN {
                s.before(Op::IsValidPath);
                s.after(Duration::from_micros(10));
            }
            assert_eq!(class(), libc::SCHED_IDLE);
            std::thread::sleep(Duration::from_millis(5));
            s.before(Op::IsValidPath);
            assert_eq!(class(), libc::SCHED_IDLE);
            assert!(s.idle_after.is_none());
            // Then 2 ms of waiting to run: the class is given up for a while.
            std::fs::write(&s.schedstat, "1000 2002000 4\n").unwrap();
            s.before(Op::IsValidPath);
            assert_eq!(class(), libc::SCHED_OTHER);
            assert!(s.idle_after.is_some());
            s.after(Duration::from_micros(10));
            s.before(Op::QueryPathInfo);
            assert_eq!(class(), libc::SCHED_OTHER);
        });
    }

    #[test]
    fn children_lists_are_counted() {
        assert_eq!(count_pids(b"123 "), 1);
        assert_eq!(count_pids(b"123 456 "), 2);
        assert_eq!(count_pids(b""), 0);
        // A list cut at the buffer's end has more than one.
        assert_eq!(count_pids(&[b'1'; 64]), 2);
    }

    #[test]
    fn the_idle_class_is_for_the_only_connection() {
        on_own_thread(|| {
            let dir = tempfile::tempdir().unwrap();
            let children = dir.path().join("children");
            std::fs::write(&children, "4242 4243 ").unwrap();
            let mut s = steady(dir.path()).with_link(Link::watching(Peers {
                path: children.clone(),
                file: None,
                last: None,
            }));
            // Another connection: the normal class.
            s.before(Op::IsValidPath);
            assert_eq!(class(), libc::SCHED_OTHER);
            s.after(Duration::from_micros(10));
            // Alone again (once the last answer is old): the idle class.
            std::fs::write(&children, "4242 ").unwrap();
            std::thread::sleep(PEERS_FRESH * 2);
            s.before(Op::IsValidPath);
            assert_eq!(class(), libc::SCHED_IDLE);
            s.after(Duration::from_micros(10));
            // A second connection comes: given up within a window of questions.
            std::fs::write(&children, "4242 4244 ").unwrap();
            std::thread::sleep(PEERS_FRESH * 2);
            for _ in 0..=WINDOW {
                s.before(Op::IsValidPath);
                s.after(Duration::from_micros(10));
            }
            assert_eq!(class(), libc::SCHED_OTHER);
            // No list to read: not alone.
            std::fs::remove_file(&children).unwrap();
            let mut p = Peers {
                path: children,
                file: None,
                last: None,
            };
            assert!(!p.alone());
        });
    }

    #[test]
    fn a_connection_that_waits_to_run_leaves_the_idle_class() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        on_own_thread(|| {
            let mut s = CoSchedule::new(Pid::this().as_raw()).unwrap();
            s.before(Op::IsValidPath);
            assert_eq!(class(), question_class());
            if question_class() != libc::SCHED_IDLE {
                return;
            }
            s.after(Duration::from_micros(10));
            // The wait is made at the normal class, so that the test does not wait for an
            // idle-class thread's turn: a thread on the same CPU that never sleeps, while
            // this one is runnable too for 30 ms.
            assert!(set_class(libc::SCHED_OTHER));
            let cpu = sched_getaffinity(Pid::from_raw(0)).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let hog = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    sched_setaffinity(Pid::from_raw(0), &cpu).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(30) {
                std::hint::spin_loop();
            }
            stop.store(true, Ordering::Relaxed);
            hog.join().unwrap();
            assert!(set_class(libc::SCHED_IDLE));
            s.before(Op::IsValidPath);
            assert_eq!(class(), libc::SCHED_OTHER, "a busy CPU went unnoticed");
            assert!(s.idle.is_none());
            let until = s.idle_after.expect("a time to try again");
            assert!(until > Instant::now() + IDLE_RETRY / 2);
            s.after(Duration::from_micros(10));
            s.before(Op::QueryPathInfo);
            assert_eq!(class(), libc::SCHED_OTHER);
        });
    }

    #[test]
    fn long_operations_unpin_and_short_runs_pin_again() {
        on_own_thread(|| {
            let mut s = CoSchedule::new(Pid::this().as_raw()).unwrap();
            let count = |set: &CpuSet| {
                (0..CpuSet::count())
                    .filter(|&c| set.is_set(c).unwrap())
                    .count()
            };
            let now = || sched_getaffinity(Pid::from_raw(0)).unwrap();
            assert!(s.pinned);
            assert_eq!(count(&now()), 1);
            s.before(Op::BuildPaths);
            assert!(!s.pinned);
            assert_eq!(count(&now()), count(&s.all));
            for _ in 0..SHORT_RUN {
                s.before(Op::IsValidPath);
                assert!(!s.pinned, "pinned again before a run of short operations");
                s.after(Duration::from_micros(10));
            }
            s.before(Op::IsValidPath);
            assert!(s.pinned);
            s.after(LONG * 2);
            assert!(!s.pinned);
            assert_eq!(count(&now()), count(&s.all));
        });
    }
}
