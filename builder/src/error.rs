//! How a realisation fails: [`BuildError`], whose variants name the kinds of failure and
//! whose text (`Display`) is the message Nix 2.8 prints after `error: `; the exit status is
//! derived from the variant ([`BuildError::status`]).

use ferrix_store::path::PathError;
use ferrix_store::store::StoreError;

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
}

/// The failure of one derivation's build: its message and what kind of failure it was.
///
/// The message stays text: it is made where the build of the derivation failed (the
/// builder's exit, an output's hash, an I/O error while setting up the sandbox, a remote
/// machine's answer, ...) in `goal`, `outputs` and `remote`, and no code looks into it; a
/// [`BuildError`] carries it whole ([`BuildError::Failed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct Failure {
    pub msg: String,
    pub kind: FailureKind,
}

impl Failure {
    pub(crate) fn other(msg: impl Into<String>) -> Failure {
        Failure {
            msg: msg.into(),
            kind: FailureKind::default(),
        }
    }
    pub(crate) fn permanent(msg: impl Into<String>) -> Failure {
        Failure {
            msg: msg.into(),
            kind: FailureKind {
                permanent: true,
                ..FailureKind::default()
            },
        }
    }
}

impl From<PathError> for Failure {
    fn from(e: PathError) -> Self {
        Failure::other(e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::other(e.to_string())
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
        failure: Failure,
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
                    failure: Failure::permanent(format!(
                        "builder for '{D}' failed with exit code 1"
                    )),
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
                    failure: Failure::other("x"),
                    kind: timed_out,
                },
                101,
            ),
            // Built on remote machines for a cache: no kinds, 1.
            (
                BuildError::Failed {
                    drv: s(D),
                    failure: Failure::permanent("x"),
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
}
