//! How a realisation fails: [`BuildError`], whose variants name the kinds of failure and
//! whose text (`Display`) is the message Nix 2.8 prints after `error: `; the exit status is
//! derived from the variant ([`BuildError::status`]). The failure of one derivation's build
//! is a [`Failure`], typed the same way: its kind ([`Failure::kind`]) follows from the
//! variant, and no code looks into its text.

use ferrix_store::hash::{Hash, HashError};
use ferrix_store::path::PathError;
use ferrix_store::store::{BuildStatus, StoreError};
use nix::errno::Errno;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// The text Nix adds when nothing can build: the manual's page on remote builds.
const DISTRIBUTED_BUILDS: &str =
    "https://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html";

/// Why a build failed, as the exit status tells it (Nix's `failingExitStatus`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureKind {
    /// The builder ran and failed (or produced something wrong).
    pub permanent: bool,
    pub timed_out: bool,
    pub hash_mismatch: bool,
    pub check_mismatch: bool,
    /// The builder wrote more log than `max-log-size` allows (no bit of the exit status,
    /// as in Nix; a build result says `LogLimitExceeded`).
    pub log_limit: bool,
    /// Repeated rounds of the build differed, with `enforce-determinism` (no bit of the
    /// exit status either; a build result says `NotDeterministic`).
    pub not_deterministic: bool,
}

impl FailureKind {
    pub(crate) fn merge(&mut self, o: FailureKind) {
        self.permanent |= o.permanent;
        self.timed_out |= o.timed_out;
        self.hash_mismatch |= o.hash_mismatch;
        self.check_mismatch |= o.check_mismatch;
        self.log_limit |= o.log_limit;
        self.not_deterministic |= o.not_deterministic;
    }

    /// The process exit status for failures of these kinds: 0x60 with a bit for each
    /// kind (failed build 4, timeout 1, hash mismatch 2, check mismatch 8); 1 otherwise.
    pub fn exit_status(self) -> i32 {
        let mut mask = 0;
        if self.permanent || self.timed_out || self.hash_mismatch {
            mask |= 0x04;
        }
        if self.timed_out {
            mask |= 0x01;
        }
        if self.hash_mismatch {
            mask |= 0x02;
        }
        if self.check_mismatch {
            mask |= 0x08;
        }
        if mask == 0 {
            1
        } else {
            mask | 0x60
        }
    }

    /// The status of a build result for failures of these kinds: `LogLimitExceeded`,
    /// `NotDeterministic`, else the one the exit status stands for (`TimedOut`,
    /// `NotDeterministic` for a check mismatch, `OutputRejected` for a hash mismatch,
    /// `PermanentFailure`, or `MiscFailure`).
    pub fn build_status(self) -> BuildStatus {
        if self.log_limit {
            BuildStatus::LogLimitExceeded
        } else if self.not_deterministic {
            BuildStatus::NotDeterministic
        } else {
            status_of(self.exit_status())
        }
    }
}

/// An I/O error on a path: `{what} '{path}': {reason}`, the reason worded as Nix words
/// it ([`ferrix_store::io_reason`]). `what` is the operation (`creating directory`,
/// `deleting`, ...), as the site that failed names it.
#[derive(Debug, thiserror::Error)]
#[error("{what} '{}': {}", .path.display(), ferrix_store::io_reason(.source))]
pub struct IoError {
    pub what: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl IoError {
    pub fn new(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> IoError {
        IoError {
            what,
            path: path.into(),
            source,
        }
    }

    /// The same for an `errno` from a system call.
    pub fn errno(what: &'static str, path: impl Into<PathBuf>, errno: Errno) -> IoError {
        IoError::new(what, path, io::Error::from_raw_os_error(errno as i32))
    }
}

/// How a program ended other than successfully: `failed with exit code 1`, `failed due
/// to signal 9 (Killed)`, or just `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    Exit(i32),
    Signal(i32),
    /// Neither an exit code nor a signal is known.
    Unknown,
}

impl ProcessEnd {
    /// How the process of `status` ended.
    pub fn of(status: std::process::ExitStatus) -> ProcessEnd {
        use std::os::unix::process::ExitStatusExt as _;
        match (status.code(), status.signal()) {
            (Some(c), _) => ProcessEnd::Exit(c),
            (None, Some(sig)) => ProcessEnd::Signal(sig),
            _ => ProcessEnd::Unknown,
        }
    }
}

impl fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessEnd::Exit(c) => write!(f, "failed with exit code {c}"),
            ProcessEnd::Signal(sig) => {
                write!(f, "failed due to signal {sig} ({})", signal_name(*sig))
            }
            ProcessEnd::Unknown => f.write_str("failed"),
        }
    }
}

/// The description of signal `sig` (`Killed`), as `strsignal` gives it.
fn signal_name(sig: i32) -> String {
    // SAFETY: `strsignal` takes any number and returns null or a NUL-terminated string,
    // which is copied at once below (this thread makes no other `strsignal` call meanwhile).
    let s = unsafe { libc::strsignal(sig) };
    if s.is_null() {
        return format!("signal {sig}");
    }
    // SAFETY: `s` is the non-null, NUL-terminated result of `strsignal` above.
    unsafe { std::ffi::CStr::from_ptr(s) }
        .to_string_lossy()
        .into_owned()
}

/// The failure of one derivation's build (locally, by a builtin builder, or on a remote
/// machine). Its `Display` is the message Nix 2.8 prints; what kind of failure it is
/// ([`Failure::kind`]), and so the exit status and a build result's status, follow from
/// the variant. Paths of the store are as the store prints them; `drv` is the
/// derivation's path.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A store path (of an input, an output) was bad.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A file system operation on a path failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Another process holds the outputs' locks.
    #[error("the outputs of '{drv}' are being built by another process")]
    OutputsLocked { drv: String },
    /// An input derivation lacks an output the derivation needs.
    #[error("derivation '{drv}' does not have an output named '{output}'")]
    NoSuchInputOutput { drv: String, output: String },
    /// The derivation's platform or `requiredSystemFeatures` are not this machine's.
    #[error(
        "a '{platform}' with features {{{}}} is required to build '{drv}', but I am a '{system}' with features {{{}}}",
        .required.join(", "),
        .offered.join(", ")
    )]
    WrongPlatform {
        platform: String,
        required: Vec<String>,
        drv: String,
        system: String,
        offered: Vec<String>,
    },
    /// The derivation needs `recursive-nix`, which is not enabled.
    #[error(
        "experimental Nix feature 'recursive-nix' is disabled; use '--extra-experimental-features recursive-nix' to override"
    )]
    RecursiveNixDisabled,
    /// `__noChroot` with `sandbox = true`.
    #[error(
        "derivation '{drv}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'"
    )]
    NoChrootNotAllowed { drv: String },
    /// No build user could be taken from `build-users-group`.
    #[error(transparent)]
    BuildUser(#[from] crate::users::BuildUserError),
    /// The builder's environment could not be made.
    #[error(transparent)]
    Env(crate::env::EnvError),
    /// `exportReferencesGraph` names something that cannot be exported (the derivation
    /// is wrong, hence a permanent failure).
    #[error(transparent)]
    ReferencesGraph(crate::env::EnvError),
    /// An argument, variable or path for the builder holds a NUL byte.
    #[error(transparent)]
    Nul(#[from] crate::sandbox::NulError),
    /// The build log could not be opened.
    #[error("opening the build log: {0}")]
    OpenLog(io::Error),
    /// The pipe of the builder's log could not be made.
    #[error("creating a pipe: {0}")]
    Pipe(Errno),
    /// Reading the builder's log failed.
    #[error("reading the build log: {0}")]
    ReadLog(Errno),
    /// The builder could not be started.
    #[error("while setting up the build environment: {0}")]
    Spawn(crate::sandbox::SpawnError),
    /// The recursive Nix daemon for the build could not be started.
    #[error(transparent)]
    Recursive(#[from] crate::recursive::RecursiveError),
    /// The build was stopped because another one failed, or the user interrupted it.
    #[error("build of '{drv}' was cancelled")]
    Cancelled { drv: String },
    /// `max-silent-time`: the builder wrote nothing for `seconds`. `goal`: `drv!out,…`.
    #[error("building of '{goal}' from .drv file timed out after {seconds} seconds of silence")]
    SilenceTimeout { goal: String, seconds: u64 },
    /// `timeout`: the build ran for `seconds`.
    #[error("building of '{goal}' from .drv file timed out after {seconds} seconds")]
    Timeout { goal: String, seconds: u64 },
    /// `max-log-size`: the builder wrote more than `bytes` of log.
    #[error(
        "building of '{goal}' from .drv file killed after writing more than {bytes} bytes of log output"
    )]
    LogLimit { goal: String, bytes: u64 },
    /// The builder ended with a failure. `log_tail`: the last lines of its log, when they
    /// are to be shown in the message (empty otherwise).
    #[error("builder for '{drv}' {end}{}", tail_text(.drv, .log_tail))]
    BuilderFailed {
        drv: String,
        end: ProcessEnd,
        log_tail: Vec<String>,
    },
    /// A path of `sandbox-paths` (or from `pre-build-hook`) does not exist.
    #[error(
        "path '{path}' is configured as part of the `sandbox-paths` option, but is inaccessible"
    )]
    SandboxPathInaccessible { path: String },
    /// A hook program (`pre-build-hook`, `post-build-hook`) could not be run.
    #[error("executing '{program}': {}", ferrix_store::io_reason(.source))]
    HookNotRun { program: String, source: io::Error },
    /// A hook program failed.
    #[error("program '{program}' {end}")]
    HookFailed { program: String, end: ProcessEnd },
    /// `pre-build-hook` printed a line it may not.
    #[error("unknown pre-build hook command '{line}'")]
    UnknownHookCommand { line: String },
    /// A `builtin:` builder Nix does not have.
    #[error("unsupported builtin builder '{name}'")]
    UnsupportedBuiltin { name: String },
    /// The derivation has no outputs.
    #[error("derivation '{drv}' has no outputs")]
    NoOutputs { drv: String },
    /// `builtin:fetchurl` failed (its error is also in the build log).
    #[error("builder for '{drv}' failed: {error}")]
    FetchurlFailed {
        drv: String,
        error: crate::fetchurl::FetchurlError,
    },
    /// `builtin:buildenv` failed (its error is also in the build log).
    #[error("builder for '{drv}' failed: {error}")]
    BuildenvFailed {
        drv: String,
        error: crate::buildenv::BuildenvError,
    },
    /// Changing the owner of the store directory for build users failed.
    #[error("changing ownership of path '{}': {errno}", .path.display())]
    StoreDirOwner { path: PathBuf, errno: Errno },
    /// A key of `secret-key-files` could not be read.
    #[error(transparent)]
    SecretKeys(#[from] ferrix_store::sigs::KeyError),
    /// The builder left something that is not a regular file, directory or symlink.
    #[error("file '{}' has an unsupported type", .path.display())]
    UnsupportedFileType { path: PathBuf },
    /// A fixed output names a hash algorithm Nix does not know.
    #[error("unknown hash algorithm '{algo}'")]
    UnknownHashAlgo { algo: String },
    /// A fixed output's hash cannot be read.
    #[error(transparent)]
    BadHash(#[from] HashError),
    /// The builder did not make output `output` (which would have been at `at`).
    #[error(
        "builder for '{drv}' failed to produce output path for output '{output}' at '{}'",
        .at.display()
    )]
    MissingOutput {
        drv: String,
        output: String,
        at: PathBuf,
    },
    /// Serialising a built output failed.
    #[error("dumping '{}': {source}", .path.display())]
    Dump { path: PathBuf, source: io::Error },
    /// Restoring a rewritten output failed.
    #[error("rewriting '{}': {source}", .path.display())]
    Rewrite { path: PathBuf, source: io::Error },
    /// Copying an output to the path its content addresses failed.
    #[error("restoring '{}': {source}", .path.display())]
    Restore { path: PathBuf, source: io::Error },
    /// A flat fixed (or floating) output that is not a non-executable regular file.
    #[error(
        "output path '{}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)",
        .path.display()
    )]
    FlatOutputNotFile { path: PathBuf },
    /// The output of a fixed-output derivation does not have the hash specified.
    #[error(
        "hash mismatch in fixed-output derivation '{drv}':\n  specified: {}\n     got:    {}",
        .specified.to_sri(),
        .got.to_sri()
    )]
    HashMismatch {
        drv: String,
        specified: Hash,
        got: Hash,
    },
    /// The output of a fixed-output derivation refers to other paths.
    #[error("illegal path references in fixed-output derivation '{drv}'")]
    FixedOutputReferences { drv: String },
    /// `--check` of a floating content-addressed derivation.
    #[error("checking floating content-addressed derivation '{drv}' is not supported by Ferrix")]
    CheckFloating { drv: String },
    /// `--check`: the rebuilt `output` differs from the valid one (kept at `kept` with
    /// `keep-failed`).
    #[error(
        "derivation '{drv}' may not be deterministic: output '{}' differs{}",
        .output.display(),
        .kept.as_ref().map(|k| format!(" from '{}'", k.display())).unwrap_or_default()
    )]
    CheckMismatch {
        drv: String,
        output: PathBuf,
        kept: Option<PathBuf>,
    },
    /// `repeat` with `enforce-determinism`: a round built `output` differently.
    #[error("output '{output}' of '{drv}' differs from previous round")]
    NotDeterministic { drv: String, output: String },
    /// Floating content-addressed outputs refer to each other in a cycle.
    #[error(
        "cycle detected in build of '{drv}' in the references of output '{output}' from output '{from}'"
    )]
    FloatingCycle {
        drv: String,
        output: String,
        from: String,
    },
    /// An output treated as floating content-addressed is not.
    #[error("output '{output}' of '{drv}' is not floating content-addressed")]
    NotFloating { drv: String, output: String },
    /// A floating output that is not recursive SHA-256 has references.
    #[error(
        "output '{output}' of '{drv}' has references, which only a recursive SHA-256 content-addressed output may have"
    )]
    FloatingReferences { drv: String, output: String },
    /// `allowedReferences` and friends name something that is neither a store path nor
    /// an output.
    #[error("derivation contains an illegal reference specifier '{spec}'")]
    IllegalReferenceSpecifier { spec: String },
    /// `output` refers to `paths`, which its `allowedReferences` (or friends) forbid.
    #[error(
        "output '{output}' is not allowed to refer to the following paths:{}",
        .paths.iter().map(|p| format!("\n  {p}")).collect::<String>()
    )]
    DisallowedReferences { output: String, paths: Vec<String> },
    /// Outputs refer to each other in a cycle.
    #[error("cycle detected in the references of '{path}' from '{parent}'")]
    ReferenceCycle { path: String, parent: String },
    /// A remote machine failed to build the derivation; `message` is its error (printed
    /// before).
    #[error("builder for '{drv}' failed with exit code 1")]
    RemoteBuildFailed {
        drv: String,
        machine: String,
        message: String,
    },
    /// A remote machine's build did not make `path`.
    #[error("the build of '{drv}' on '{machine}' did not produce '{path}'")]
    RemoteMissingOutput {
        drv: String,
        machine: String,
        path: String,
    },
    /// An output built on a remote machine refers to a path that is not an input.
    #[error(
        "output '{path}' built on '{machine}' refers to '{reference}', which is not an input of '{drv}'"
    )]
    RemoteForeignReference {
        path: String,
        machine: String,
        reference: String,
        drv: String,
    },
}

/// `;\nlast N log lines:\n> …\nFor full logs, run 'nix log DRV'.`, or nothing without
/// lines.
fn tail_text(drv: &str, tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    let mut s = format!(";\nlast {} log lines:", tail.len());
    for l in tail {
        s.push_str("\n> ");
        s.push_str(l);
    }
    s.push_str(&format!("\nFor full logs, run 'nix log {drv}'."));
    s
}

impl Failure {
    /// What kind of failure this is (none for failures of the build's setup, the store or
    /// the machine rather than of the derivation).
    pub fn kind(&self) -> FailureKind {
        let mut k = FailureKind::default();
        match self {
            Failure::SilenceTimeout { .. } | Failure::Timeout { .. } => k.timed_out = true,
            Failure::HashMismatch { .. } => k.hash_mismatch = true,
            Failure::CheckMismatch { .. } => k.check_mismatch = true,
            Failure::LogLimit { .. } => k.log_limit = true,
            Failure::NotDeterministic { .. } => k.not_deterministic = true,
            Failure::BuilderFailed { .. }
            | Failure::ReferencesGraph(_)
            | Failure::UnsupportedBuiltin { .. }
            | Failure::FetchurlFailed { .. }
            | Failure::BuildenvFailed { .. }
            | Failure::UnsupportedFileType { .. }
            | Failure::FlatOutputNotFile { .. }
            | Failure::FixedOutputReferences { .. }
            | Failure::FloatingCycle { .. }
            | Failure::FloatingReferences { .. }
            | Failure::IllegalReferenceSpecifier { .. }
            | Failure::DisallowedReferences { .. }
            | Failure::ReferenceCycle { .. }
            | Failure::RemoteForeignReference { .. } => k.permanent = true,
            Failure::Store(_)
            | Failure::Path(_)
            | Failure::Io(_)
            | Failure::OutputsLocked { .. }
            | Failure::NoSuchInputOutput { .. }
            | Failure::WrongPlatform { .. }
            | Failure::RecursiveNixDisabled
            | Failure::NoChrootNotAllowed { .. }
            | Failure::BuildUser(_)
            | Failure::Env(_)
            | Failure::Nul(_)
            | Failure::OpenLog(_)
            | Failure::Pipe(_)
            | Failure::ReadLog(_)
            | Failure::Spawn(_)
            | Failure::Recursive(_)
            | Failure::Cancelled { .. }
            | Failure::SandboxPathInaccessible { .. }
            | Failure::HookNotRun { .. }
            | Failure::HookFailed { .. }
            | Failure::UnknownHookCommand { .. }
            | Failure::NoOutputs { .. }
            | Failure::StoreDirOwner { .. }
            | Failure::SecretKeys(_)
            | Failure::UnknownHashAlgo { .. }
            | Failure::BadHash(_)
            | Failure::MissingOutput { .. }
            | Failure::Dump { .. }
            | Failure::Rewrite { .. }
            | Failure::Restore { .. }
            | Failure::CheckFloating { .. }
            | Failure::NotFloating { .. }
            | Failure::RemoteBuildFailed { .. }
            | Failure::RemoteMissingOutput { .. } => {}
        }
        k
    }

    /// The exit status of a realisation that failed with this failure alone.
    pub fn status(&self) -> i32 {
        self.kind().exit_status()
    }

    /// The status of a build result reporting this failure alone.
    pub fn build_status(&self) -> BuildStatus {
        self.kind().build_status()
    }
}

/// The build status an exit status stands for (see [`FailureKind::exit_status`]).
fn status_of(exit: i32) -> BuildStatus {
    if exit & 0x60 == 0x60 {
        if exit & 0x01 != 0 {
            BuildStatus::TimedOut
        } else if exit & 0x08 != 0 {
            BuildStatus::NotDeterministic
        } else if exit & 0x02 != 0 {
            BuildStatus::OutputRejected
        } else {
            BuildStatus::PermanentFailure
        }
    } else {
        BuildStatus::MiscFailure
    }
}

/// A failed realisation. Its `Display` is the message Nix 2.8 prints after `error: `;
/// [`BuildError::status`] is the exit status. Paths are as the store prints them.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A store operation failed. A build done through the store (`StoreError::Build`)
    /// keeps its exit status.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user interrupted the realisation.
    #[error("interrupted by the user")]
    Interrupted,
    /// A derivation has floating content-addressed outputs, and `ca-derivations` is off.
    #[error(
        "experimental Nix feature 'ca-derivations' is disabled; use '--extra-experimental-features ca-derivations' to override"
    )]
    CaDerivationsDisabled,
    /// A floating output names a hash algorithm Nix does not know.
    #[error("unknown hash algorithm '{algo}'")]
    UnknownHashAlgo { algo: String },
    /// A derivation to build is not in the store.
    #[error("path '{path}' is not valid")]
    InvalidPath { path: String },
    /// A source `drv` needs is neither valid nor to be had from a cache.
    #[error("path '{path}' is required by '{drv}' but is not valid")]
    InvalidInput { path: String, drv: String },
    /// A path (not made by any derivation at hand) could not be copied from a cache.
    #[error("path '{path}' is required, but there is no substituter that can build it")]
    NoSubstituter { path: String },
    /// A damaged path has no deriver to rebuild it with, and no cache has it.
    #[error("cannot repair path '{path}'")]
    CannotRepair { path: String },
    /// Copying outputs of `drv` from a cache failed, and `--fallback` is off.
    #[error(
        "some substitutes for the outputs of derivation '{drv}' failed (usually happens due to networking issues); try '--fallback' to build derivation from source "
    )]
    SubstitutesFailed { drv: String },
    /// An output of `drv` has no path yet (it depends on floating content-addressed
    /// derivations).
    #[error(
        "derivation '{drv}' has deferred output '{output}': it depends on floating content-addressed derivations, which Ferrix cannot resolve yet"
    )]
    DeferredOutput { drv: String, output: String },
    /// An output path of `drv` is not a store path.
    #[error("derivation '{drv}' has a bad output path: {error}")]
    BadOutputPath { drv: String, error: PathError },
    /// An output asked for is not one of `drv`'s.
    #[error("derivation '{drv}' does not have wanted outputs '{output}'")]
    NoSuchOutput { drv: String, output: String },
    /// `--check` of `drv`, whose outputs are not all valid.
    #[error("some outputs of '{drv}' are not valid, so checking is not possible")]
    CheckNotPossible { drv: String },
    /// The derivations to build on remote machines depend on each other in a cycle.
    #[error("cycle at '{path}'")]
    Cycle { path: String },
    /// `max-jobs` is 0 and no machine took the build. `kind`: the failures of the builds
    /// that ran meanwhile (the exit status is 1 all the same, as in Nix).
    #[error(
        "unable to start any build; either increase '--max-jobs' or enable remote builds.\n{DISTRIBUTED_BUILDS}"
    )]
    NoBuildSlots { kind: FailureKind },
    /// The store cannot build (a binary cache) and no remote machine is configured.
    #[error(
        "unable to build with a primary store that isn't a local store; either pass a different '--store' or enable remote builds.\n{DISTRIBUTED_BUILDS}"
    )]
    NotLocalStore,
    /// The build of the target `drv` failed; the text is its failure's. `kind`: the kinds
    /// of every failure of the realisation, which make the exit status (none when building
    /// on remote machines for a store that cannot build, where Nix's status is 1).
    #[error("{failure}")]
    Failed {
        drv: String,
        failure: Box<Failure>,
        kind: FailureKind,
    },
    /// `count` inputs of the target `drv` failed to build; `kind` as for `Failed`.
    #[error("{count} dependencies of derivation '{drv}' failed to build")]
    DependenciesFailed {
        drv: String,
        count: usize,
        kind: FailureKind,
    },
    /// Several targets (or paths to copy from a cache) failed; each target's own error
    /// was printed before. `kind` as for `Failed`.
    #[error("build of {} failed", quoted(paths))]
    BuildsFailed {
        paths: Vec<String>,
        kind: FailureKind,
    },
}

/// `'a', 'b'`.
fn quoted(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<PathError> for BuildError {
    fn from(e: PathError) -> Self {
        BuildError::Store(e.into())
    }
}

impl BuildError {
    /// What kinds of build failure led to it (none for errors before any build).
    pub fn kind(&self) -> FailureKind {
        match self {
            BuildError::NoBuildSlots { kind }
            | BuildError::Failed { kind, .. }
            | BuildError::DependenciesFailed { kind, .. }
            | BuildError::BuildsFailed { kind, .. } => *kind,
            _ => FailureKind::default(),
        }
    }

    /// The exit status: Nix's 100–111 for failed builds (from their kinds, see
    /// [`FailureKind::exit_status`]), that of a build done through a store, 1 otherwise.
    pub fn status(&self) -> i32 {
        match self {
            BuildError::Store(StoreError::Build { status, .. }) => *status,
            BuildError::Failed { kind, .. }
            | BuildError::DependenciesFailed { kind, .. }
            | BuildError::BuildsFailed { kind, .. } => kind.exit_status(),
            _ => 1,
        }
    }

    /// The status of a build result reporting this error, as the worker and serve
    /// protocols send it: from its kinds, else from its exit status.
    pub fn build_status(&self) -> BuildStatus {
        let kind = self.kind();
        if kind.log_limit {
            BuildStatus::LogLimitExceeded
        } else if kind.not_deterministic {
            BuildStatus::NotDeterministic
        } else {
            status_of(self.status())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a";
    const D: &str = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b.drv";

    fn s(x: &str) -> String {
        x.to_string()
    }

    fn permanent() -> FailureKind {
        FailureKind {
            permanent: true,
            ..FailureKind::default()
        }
    }

    /// Each variant's text is the one formatted at the point of failure before.
    #[test]
    fn texts() {
        let bad = PathError::NotInStore(s("/x"));
        let cases: Vec<(BuildError, String)> = vec![
            (
                BuildError::Store(StoreError::Other(s("it broke"))),
                s("it broke"),
            ),
            (
                BuildError::Store(StoreError::Build {
                    msg: s("builder failed"),
                    status: 100,
                }),
                s("builder failed"),
            ),
            (BuildError::from(bad.clone()), bad.to_string()),
            (BuildError::Interrupted, s("interrupted by the user")),
            (
                BuildError::CaDerivationsDisabled,
                s("experimental Nix feature 'ca-derivations' is disabled; use '--extra-experimental-features ca-derivations' to override"),
            ),
            (
                BuildError::UnknownHashAlgo { algo: s("md4") },
                s("unknown hash algorithm 'md4'"),
            ),
            (
                BuildError::InvalidPath { path: s(D) },
                format!("path '{D}' is not valid"),
            ),
            (
                BuildError::InvalidInput {
                    path: s(P),
                    drv: s(D),
                },
                format!("path '{P}' is required by '{D}' but is not valid"),
            ),
            (
                BuildError::NoSubstituter { path: s(P) },
                format!("path '{P}' is required, but there is no substituter that can build it"),
            ),
            (
                BuildError::CannotRepair { path: s(P) },
                format!("cannot repair path '{P}'"),
            ),
            (
                BuildError::SubstitutesFailed { drv: s(D) },
                format!("some substitutes for the outputs of derivation '{D}' failed (usually happens due to networking issues); try '--fallback' to build derivation from source "),
            ),
            (
                BuildError::DeferredOutput {
                    drv: s(D),
                    output: s("dev"),
                },
                format!("derivation '{D}' has deferred output 'dev': it depends on floating content-addressed derivations, which Ferrix cannot resolve yet"),
            ),
            (
                BuildError::BadOutputPath {
                    drv: s(D),
                    error: bad.clone(),
                },
                format!("derivation '{D}' has a bad output path: {bad}"),
            ),
            (
                BuildError::NoSuchOutput {
                    drv: s(D),
                    output: s("doc"),
                },
                format!("derivation '{D}' does not have wanted outputs 'doc'"),
            ),
            (
                BuildError::CheckNotPossible { drv: s(D) },
                format!("some outputs of '{D}' are not valid, so checking is not possible"),
            ),
            (BuildError::Cycle { path: s(D) }, format!("cycle at '{D}'")),
            (
                BuildError::NoBuildSlots {
                    kind: FailureKind::default(),
                },
                s("unable to start any build; either increase '--max-jobs' or enable remote builds.\nhttps://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html"),
            ),
            (
                BuildError::NotLocalStore,
                s("unable to build with a primary store that isn't a local store; either pass a different '--store' or enable remote builds.\nhttps://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html"),
            ),
            (
                BuildError::Failed {
                    drv: s(D),
                    failure: Box::new(Failure::BuilderFailed {
                        drv: s(D),
                        end: ProcessEnd::Exit(1),
                        log_tail: Vec::new(),
                    }),
                    kind: permanent(),
                },
                format!("builder for '{D}' failed with exit code 1"),
            ),
            (
                BuildError::DependenciesFailed {
                    drv: s(D),
                    count: 2,
                    kind: permanent(),
                },
                format!("2 dependencies of derivation '{D}' failed to build"),
            ),
            (
                BuildError::BuildsFailed {
                    paths: vec![s(P)],
                    kind: FailureKind::default(),
                },
                format!("build of '{P}' failed"),
            ),
            (
                BuildError::BuildsFailed {
                    paths: vec![s(D), s(P)],
                    kind: permanent(),
                },
                format!("build of '{D}', '{P}' failed"),
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text, "{e:?}");
        }
    }

    #[test]
    fn kind_exit_status() {
        let k = |f: fn(&mut FailureKind)| {
            let mut k = FailureKind::default();
            f(&mut k);
            k.exit_status()
        };
        assert_eq!(k(|_| {}), 1);
        assert_eq!(k(|k| k.permanent = true), 100);
        assert_eq!(k(|k| k.timed_out = true), 101);
        assert_eq!(k(|k| k.hash_mismatch = true), 102);
        assert_eq!(k(|k| k.check_mismatch = true), 104);
        assert_eq!(
            k(|k| {
                k.permanent = true;
                k.check_mismatch = true
            }),
            108
        );
        assert_eq!(
            k(|k| {
                k.timed_out = true;
                k.hash_mismatch = true
            }),
            103
        );
        assert_eq!(k(|k| k.log_limit = true), 1);
        assert_eq!(k(|k| k.not_deterministic = true), 1);
    }

    #[test]
    fn statuses() {
        let timed_out = FailureKind {
            timed_out: true,
            ..FailureKind::default()
        };
        let cases: Vec<(BuildError, i32)> = vec![
            (BuildError::Store(StoreError::Other(s("x"))), 1),
            (
                BuildError::Store(StoreError::Build {
                    msg: s("x"),
                    status: 102,
                }),
                102,
            ),
            (BuildError::Interrupted, 1),
            (BuildError::NoSubstituter { path: s(P) }, 1),
            (BuildError::NotLocalStore, 1),
            // Nothing could start: 1, whatever else failed.
            (BuildError::NoBuildSlots { kind: permanent() }, 1),
            (
                BuildError::Failed {
                    drv: s(D),
                    failure: Box::new(Failure::Cancelled { drv: s(D) }),
                    kind: timed_out,
                },
                101,
            ),
            // Built on remote machines for a cache: no kinds, 1.
            (
                BuildError::Failed {
                    drv: s(D),
                    failure: Box::new(Failure::RemoteBuildFailed {
                        drv: s(D),
                        machine: s("ssh://m"),
                        message: s("x"),
                    }),
                    kind: FailureKind::default(),
                },
                1,
            ),
            (
                BuildError::DependenciesFailed {
                    drv: s(D),
                    count: 1,
                    kind: permanent(),
                },
                100,
            ),
            (
                BuildError::BuildsFailed {
                    paths: vec![s(P)],
                    kind: FailureKind::default(),
                },
                1,
            ),
            (
                BuildError::BuildsFailed {
                    paths: vec![s(P), s(D)],
                    kind: FailureKind {
                        hash_mismatch: true,
                        ..FailureKind::default()
                    },
                },
                102,
            ),
        ];
        for (e, status) in cases {
            assert_eq!(e.status(), status, "{e:?}");
        }
        assert_eq!(
            BuildError::NoBuildSlots { kind: timed_out }.kind(),
            timed_out
        );
        assert_eq!(BuildError::Interrupted.kind(), FailureKind::default());
    }

    /// A build result's status: from the kinds, else from the exit status (that of a
    /// build done through a store included).
    #[test]
    fn build_statuses() {
        let kind = |f: fn(&mut FailureKind)| {
            let mut k = FailureKind::default();
            f(&mut k);
            k
        };
        let failed = |k: FailureKind| BuildError::Failed {
            drv: s(D),
            failure: Box::new(Failure::Cancelled { drv: s(D) }),
            kind: k,
        };
        let cases: Vec<(BuildError, BuildStatus)> = vec![
            (BuildError::Interrupted, BuildStatus::MiscFailure),
            (
                BuildError::Store(StoreError::Build {
                    msg: s("x"),
                    status: 101,
                }),
                BuildStatus::TimedOut,
            ),
            (
                failed(kind(|k| k.permanent = true)),
                BuildStatus::PermanentFailure,
            ),
            (failed(kind(|k| k.timed_out = true)), BuildStatus::TimedOut),
            (
                failed(kind(|k| k.hash_mismatch = true)),
                BuildStatus::OutputRejected,
            ),
            (
                failed(kind(|k| k.check_mismatch = true)),
                BuildStatus::NotDeterministic,
            ),
            (
                failed(kind(|k| {
                    k.permanent = true;
                    k.log_limit = true
                })),
                BuildStatus::LogLimitExceeded,
            ),
            (
                failed(kind(|k| k.not_deterministic = true)),
                BuildStatus::NotDeterministic,
            ),
            (failed(FailureKind::default()), BuildStatus::MiscFailure),
            // Nothing could start: whatever failed meanwhile, a miscellaneous failure.
            (
                BuildError::NoBuildSlots {
                    kind: kind(|k| k.permanent = true),
                },
                BuildStatus::MiscFailure,
            ),
        ];
        for (e, status) in cases {
            assert_eq!(e.build_status(), status, "{e:?}");
        }
    }

    fn enoent() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOENT)
    }

    fn sha(data: &[u8]) -> Hash {
        Hash::sha256(data)
    }

    /// Each failure's text (Nix 2.8's), the exit status of a realisation failing with it
    /// alone, and the status of a build result reporting it.
    #[test]
    fn failures() {
        use crate::buildenv::BuildenvError;
        use crate::env::EnvError;
        use crate::fetchurl::{DownloadError, FetchurlError};
        use crate::recursive::RecursiveError;
        use crate::sandbox::{NulError, SpawnError};
        use crate::users::BuildUserError;
        use BuildStatus::*;
        let bad = PathError::NotInStore(s("/x"));
        let json_error = serde_json::from_slice::<serde_json::Value>(b"{").unwrap_err();
        let json_text = json_error.to_string();
        let lines = vec![s("one"), s("two")];
        let cases: Vec<(Failure, String, i32, BuildStatus)> = vec![
            (
                Failure::Store(StoreError::Other(s("it broke"))),
                s("it broke"),
                1,
                MiscFailure,
            ),
            (Failure::from(bad.clone()), bad.to_string(), 1, MiscFailure),
            (
                IoError::new("creating directory", "/t/d", enoent()).into(),
                s("creating directory '/t/d': No such file or directory"),
                1,
                MiscFailure,
            ),
            (
                IoError::errno("changing owner of", "/t/f", Errno::EPERM).into(),
                s("changing owner of '/t/f': Operation not permitted"),
                1,
                MiscFailure,
            ),
            (
                Failure::OutputsLocked { drv: s(D) },
                format!("the outputs of '{D}' are being built by another process"),
                1,
                MiscFailure,
            ),
            (
                Failure::NoSuchInputOutput {
                    drv: s(D),
                    output: s("dev"),
                },
                format!("derivation '{D}' does not have an output named 'dev'"),
                1,
                MiscFailure,
            ),
            (
                Failure::WrongPlatform {
                    platform: s("aarch64-linux"),
                    required: vec![s("big"), s("kvm")],
                    drv: s(D),
                    system: s("x86_64-linux"),
                    offered: vec![s("benchmark"), s("kvm")],
                },
                format!("a 'aarch64-linux' with features {{big, kvm}} is required to build '{D}', but I am a 'x86_64-linux' with features {{benchmark, kvm}}"),
                1,
                MiscFailure,
            ),
            (
                Failure::WrongPlatform {
                    platform: s("x"),
                    required: vec![],
                    drv: s(D),
                    system: s("y"),
                    offered: vec![],
                },
                format!("a 'x' with features {{}} is required to build '{D}', but I am a 'y' with features {{}}"),
                1,
                MiscFailure,
            ),
            (
                Failure::RecursiveNixDisabled,
                s("experimental Nix feature 'recursive-nix' is disabled; use '--extra-experimental-features recursive-nix' to override"),
                1,
                MiscFailure,
            ),
            (
                Failure::NoChrootNotAllowed { drv: s(D) },
                format!("derivation '{D}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'"),
                1,
                MiscFailure,
            ),
            (
                BuildUserError::NoSuchGroup { group: s("nixbld") }.into(),
                s("the group 'nixbld' specified in 'build-users-group' does not exist"),
                1,
                MiscFailure,
            ),
            (
                BuildUserError::GetGroup {
                    group: s("nixbld"),
                    errno: Errno::EIO,
                }
                .into(),
                s("getting the group 'nixbld': EIO: I/O error"),
                1,
                MiscFailure,
            ),
            (
                BuildUserError::NoMembers { group: s("nixbld") }.into(),
                s("the build users group 'nixbld' has no members"),
                1,
                MiscFailure,
            ),
            (
                BuildUserError::NoSuchUser {
                    user: s("nixbld1"),
                    group: s("nixbld"),
                }
                .into(),
                s("the user 'nixbld1' in the group 'nixbld' does not exist"),
                1,
                MiscFailure,
            ),
            (
                BuildUserError::NixUserIsMember { group: s("nixbld") }.into(),
                s("the Nix user should not be a member of 'nixbld'"),
                1,
                MiscFailure,
            ),
            (
                BuildUserError::Io(IoError::new("creating directory", "/p", enoent())).into(),
                s("creating directory '/p': No such file or directory"),
                1,
                MiscFailure,
            ),
            (
                Failure::Env(EnvError::BadJson(json_error)),
                format!("cannot process __json attribute: {json_text}"),
                1,
                MiscFailure,
            ),
            (
                Failure::Env(EnvError::JsonNotObject),
                s("cannot process __json attribute: not an object"),
                1,
                MiscFailure,
            ),
            (
                Failure::Env(EnvError::GraphEntryNotPath),
                s("exportReferencesGraph entries must be store paths"),
                1,
                MiscFailure,
            ),
            (
                Failure::Env(EnvError::Path(bad.clone())),
                bad.to_string(),
                1,
                MiscFailure,
            ),
            // The same texts are permanent failures when `exportReferencesGraph` of a
            // derivation without structured attributes is wrong.
            (
                Failure::ReferencesGraph(EnvError::NotInInputClosure { path: s(P) }),
                format!("cannot export references of path '{P}' because it is not in the input closure of the derivation"),
                100,
                PermanentFailure,
            ),
            (
                Failure::Env(EnvError::NotInInputClosure { path: s(P) }),
                format!("cannot export references of path '{P}' because it is not in the input closure of the derivation"),
                1,
                MiscFailure,
            ),
            (
                Failure::ReferencesGraph(EnvError::OddGraphTokens),
                s("odd number of tokens in 'exportReferencesGraph'"),
                100,
                PermanentFailure,
            ),
            (
                Failure::ReferencesGraph(EnvError::BadGraphFileName { name: s("a/b") }),
                s("invalid file name 'a/b' in 'exportReferencesGraph'"),
                100,
                PermanentFailure,
            ),
            (
                NulError::Path(PathBuf::from("/a\0b")).into(),
                s("path '/a\0b' contains a NUL byte"),
                1,
                MiscFailure,
            ),
            (
                NulError::String(b"x=\0".to_vec()).into(),
                s("string 'x=\0' contains a NUL byte"),
                1,
                MiscFailure,
            ),
            (
                Failure::OpenLog(enoent()),
                s("opening the build log: No such file or directory (os error 2)"),
                1,
                MiscFailure,
            ),
            (
                Failure::Pipe(Errno::EMFILE),
                s("creating a pipe: EMFILE: Too many open files"),
                1,
                MiscFailure,
            ),
            (
                Failure::ReadLog(Errno::EIO),
                s("reading the build log: EIO: I/O error"),
                1,
                MiscFailure,
            ),
            (
                Failure::Spawn(SpawnError::Exec {
                    program: b"/bin/sh".to_vec(),
                    errno: libc::ENOENT,
                }),
                s("while setting up the build environment: executing '/bin/sh': No such file or directory"),
                1,
                MiscFailure,
            ),
            (
                Failure::Spawn(SpawnError::Step {
                    step: "mounting /proc",
                    errno: libc::EPERM,
                }),
                s("while setting up the build environment: mounting /proc: Operation not permitted"),
                1,
                MiscFailure,
            ),
            (
                Failure::Spawn(SpawnError::Fork(Errno::EAGAIN)),
                s("while setting up the build environment: unable to fork: EAGAIN: Try again"),
                1,
                MiscFailure,
            ),
            (
                Failure::Spawn(SpawnError::Pipe(Errno::EMFILE)),
                s("while setting up the build environment: creating a pipe: EMFILE: Too many open files"),
                1,
                MiscFailure,
            ),
            (
                Failure::Spawn(SpawnError::DevNull),
                s("while setting up the build environment: opening /dev/null"),
                1,
                MiscFailure,
            ),
            (
                RecursiveError::Unavailable.into(),
                s("recursive Nix is not available in this program (no daemon to serve the build)"),
                1,
                MiscFailure,
            ),
            (
                RecursiveError::Start(io::Error::from_raw_os_error(libc::EADDRINUSE)).into(),
                s("starting the recursive Nix daemon: Address already in use"),
                1,
                MiscFailure,
            ),
            (
                Failure::Cancelled { drv: s(D) },
                format!("build of '{D}' was cancelled"),
                1,
                MiscFailure,
            ),
            (
                Failure::SilenceTimeout {
                    goal: format!("{D}!out"),
                    seconds: 2,
                },
                format!("building of '{D}!out' from .drv file timed out after 2 seconds of silence"),
                101,
                TimedOut,
            ),
            (
                Failure::Timeout {
                    goal: format!("{D}!dev,out"),
                    seconds: 3,
                },
                format!("building of '{D}!dev,out' from .drv file timed out after 3 seconds"),
                101,
                TimedOut,
            ),
            (
                Failure::LogLimit {
                    goal: format!("{D}!out"),
                    bytes: 1000,
                },
                format!("building of '{D}!out' from .drv file killed after writing more than 1000 bytes of log output"),
                1,
                LogLimitExceeded,
            ),
            (
                Failure::BuilderFailed {
                    drv: s(D),
                    end: ProcessEnd::Exit(1),
                    log_tail: Vec::new(),
                },
                format!("builder for '{D}' failed with exit code 1"),
                100,
                PermanentFailure,
            ),
            (
                Failure::BuilderFailed {
                    drv: s(D),
                    end: ProcessEnd::Signal(9),
                    log_tail: lines.clone(),
                },
                format!("builder for '{D}' failed due to signal 9 (Killed);\nlast 2 log lines:\n> one\n> two\nFor full logs, run 'nix log {D}'."),
                100,
                PermanentFailure,
            ),
            (
                Failure::SandboxPathInaccessible { path: s("/nope") },
                s("path '/nope' is configured as part of the `sandbox-paths` option, but is inaccessible"),
                1,
                MiscFailure,
            ),
            (
                Failure::HookNotRun {
                    program: s("/hook"),
                    source: enoent(),
                },
                s("executing '/hook': No such file or directory"),
                1,
                MiscFailure,
            ),
            (
                Failure::HookFailed {
                    program: s("/hook"),
                    end: ProcessEnd::Exit(3),
                },
                s("program '/hook' failed with exit code 3"),
                1,
                MiscFailure,
            ),
            (
                Failure::HookFailed {
                    program: s("/hook"),
                    end: ProcessEnd::Signal(15),
                },
                s("program '/hook' failed due to signal 15 (Terminated)"),
                1,
                MiscFailure,
            ),
            (
                Failure::HookFailed {
                    program: s("/hook"),
                    end: ProcessEnd::Unknown,
                },
                s("program '/hook' failed"),
                1,
                MiscFailure,
            ),
            (
                Failure::UnknownHookCommand { line: s("hello") },
                s("unknown pre-build hook command 'hello'"),
                1,
                MiscFailure,
            ),
            (
                Failure::UnsupportedBuiltin { name: s("frob") },
                s("unsupported builtin builder 'frob'"),
                100,
                PermanentFailure,
            ),
            (
                Failure::NoOutputs { drv: s(D) },
                format!("derivation '{D}' has no outputs"),
                1,
                MiscFailure,
            ),
            (
                Failure::FetchurlFailed {
                    drv: s(D),
                    error: FetchurlError::MissingAttr { name: s("url") },
                },
                format!("builder for '{D}' failed: attribute 'url' missing"),
                100,
                PermanentFailure,
            ),
            (
                Failure::FetchurlFailed {
                    drv: s(D),
                    error: FetchurlError::Download {
                        url: s("file:///nope"),
                        reason: DownloadError::OpenFile(enoent()),
                    },
                },
                format!("builder for '{D}' failed: unable to download 'file:///nope': No such file or directory"),
                100,
                PermanentFailure,
            ),
            (
                Failure::FetchurlFailed {
                    drv: s(D),
                    error: FetchurlError::Download {
                        url: s("ftp://h/x"),
                        reason: DownloadError::UnsupportedProtocol,
                    },
                },
                format!("builder for '{D}' failed: unable to download 'ftp://h/x': unsupported protocol"),
                100,
                PermanentFailure,
            ),
            (
                Failure::FetchurlFailed {
                    drv: s(D),
                    error: FetchurlError::Download {
                        url: s("http://h/x"),
                        reason: DownloadError::Status(404),
                    },
                },
                format!("builder for '{D}' failed: unable to download 'http://h/x': HTTP error 404"),
                100,
                PermanentFailure,
            ),
            (
                Failure::FetchurlFailed {
                    drv: s(D),
                    error: FetchurlError::Unpack {
                        url: s("http://h/x.nar"),
                        source: io::Error::other("bad archive"),
                    },
                },
                format!("builder for '{D}' failed: unpacking 'http://h/x.nar': bad archive"),
                100,
                PermanentFailure,
            ),
            (
                Failure::FetchurlFailed {
                    drv: s(D),
                    error: FetchurlError::Create {
                        path: PathBuf::from(P),
                        source: enoent(),
                    },
                },
                format!("builder for '{D}' failed: creating '{P}': No such file or directory"),
                100,
                PermanentFailure,
            ),
            (
                Failure::FetchurlFailed {
                    drv: s(D),
                    error: FetchurlError::MakeExecutable {
                        path: PathBuf::from(P),
                        source: enoent(),
                    },
                },
                format!("builder for '{D}' failed: making '{P}' executable: No such file or directory"),
                100,
                PermanentFailure,
            ),
            (
                Failure::BuildenvFailed {
                    drv: s(D),
                    error: BuildenvError::MissingAttr {
                        name: s("manifest"),
                    },
                },
                format!("builder for '{D}' failed: attribute 'manifest' missing"),
                100,
                PermanentFailure,
            ),
            (
                Failure::BuildenvFailed {
                    drv: s(D),
                    error: BuildenvError::NotDirectory {
                        path: PathBuf::from("/a/bin"),
                        target: PathBuf::from("/b/bin"),
                    },
                },
                format!("builder for '{D}' failed: collision between '/a/bin' and non-directory '/b/bin'"),
                100,
                PermanentFailure,
            ),
            (
                Failure::BuildenvFailed {
                    drv: s(D),
                    error: BuildenvError::Directory {
                        path: PathBuf::from("/a/bin"),
                        dir: PathBuf::from("/o/bin"),
                    },
                },
                format!("builder for '{D}' failed: collision between non-directory '/a/bin' and directory '/o/bin'"),
                100,
                PermanentFailure,
            ),
            (
                Failure::BuildenvFailed {
                    drv: s(D),
                    error: BuildenvError::SamePriority {
                        path: PathBuf::from("/a/bin/x"),
                        other: s("/b/bin/x"),
                        priority: 5,
                    },
                },
                format!("builder for '{D}' failed: packages '/a/bin/x' and '/b/bin/x' have the same priority 5; use 'nix-env --set-flag priority NUMBER INSTALLED_PKGNAME' to change the priority of one of the conflicting packages (0 being the highest priority)"),
                100,
                PermanentFailure,
            ),
            (
                Failure::BuildenvFailed {
                    drv: s(D),
                    error: BuildenvError::Io(IoError::new("unlinking", "/o/x", enoent())),
                },
                format!("builder for '{D}' failed: unlinking '/o/x': No such file or directory"),
                100,
                PermanentFailure,
            ),
            (
                Failure::StoreDirOwner {
                    path: PathBuf::from("/nix/store"),
                    errno: Errno::EPERM,
                },
                s("changing ownership of path '/nix/store': EPERM: Operation not permitted"),
                1,
                MiscFailure,
            ),
            (
                Failure::SecretKeys(ferrix_store::sigs::KeyError::Corrupt),
                s("secret key is corrupt"),
                1,
                MiscFailure,
            ),
            (
                Failure::SecretKeys(ferrix_store::sigs::KeyError::Open {
                    file: s("/k"),
                    source: enoent(),
                }),
                s("opening file '/k': No such file or directory"),
                1,
                MiscFailure,
            ),
            (
                Failure::UnsupportedFileType {
                    path: PathBuf::from("/o/fifo"),
                },
                s("file '/o/fifo' has an unsupported type"),
                100,
                PermanentFailure,
            ),
            (
                Failure::UnknownHashAlgo { algo: s("md4") },
                s("unknown hash algorithm 'md4'"),
                1,
                MiscFailure,
            ),
            (
                Failure::BadHash(HashError::BadNix32(s("zz"))),
                s("invalid base-32 hash 'zz'"),
                1,
                MiscFailure,
            ),
            (
                Failure::MissingOutput {
                    drv: s(D),
                    output: s("dev"),
                    at: PathBuf::from(P),
                },
                format!("builder for '{D}' failed to produce output path for output 'dev' at '{P}'"),
                1,
                MiscFailure,
            ),
            (
                Failure::Dump {
                    path: PathBuf::from(P),
                    source: enoent(),
                },
                format!("dumping '{P}': No such file or directory (os error 2)"),
                1,
                MiscFailure,
            ),
            (
                Failure::Rewrite {
                    path: PathBuf::from(P),
                    source: io::Error::other("bad"),
                },
                format!("rewriting '{P}': bad"),
                1,
                MiscFailure,
            ),
            (
                Failure::Restore {
                    path: PathBuf::from(P),
                    source: io::Error::other("bad"),
                },
                format!("restoring '{P}': bad"),
                1,
                MiscFailure,
            ),
            (
                Failure::FlatOutputNotFile {
                    path: PathBuf::from(P),
                },
                format!("output path '{P}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)"),
                100,
                PermanentFailure,
            ),
            (
                Failure::HashMismatch {
                    drv: s(D),
                    specified: sha(b""),
                    got: sha(b"abc"),
                },
                format!("hash mismatch in fixed-output derivation '{D}':\n  specified: sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n     got:    sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="),
                102,
                OutputRejected,
            ),
            (
                Failure::FixedOutputReferences { drv: s(D) },
                format!("illegal path references in fixed-output derivation '{D}'"),
                100,
                PermanentFailure,
            ),
            (
                Failure::CheckFloating { drv: s(D) },
                format!("checking floating content-addressed derivation '{D}' is not supported by Ferrix"),
                1,
                MiscFailure,
            ),
            (
                Failure::CheckMismatch {
                    drv: s(D),
                    output: PathBuf::from(P),
                    kept: None,
                },
                format!("derivation '{D}' may not be deterministic: output '{P}' differs"),
                104,
                NotDeterministic,
            ),
            (
                Failure::CheckMismatch {
                    drv: s(D),
                    output: PathBuf::from(P),
                    kept: Some(PathBuf::from(format!("{P}.check"))),
                },
                format!("derivation '{D}' may not be deterministic: output '{P}' differs from '{P}.check'"),
                104,
                NotDeterministic,
            ),
            (
                Failure::NotDeterministic {
                    drv: s(D),
                    output: s(P),
                },
                format!("output '{P}' of '{D}' differs from previous round"),
                1,
                NotDeterministic,
            ),
            (
                Failure::FloatingCycle {
                    drv: s(D),
                    output: s("a"),
                    from: s("b"),
                },
                format!("cycle detected in build of '{D}' in the references of output 'a' from output 'b'"),
                100,
                PermanentFailure,
            ),
            (
                Failure::NotFloating {
                    drv: s(D),
                    output: s("out"),
                },
                format!("output 'out' of '{D}' is not floating content-addressed"),
                1,
                MiscFailure,
            ),
            (
                Failure::FloatingReferences {
                    drv: s(D),
                    output: s("out"),
                },
                format!("output 'out' of '{D}' has references, which only a recursive SHA-256 content-addressed output may have"),
                100,
                PermanentFailure,
            ),
            (
                Failure::IllegalReferenceSpecifier { spec: s("foo") },
                s("derivation contains an illegal reference specifier 'foo'"),
                100,
                PermanentFailure,
            ),
            (
                Failure::DisallowedReferences {
                    output: s(P),
                    paths: vec![s(D), s(P)],
                },
                format!("output '{P}' is not allowed to refer to the following paths:\n  {D}\n  {P}"),
                100,
                PermanentFailure,
            ),
            (
                Failure::ReferenceCycle {
                    path: s(P),
                    parent: s(D),
                },
                format!("cycle detected in the references of '{P}' from '{D}'"),
                100,
                PermanentFailure,
            ),
            // The text of a local builder's exit, but the machine's failure, of no kind.
            (
                Failure::RemoteBuildFailed {
                    drv: s(D),
                    machine: s("ssh://m"),
                    message: s("it failed there"),
                },
                format!("builder for '{D}' failed with exit code 1"),
                1,
                MiscFailure,
            ),
            (
                Failure::RemoteMissingOutput {
                    drv: s(D),
                    machine: s("ssh://m"),
                    path: s(P),
                },
                format!("the build of '{D}' on 'ssh://m' did not produce '{P}'"),
                1,
                MiscFailure,
            ),
            (
                Failure::RemoteForeignReference {
                    path: s(P),
                    machine: s("ssh://m"),
                    reference: s("/nix/store/cccccccccccccccccccccccccccccccc-c"),
                    drv: s(D),
                },
                format!("output '{P}' built on 'ssh://m' refers to '/nix/store/cccccccccccccccccccccccccccccccc-c', which is not an input of '{D}'"),
                100,
                PermanentFailure,
            ),
        ];
        for (f, text, status, build_status) in cases {
            assert_eq!(f.to_string(), text, "{f:?}");
            assert_eq!(f.status(), status, "{f:?}");
            assert_eq!(f.build_status(), build_status, "{f:?}");
            // A target failing so fails the realisation with its text and status.
            let e = BuildError::Failed {
                drv: s(D),
                kind: f.kind(),
                failure: Box::new(f),
            };
            assert_eq!(e.to_string(), text);
            assert_eq!(e.status(), status);
            assert_eq!(e.build_status(), build_status);
        }
    }

    /// Exactly one bit of the kind per kind of failure, as the variant says.
    #[test]
    fn failure_kinds() {
        let one = |f: Failure| f.kind();
        assert_eq!(
            one(Failure::Timeout {
                goal: s(D),
                seconds: 1
            }),
            FailureKind {
                timed_out: true,
                ..FailureKind::default()
            }
        );
        assert_eq!(
            one(Failure::HashMismatch {
                drv: s(D),
                specified: sha(b"a"),
                got: sha(b"b"),
            }),
            FailureKind {
                hash_mismatch: true,
                ..FailureKind::default()
            }
        );
        assert_eq!(
            one(Failure::LogLimit {
                goal: s(D),
                bytes: 1
            }),
            FailureKind {
                log_limit: true,
                ..FailureKind::default()
            }
        );
        assert_eq!(
            one(Failure::NotDeterministic {
                drv: s(D),
                output: s(P)
            }),
            FailureKind {
                not_deterministic: true,
                ..FailureKind::default()
            }
        );
        assert_eq!(
            one(Failure::CheckMismatch {
                drv: s(D),
                output: PathBuf::from(P),
                kept: None
            }),
            FailureKind {
                check_mismatch: true,
                ..FailureKind::default()
            }
        );
        assert_eq!(
            one(Failure::IllegalReferenceSpecifier { spec: s("x") }),
            permanent()
        );
        assert_eq!(
            one(Failure::Store(StoreError::Build {
                msg: s("x"),
                status: 100
            })),
            FailureKind::default()
        );
    }
}
