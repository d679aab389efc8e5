//! `SetOptions`: the client's settings, sent right after the greeting.

use crate::codec::{read_string, read_u32, write_string, write_u64};
use crate::error::Result;
use crate::Version;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};

/// A log level. Nix sends it as a plain number and does not bound it (`-v` given many
/// times goes past [`Verbosity::VOMIT`]), so any `u32` is a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Verbosity(pub u32);

impl Verbosity {
    pub const ERROR: Verbosity = Verbosity(0);
    pub const WARN: Verbosity = Verbosity(1);
    pub const NOTICE: Verbosity = Verbosity(2);
    pub const INFO: Verbosity = Verbosity(3);
    pub const TALKATIVE: Verbosity = Verbosity(4);
    pub const CHATTY: Verbosity = Verbosity(5);
    pub const DEBUG: Verbosity = Verbosity(6);
    pub const VOMIT: Verbosity = Verbosity(7);
}

impl fmt::Display for Verbosity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The settings a client sends with `SetOptions`, in their wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub keep_failed: bool,
    pub keep_going: bool,
    pub try_fallback: bool,
    pub verbosity: Verbosity,
    pub max_build_jobs: u32,
    /// Seconds.
    pub max_silent_time: u32,
    /// Sent as a verbosity: `ERROR` when set, `VOMIT` when not.
    pub verbose_build: bool,
    pub build_cores: u32,
    pub use_substitutes: bool,
    /// Other settings by name (from 1.12), with their values as `nix.conf` would give them.
    /// A name sent twice keeps its first value, as in Nix.
    pub overrides: BTreeMap<String, String>,
}

impl Default for ClientSettings {
    /// Nix 2.8's defaults, with no overrides.
    fn default() -> Self {
        ClientSettings {
            keep_failed: false,
            keep_going: false,
            try_fallback: false,
            verbosity: Verbosity::INFO,
            max_build_jobs: 1,
            max_silent_time: 0,
            verbose_build: true,
            build_cores: 0,
            use_substitutes: true,
            overrides: BTreeMap::new(),
        }
    }
}

fn flag<R: Read + ?Sized>(r: &mut R, what: &'static str) -> Result<bool> {
    Ok(read_u32(r, what)? != 0)
}

impl ClientSettings {
    /// Reads the arguments of `SetOptions` (after the op code).
    pub fn read<R: Read + ?Sized>(r: &mut R, ver: Version) -> Result<ClientSettings> {
        let keep_failed = flag(r, "keepFailed")?;
        let keep_going = flag(r, "keepGoing")?;
        let try_fallback = flag(r, "tryFallback")?;
        let verbosity = Verbosity(read_u32(r, "verbosity")?);
        let max_build_jobs = read_u32(r, "maxBuildJobs")?;
        let max_silent_time = read_u32(r, "maxSilentTime")?;
        read_u32(r, "useBuildHook")?;
        let verbose_build = Verbosity(read_u32(r, "verboseBuild")?) == Verbosity::ERROR;
        read_u32(r, "logType")?;
        read_u32(r, "printBuildTrace")?;
        let build_cores = read_u32(r, "buildCores")?;
        let use_substitutes = flag(r, "useSubstitutes")?;
        let mut overrides = BTreeMap::new();
        if ver.at_least(12) {
            let n = read_u32(r, "number of overrides")?;
            for _ in 0..n {
                let name = read_string(r, "setting name")?;
                let value = read_string(r, "setting value")?;
                overrides.entry(name).or_insert(value);
            }
        }
        Ok(ClientSettings {
            keep_failed,
            keep_going,
            try_fallback,
            verbosity,
            max_build_jobs,
            max_silent_time,
            verbose_build,
            build_cores,
            use_substitutes,
            overrides,
        })
    }

    /// Writes the arguments of `SetOptions` (after the op code), as a Nix 2.8 client
    /// does: the obsolete `useBuildHook` as 1, log type and build trace as 0. Overrides are
    /// left out before 1.12.
    pub fn write<W: Write + ?Sized>(&self, w: &mut W, ver: Version) -> Result<()> {
        write_u64(w, u64::from(self.keep_failed))?;
        write_u64(w, u64::from(self.keep_going))?;
        write_u64(w, u64::from(self.try_fallback))?;
        write_u64(w, u64::from(self.verbosity.0))?;
        write_u64(w, u64::from(self.max_build_jobs))?;
        write_u64(w, u64::from(self.max_silent_time))?;
        write_u64(w, 1)?;
        let vb = if self.verbose_build {
            Verbosity::ERROR
        } else {
            Verbosity::VOMIT
        };
        write_u64(w, u64::from(vb.0))?;
        write_u64(w, 0)?;
        write_u64(w, 0)?;
        write_u64(w, u64::from(self.build_cores))?;
        write_u64(w, u64::from(self.use_substitutes))?;
        if ver.at_least(12) {
            write_u64(w, self.overrides.len() as u64)?;
            for (k, v) in &self.overrides {
                write_string(w, k)?;
                write_string(w, v)?;
            }
        }
        Ok(())
    }
}
