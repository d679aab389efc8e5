//! Every configuration setting of Nix 2.8, declared once: its name, aliases, type, default
//! and documentation, and the reading of `nix.conf` the way Nix 2.8 reads it.
//!
//! [`Settings`] has one typed field per setting. [`DEFINITIONS`] lists them for the command
//! line (each setting is also a flag) and for documentation. [`Settings::load`] reads, in
//! order:
//!
//! 1. `$NIX_CONF_DIR/nix.conf` (default `/etc/nix/nix.conf`);
//! 2. the user files: `$NIX_USER_CONF_FILES` (colon-separated) if set, else
//!    `$XDG_CONFIG_HOME/nix/nix.conf` (default `~/.config`) and the `nix/nix.conf` of each
//!    `$XDG_CONFIG_DIRS` entry (default `/etc/xdg`), the last of them read first;
//! 3. `$NIX_CONFIG`, as the text of a configuration file.
//!
//! The caller then applies the command line with [`Settings::set`]. A file is a sequence of
//! `NAME = VALUE` lines (words separated by white space, `#` starting a comment),
//! `include FILE` and `!include FILE` (a missing file is an error for the former only).
//! `extra-NAME = VALUE` appends to a list setting. A name nobody declares is remembered and
//! reported by [`Settings::unknown`], which the binary prints as Nix's `unknown setting`
//! warning.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// How a setting's value is written, which decides its command-line flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `true`/`false`: the flags `--NAME` and `--no-NAME`.
    Bool,
    /// One value: `--NAME VALUE`.
    Value,
    /// A white-space separated list: `--NAME VALUE` and `--extra-NAME VALUE`.
    List,
}

/// What Ferrix does with a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Ferrix acts on it.
    Yes,
    /// It belongs to a part of Nix that Ferrix does not have yet (the string says which).
    /// Configuration files may still set it, since Nix's own tools read the same files; a
    /// Ferrix command given a value other than the default on its command line refuses it.
    Later(&'static str),
    /// It configures only something Ferrix will never run (flakes, `nix-shell`, the new
    /// CLI); it is accepted everywhere and has no effect on Ferrix's commands.
    Foreign(&'static str),
}

/// One declared setting.
#[derive(Clone, Copy, Debug)]
pub struct Definition {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub support: Support,
    pub doc: &'static str,
}

/// A setting that could not be applied, worded as Nix 2.8 words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("setting '{name}' has invalid value '{value}'")]
    Invalid { name: String, value: String },
    #[error("Boolean setting '{name}' has invalid value '{value}'")]
    InvalidBool { name: String, value: String },
    #[error("configuration setting '{name}' should be 'auto' or an integer")]
    MaxJobs { name: String },
    #[error("option '{name}' has invalid value '{value}'")]
    Sandbox { name: String, value: String },
    #[error("illegal configuration line '{line}' in '{origin}'")]
    IllegalLine { line: String, origin: String },
    #[error("file '{file}' included from '{origin}' not found")]
    MissingInclude { file: String, origin: String },
    #[error("the setting '{name}' is not supported by Ferrix yet ({reason})")]
    Unsupported { name: String, reason: &'static str },
}

impl SettingError {
    /// Whether Nix reports this as a usage error (followed by `Try '… --help'`).
    pub fn is_usage(&self) -> bool {
        !matches!(self, SettingError::MissingInclude { .. })
    }
}

/// The value of one setting: how it parses and prints.
pub trait SettingValue: Sized {
    const KIND: Kind;
    fn parse(name: &str, value: &str) -> Result<Self, SettingError>;
    /// `extra-NAME = VALUE`; only list settings have it.
    fn append(&mut self, _name: &str, _value: &str) -> Result<(), SettingError> {
        unreachable_append()
    }
    fn render(&self) -> String;
}

fn unreachable_append() -> Result<(), SettingError> {
    // `set` only calls `append` for settings of kind `List`.
    Err(SettingError::Invalid {
        name: String::new(),
        value: String::new(),
    })
}

fn invalid(name: &str, value: &str) -> SettingError {
    SettingError::Invalid {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

impl SettingValue for bool {
    const KIND: Kind = Kind::Bool;
    fn parse(name: &str, value: &str) -> Result<bool, SettingError> {
        match value {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(SettingError::InvalidBool {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for u64 {
    const KIND: Kind = Kind::Value;
    fn parse(name: &str, value: &str) -> Result<u64, SettingError> {
        value.parse().map_err(|_| invalid(name, value))
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for i64 {
    const KIND: Kind = Kind::Value;
    fn parse(name: &str, value: &str) -> Result<i64, SettingError> {
        value.parse().map_err(|_| invalid(name, value))
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for String {
    const KIND: Kind = Kind::Value;
    fn parse(_: &str, value: &str) -> Result<String, SettingError> {
        Ok(value.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl SettingValue for Vec<String> {
    const KIND: Kind = Kind::List;
    fn parse(_: &str, value: &str) -> Result<Vec<String>, SettingError> {
        Ok(value.split_whitespace().map(str::to_owned).collect())
    }
    fn append(&mut self, _: &str, value: &str) -> Result<(), SettingError> {
        self.extend(value.split_whitespace().map(str::to_owned));
        Ok(())
    }
    fn render(&self) -> String {
        self.join(" ")
    }
}

/// `max-jobs`: a number of jobs, or `auto` for one per CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxJobs(pub usize);

impl SettingValue for MaxJobs {
    const KIND: Kind = Kind::Value;
    fn parse(name: &str, value: &str) -> Result<MaxJobs, SettingError> {
        if value == "auto" {
            return Ok(MaxJobs(cpu_count()));
        }
        value
            .parse()
            .map(MaxJobs)
            .map_err(|_| SettingError::MaxJobs {
                name: name.to_owned(),
            })
    }
    fn render(&self) -> String {
        self.0.to_string()
    }
}

/// `sandbox`: whether builds run isolated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxMode {
    On,
    Off,
    /// Sandboxed unless the derivation sets `__noChroot`.
    Relaxed,
}

impl SettingValue for SandboxMode {
    const KIND: Kind = Kind::Bool;
    fn parse(name: &str, value: &str) -> Result<SandboxMode, SettingError> {
        match value {
            "true" => Ok(SandboxMode::On),
            "false" => Ok(SandboxMode::Off),
            "relaxed" => Ok(SandboxMode::Relaxed),
            _ => Err(SettingError::Sandbox {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
        }
    }
    fn render(&self) -> String {
        match self {
            SandboxMode::On => "true",
            SandboxMode::Off => "false",
            SandboxMode::Relaxed => "relaxed",
        }
        .to_owned()
    }
}

fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether a search-path entry is a URI that Nix would download (`channel:…`, or one of
/// the schemes it knows followed by `://`).
pub fn is_uri(s: &str) -> bool {
    if s.starts_with("channel:") {
        return true;
    }
    match s.find("://") {
        Some(i) => matches!(
            &s[..i],
            "http" | "https" | "file" | "channel" | "git" | "s3" | "ssh"
        ),
        None => false,
    }
}

/// Splits `NIX_PATH` at colons, except the colon of a URI (`nixpkgs=https://…`), as Nix
/// 2.8 does. An empty entry between two colons is kept (it names the working
/// directory); a trailing one is not.
pub fn parse_nix_path(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < b.len() {
        let start = p;
        let mut value_start = p;
        while p < b.len() && b[p] != b':' {
            if b[p] == b'=' {
                value_start = p + 1;
            }
            p += 1;
        }
        if p == b.len() {
            if p != start {
                out.push(s[start..p].to_owned());
            }
            break;
        }
        if is_uri(&s[value_start..]) {
            p += 1;
            while p < b.len() && b[p] != b':' {
                p += 1;
            }
        }
        out.push(s[start..p].to_owned());
        if p == b.len() {
            break;
        }
        p += 1;
    }
    out
}

/// The `nix-path` setting before any configuration file: `NIX_PATH` when it is set (even
/// empty), else the channel directories that exist, as Nix 2.8 computes it. Files and the
/// command line then replace it; `-I` entries always come first.
fn default_nix_path() -> Vec<String> {
    if let Ok(v) = std::env::var("NIX_PATH") {
        return parse_nix_path(&v);
    }
    let mut out = Vec::new();
    let mut add = |p: PathBuf, prefix: &str| {
        if p.symlink_metadata().is_ok() {
            let p = p.display().to_string();
            out.push(if prefix.is_empty() {
                p
            } else {
                format!("{prefix}={p}")
            });
        }
    };
    if let Some(home) = env("HOME") {
        add(Path::new(&home).join(".nix-defexpr/channels"), "");
    }
    let state = PathBuf::from(env("NIX_STATE_DIR").unwrap_or_else(|| "/nix/var/nix".into()));
    add(
        state.join("profiles/per-user/root/channels/nixpkgs"),
        "nixpkgs",
    );
    add(state.join("profiles/per-user/root/channels"), "");
    out
}

/// `$NIX_CONF_DIR`, default `/etc/nix`.
pub fn conf_dir() -> PathBuf {
    PathBuf::from(env("NIX_CONF_DIR").unwrap_or_else(|| "/etc/nix".into()))
}

/// `x86_64-linux` and friends, as Nix names the platform it was built for.
pub fn default_system() -> String {
    let arch = match std::env::consts::ARCH {
        "x86" => "i686",
        a => a,
    };
    format!("{arch}-{}", std::env::consts::OS)
}

fn default_system_features() -> Vec<String> {
    let mut f: BTreeSet<String> = ["nixos-test", "benchmark", "big-parallel"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    if nix::unistd::access(
        "/dev/kvm",
        nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
    )
    .is_ok()
    {
        f.insert("kvm".into());
    }
    f.into_iter().collect()
}

/// The platforms besides `system` that this machine runs natively: `i686-linux` on
/// x86_64, and the x86-64 micro-architecture levels the CPU supports.
fn default_extra_platforms() -> Vec<String> {
    #[allow(unused_mut)]
    let mut out: Vec<String> = Vec::new();
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        out.push("i686-linux".into());
        out.push("x86_64-v1-linux".into());
        let v2 = std::arch::is_x86_feature_detected!("cmpxchg16b")
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("sse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("sse4.2")
            && std::arch::is_x86_feature_detected!("ssse3");
        let v3 = v2
            && std::arch::is_x86_feature_detected!("avx")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("f16c")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("lzcnt")
            && std::arch::is_x86_feature_detected!("movbe")
            && std::arch::is_x86_feature_detected!("xsave");
        let v4 = v3
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl");
        if v2 {
            out.push("x86_64-v2-linux".into());
        }
        if v3 {
            out.push("x86_64-v3-linux".into());
        }
        if v4 {
            out.push("x86_64-v4-linux".into());
        }
    }
    out
}

/// The sandbox's `/bin/sh`, as Nix builds configured with a sandbox shell have it: a
/// statically linked busybox (Debian's `busybox-static`), when this machine has one.
fn default_sandbox_paths() -> Vec<String> {
    const BUSYBOX: &str = "/bin/busybox";
    if is_static_elf(Path::new(BUSYBOX)) {
        vec![format!("/bin/sh={BUSYBOX}")]
    } else {
        Vec::new()
    }
}

/// Whether `path` is a 64-bit little-endian ELF executable with no program interpreter
/// (so it runs in a sandbox that has nothing but itself).
fn is_static_elf(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut h = [0u8; 64];
    if f.read_exact(&mut h).is_err() || &h[..4] != b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return false;
    }
    let phoff = u64::from_le_bytes(h[0x20..0x28].try_into().unwrap_or_default());
    let phentsize = u16::from_le_bytes([h[0x36], h[0x37]]) as u64;
    let phnum = u16::from_le_bytes([h[0x38], h[0x39]]) as u64;
    if phentsize < 4 || phnum == 0 || phnum > 512 {
        return false;
    }
    for i in 0..phnum {
        let mut t = [0u8; 4];
        if f.seek(SeekFrom::Start(phoff + i * phentsize)).is_err() || f.read_exact(&mut t).is_err()
        {
            return false;
        }
        // PT_INTERP: the program needs a dynamic loader.
        if u32::from_le_bytes(t) == 3 {
            return false;
        }
    }
    true
}

/// `nixbld` for root, as in Nix, when that group exists; otherwise (a machine Nix was never
/// installed on) builds run without build users, still in the sandbox.
fn default_build_users_group() -> String {
    let exists = || matches!(nix::unistd::Group::from_name("nixbld"), Ok(Some(_)));
    if nix::unistd::geteuid().is_root() && exists() {
        "nixbld".into()
    } else {
        String::new()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const NO_FLAKES: Support = Support::Foreign("flakes and the `nix` command");
const NO_SHELL: Support = Support::Foreign("nix-shell");
const LATER_GC: Support = Support::Later("garbage collection");
const LATER_NET: Support = Support::Later("substitution and the fetchers");
const LATER_REMOTE: Support = Support::Later("remote builds");
const LATER_SANDBOX: Support = Support::Later("this sandbox setting");

macro_rules! declare_settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $default:expr, $name:literal [$($alias:literal),*] $support:expr;
    )*) => {
        /// The value of every setting.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Settings {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
            /// The names that were set after the system-wide `nix.conf` (by the user's
            /// files, `NIX_CONFIG` or the command line), as Nix tracks them for the daemon.
            overridden: BTreeSet<&'static str>,
            /// Names nobody declares, with their values, in the order they came.
            unknown: Vec<(String, String)>,
        }

        impl Default for Settings {
            fn default() -> Settings {
                Settings {
                    $( $field: $default, )*
                    overridden: BTreeSet::new(),
                    unknown: Vec::new(),
                }
            }
        }

        /// Every setting, sorted by name.
        pub const DEFINITIONS: &[Definition] = &[
            $( Definition {
                name: $name,
                aliases: &[$($alias),*],
                kind: <$ty as SettingValue>::KIND,
                support: $support,
                doc: concat!($($doc, "\n"),+),
            }, )*
        ];

        impl Settings {
            /// Applies `value` to the setting called `name` (or one of its aliases);
            /// `append` for `extra-NAME`. `None` if no setting has that name.
            fn apply(&mut self, name: &str, value: &str, append: bool)
                -> Option<Result<&'static str, SettingError>>
            {
                match name {
                    $( $name $(| $alias)* => {
                        let r = if append {
                            if <$ty as SettingValue>::KIND != Kind::List {
                                return None;
                            }
                            <$ty as SettingValue>::append(&mut self.$field, $name, value)
                        } else {
                            <$ty as SettingValue>::parse($name, value).map(|v| self.$field = v)
                        };
                        Some(r.map(|()| $name))
                    } )*
                    _ => None,
                }
            }

            /// The current value of setting `name`, as `nix.conf` would write it.
            pub fn get(&self, name: &str) -> Option<String> {
                match name {
                    $( $name $(| $alias)* => Some(<$ty as SettingValue>::render(&self.$field)), )*
                    _ => None,
                }
            }
        }
    };
}

declare_settings! {
    /// Use the `nixConfig` of a flake without asking (flakes only).
    accept_flake_config: bool = false, "accept-flake-config" [] NO_FLAKES;
    /// Access tokens for fetching from code hosts (flakes only).
    access_tokens: Vec<String> = Vec::new(), "access-tokens" [] NO_FLAKES;
    /// Allow `fetchGit` (and flakes) from dirty Git working trees.
    allow_dirty: bool = true, "allow-dirty" [] Support::Yes;
    /// Whether evaluation may build derivations to read their outputs (`import` of a
    /// derivation's output, `readFile` of it, and so on).
    allow_import_from_derivation: bool = true, "allow-import-from-derivation" [] Support::Yes;
    /// Let builders gain privileges through setuid programs (off: `PR_SET_NO_NEW_PRIVS`).
    allow_new_privileges: bool = false, "allow-new-privileges" [] LATER_SANDBOX;
    /// Accept a store directory reached through a symbolic link.
    allow_symlinked_store: bool = false, "allow-symlinked-store" [] Support::Later("symlinked stores");
    /// Allow `importNative` and `exec` during evaluation.
    allow_unsafe_native_code_during_evaluation: bool = false,
        "allow-unsafe-native-code-during-evaluation" [] Support::Yes;
    /// Host paths that derivations may name in `__impureHostDeps` (macOS only).
    allowed_impure_host_deps: Vec<String> = Vec::new(), "allowed-impure-host-deps" []
        Support::Foreign("macOS sandboxing");
    /// URI prefixes that restricted evaluation may fetch.
    allowed_uris: Vec<String> = Vec::new(), "allowed-uris" [] Support::Yes;
    /// Users (names, `@group`, `*`) allowed to connect to the daemon.
    allowed_users: Vec<String> = strings(&["*"]), "allowed-users" [] Support::Yes;
    /// Hard-link identical files in the store after each addition.
    auto_optimise_store: bool = false, "auto-optimise-store" [] Support::Yes;
    /// The prompt of `nix develop` (new CLI only).
    bash_prompt: String = String::new(), "bash-prompt" [] NO_SHELL;
    /// A suffix of `nix develop`'s prompt (new CLI only).
    bash_prompt_suffix: String = String::new(), "bash-prompt-suffix" [] NO_SHELL;
    /// The program that forwards builds to remote machines.
    build_hook: String = String::new(), "build-hook" [] LATER_REMOTE;
    /// Seconds between checks of a remote build's status.
    build_poll_interval: u64 = 5, "build-poll-interval" [] LATER_REMOTE;
    /// The group whose members build as unprivileged users; empty: build as the caller.
    build_users_group: String = default_build_users_group(), "build-users-group" []
        Support::Yes;
    /// The machines to build on remotely, or `@FILE`.
    builders: String = format!("@{}", conf_dir().join("machines").display()),
        "builders" [] Support::Yes;
    /// Let remote builders substitute their inputs.
    builders_use_substitutes: bool = false, "builders-use-substitutes" [] Support::Yes;
    /// The commit message of lock-file updates (flakes only).
    commit_lockfile_summary: String = String::new(), "commit-lockfile-summary" [] NO_FLAKES;
    /// Keep build logs compressed with bzip2.
    compress_build_log: bool = true, "compress-build-log" ["build-compress-log"] Support::Later("uncompressed logs");
    /// Seconds to wait for a connection to a binary cache; 0: the default.
    connect_timeout: u64 = 0, "connect-timeout" [] Support::Yes;
    /// The CPU cores a build may use (`NIX_BUILD_CORES`); 0: all of them.
    cores: u64 = cpu_count() as u64, "cores" ["build-cores"] Support::Yes;
    /// A program run on the outputs of a build that differs from the previous one.
    diff_hook: String = String::new(), "diff-hook" [] Support::Later("diff hooks");
    /// How often to try a download.
    download_attempts: u64 = 5, "download-attempts" [] Support::Yes;
    /// Fail when a repeated build (`repeat`) gives a different result.
    enforce_determinism: bool = true, "enforce-determinism" [] Support::Yes;
    /// Cache flake evaluations (flakes only).
    eval_cache: bool = true, "eval-cache" [] NO_FLAKES;
    /// Experimental features to enable.
    experimental_features: Vec<String> = Vec::new(), "experimental-features" [] Support::Yes;
    /// Other platforms this machine can build for.
    extra_platforms: Vec<String> = default_extra_platforms(), "extra-platforms" [] Support::Yes;
    /// Build from source when substitution fails.
    fallback: bool = false, "fallback" ["build-fallback"] Support::Yes;
    /// Block system calls that builders should not make (setuid files, extended ACLs).
    filter_syscalls: bool = true, "filter-syscalls" [] LATER_SANDBOX;
    /// The global flake registry (flakes only).
    flake_registry: String =
        "https://github.com/NixOS/flake-registry/raw/master/flake-registry.json".into(),
        "flake-registry" [] NO_FLAKES;
    /// Make the database's transactions durable (SQLite's `synchronous`).
    fsync_metadata: bool = true, "fsync-metadata" [] Support::Yes;
    /// Bytes kept free for the garbage collector on a full disk.
    gc_reserved_space: u64 = 8 * 1024 * 1024, "gc-reserved-space" [] LATER_GC;
    /// Content-addressed mirrors tried first for fixed-output downloads.
    hashed_mirrors: Vec<String> = Vec::new(), "hashed-mirrors" [] LATER_NET;
    /// Parallel HTTP connections for binary caches.
    http_connections: u64 = 25, "http-connections" ["binary-caches-parallel-connections"]
        Support::Yes;
    /// Use HTTP/2 where the server offers it.
    http2: bool = true, "http2" [] Support::Yes;
    /// Extended attributes left alone when outputs are made read-only.
    ignored_acls: Vec<String> = strings(&["security.selinux", "system.nfs4_acl"]),
        "ignored-acls" [] LATER_SANDBOX;
    /// Report Linux 2.6 as the kernel version to builders.
    impersonate_linux_26: bool = false, "impersonate-linux-26" ["build-impersonate-linux-26"]
        LATER_SANDBOX;
    /// Keep the logs of builds.
    keep_build_log: bool = true, "keep-build-log" ["build-keep-log"] Support::Yes;
    /// The garbage collector keeps the derivations of live outputs.
    keep_derivations: bool = true, "keep-derivations" ["gc-keep-derivations"] Support::Yes;
    /// Profiles keep the derivations of their elements. Only `nix-env` reads it, when it
    /// makes a user environment (whose references then hold the derivations, which the
    /// collector follows like any other reference).
    keep_env_derivations: bool = false, "keep-env-derivations" ["env-keep-derivations"]
        Support::Foreign("nix-env");
    /// Keep the build directory of a failed build.
    keep_failed: bool = false, "keep-failed" [] Support::Yes;
    /// Go on with other builds when one fails.
    keep_going: bool = false, "keep-going" [] Support::Yes;
    /// The garbage collector keeps the outputs of live derivations.
    keep_outputs: bool = false, "keep-outputs" ["gc-keep-outputs"] Support::Yes;
    /// Lines of a failed build's log to show.
    log_lines: u64 = 10, "log-lines" [] Support::Yes;
    /// Servers asked for a build log that is not kept locally, as `<server>/<base name>`
    /// (a Ferrix setting, from Nix 1.x's notes; Nix 2.8 no longer has it).
    log_servers: Vec<String> = Vec::new(), "log-servers" [] Support::Yes;
    /// Bytes of log after which a build is stopped; 0: no limit.
    max_build_log_size: u64 = 0, "max-build-log-size" ["build-max-log-size"] Support::Yes;
    /// Stop automatic collection once this many bytes are free.
    max_free: u64 = u64::MAX, "max-free" [] Support::Yes;
    /// Builds run at once on this machine; `auto`: one per CPU.
    max_jobs: MaxJobs = MaxJobs(1), "max-jobs" ["build-max-jobs"] Support::Yes;
    /// Seconds a build may print nothing before it is stopped; 0: no limit.
    max_silent_time: i64 = 0, "max-silent-time" ["build-max-silent-time"] Support::Yes;
    /// Substitutions run at once (a Ferrix setting, as later Nix versions have it; Nix 2.8
    /// counts them against `max-jobs`). Downloads are also bounded by `http-connections`.
    max_substitution_jobs: u64 = 16, "max-substitution-jobs" [] Support::Yes;
    /// Collect garbage before building when fewer bytes than this are free.
    min_free: u64 = 0, "min-free" [] Support::Yes;
    /// Seconds between free-space checks during builds.
    min_free_check_interval: u64 = 5, "min-free-check-interval" [] Support::Yes;
    /// Bytes buffered when a NAR is sent.
    nar_buffer_size: u64 = 32 * 1024 * 1024, "nar-buffer-size" [] LATER_NET;
    /// Seconds to remember that a binary cache lacks a path.
    narinfo_cache_negative_ttl: u64 = 3600, "narinfo-cache-negative-ttl" [] Support::Yes;
    /// Seconds to remember a binary cache's `.narinfo`.
    narinfo_cache_positive_ttl: u64 = 30 * 24 * 3600, "narinfo-cache-positive-ttl" []
        Support::Yes;
    /// The netrc file with credentials for downloads.
    netrc_file: String = conf_dir().join("netrc").display().to_string(), "netrc-file" []
        Support::Yes;
    /// The search path of `<p>` after `-I`. Its default is `NIX_PATH` (or the channels
    /// that exist), which a configuration file or the command line replaces.
    nix_path: Vec<String> = default_nix_path(), "nix-path" [] Support::Yes;
    /// Native plugins loaded at start-up.
    plugin_files: Vec<String> = Vec::new(), "plugin-files" [] Support::Yes;
    /// A program run after each successful build, with its outputs.
    post_build_hook: String = String::new(), "post-build-hook" [] Support::Yes;
    /// A program run before each sandboxed build, which may add paths to the sandbox.
    pre_build_hook: String = String::new(), "pre-build-hook" [] Support::Yes;
    /// Reserve the space of a NAR's files before writing them.
    preallocate_contents: bool = false, "preallocate-contents" [] Support::Later("preallocation");
    /// Print what will be built before building.
    print_missing: bool = true, "print-missing" [] Support::Yes;
    /// Pure evaluation: no access to the file system, the environment or the network that
    /// the expression does not name by hash.
    pure_eval: bool = false, "pure-eval" [] Support::Yes;
    /// Build each derivation this many more times and compare the results.
    repeat: u64 = 0, "repeat" ["build-repeat"] Support::Yes;
    /// Refuse substitutes and imports without a trusted signature.
    require_sigs: bool = true, "require-sigs" [] Support::Yes;
    /// Restricted evaluation: only files under the search path and `allowed-uris` may be
    /// read.
    restrict_eval: bool = false, "restrict-eval" [] Support::Yes;
    /// Run `diff-hook` when a check build differs.
    run_diff_hook: bool = false, "run-diff-hook" [] Support::Later("diff hooks");
    /// Build in a sandbox: `true`, `false` or `relaxed`.
    sandbox: SandboxMode = SandboxMode::On, "sandbox" ["build-use-chroot", "build-use-sandbox"]
        Support::Yes;
    /// Where the build directory appears inside the sandbox.
    sandbox_build_dir: String = "/build".into(), "sandbox-build-dir" [] Support::Yes;
    /// The size of the sandbox's `/dev/shm`.
    sandbox_dev_shm_size: String = "50%".into(), "sandbox-dev-shm-size" [] Support::Yes;
    /// Build without a sandbox when the system cannot make one.
    sandbox_fallback: bool = true, "sandbox-fallback" [] LATER_SANDBOX;
    /// Host paths made visible in the sandbox (`PATH`, `TARGET=SOURCE`, `PATH?`).
    sandbox_paths: Vec<String> = default_sandbox_paths(), "sandbox-paths"
        ["build-chroot-dirs", "build-sandbox-paths"] Support::Yes;
    /// Keys that sign locally built paths.
    secret_key_files: Vec<String> = Vec::new(), "secret-key-files" [] Support::Yes;
    /// Print the evaluation trace of errors.
    show_trace: bool = false, "show-trace" [] Support::Yes;
    /// Seconds after which a download with no progress fails.
    stalled_download_timeout: u64 = 300, "stalled-download-timeout" [] LATER_NET;
    /// The store to use (`auto`, a path, `local?…`, `daemon`, …).
    store: String = "auto".into(), "store" [] Support::Yes;
    /// Use substitutes.
    substitute: bool = true, "substitute" ["build-use-substitutes"] Support::Yes;
    /// Binary caches to substitute from.
    substituters: Vec<String> = strings(&["https://cache.nixos.org/"]), "substituters"
        ["binary-caches"] Support::Yes;
    /// Sync the files of new paths to disk before registering them.
    sync_before_registering: bool = false, "sync-before-registering" [] Support::Yes;
    /// The platform this machine builds for.
    system: String = default_system(), "system" [] Support::Yes;
    /// The features this machine offers to `requiredSystemFeatures`.
    system_features: Vec<String> = default_system_features(), "system-features" []
        Support::Yes;
    /// Seconds a downloaded tarball is used before it is checked again.
    tarball_ttl: u64 = 3600, "tarball-ttl" [] Support::Yes;
    /// Seconds a build may run before it is stopped; 0: no limit.
    timeout: i64 = 0, "timeout" ["build-timeout"] Support::Yes;
    /// Print a line for every function entered and left during evaluation.
    trace_function_calls: bool = false, "trace-function-calls" [] Support::Yes;
    /// Public keys trusted to sign store paths.
    trusted_public_keys: Vec<String> =
        strings(&["cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="]),
        "trusted-public-keys" ["binary-cache-public-keys"] Support::Yes;
    /// Binary caches that untrusted users may add.
    trusted_substituters: Vec<String> = Vec::new(), "trusted-substituters"
        ["trusted-binary-caches"] Support::Yes;
    /// Users (names, `@group`, `*`) whom the daemon trusts.
    trusted_users: Vec<String> = strings(&["root"]), "trusted-users" [] Support::Yes;
    /// Rename files whose names differ only in case (for case-insensitive file systems).
    use_case_hack: bool = false, "use-case-hack" [] Support::Yes;
    /// Use flake registries (flakes only).
    use_registries: bool = true, "use-registries" [] NO_FLAKES;
    /// Use SQLite's write-ahead log for the store database.
    use_sqlite_wal: bool = true, "use-sqlite-wal" [] Support::Later("a database without WAL");
    /// Appended to the User-Agent of downloads.
    user_agent_suffix: String = String::new(), "user-agent-suffix" [] Support::Yes;
    /// Warn when `fetchGit` (or a flake) uses a dirty Git working tree.
    warn_dirty: bool = true, "warn-dirty" [] Support::Yes;
}

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The system-wide `nix.conf`.
    System,
    /// A user's file or `NIX_CONFIG`.
    User,
    /// The command line.
    CommandLine,
}

/// The definition of setting `name` (a name or an alias), if any.
pub fn definition(name: &str) -> Option<&'static Definition> {
    DEFINITIONS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

impl Settings {
    /// Nix's defaults, then the configuration files and `NIX_CONFIG`.
    pub fn load() -> Result<Settings, SettingError> {
        let mut s = Settings::default();
        s.read_file(&conf_dir().join("nix.conf"), Origin::System)?;
        for file in user_config_files().iter().rev() {
            s.read_file(file, Origin::User)?;
        }
        if let Some(text) = std::env::var_os("NIX_CONFIG") {
            let text = text.to_string_lossy();
            s.read_text(&text, "NIX_CONFIG", Path::new("."), Origin::User, 0)?;
        }
        Ok(s)
    }

    /// Sets `name` (or `extra-NAME`) to `value`. An unknown name is remembered for
    /// [`Settings::unknown`]; a value the setting cannot take is an error.
    pub fn set(&mut self, name: &str, value: &str, origin: Origin) -> Result<(), SettingError> {
        let found = match self.apply(name, value, false) {
            Some(r) => Some(r),
            None => match name.strip_prefix("extra-") {
                Some(base) => self.apply(base, value, true),
                None => None,
            },
        };
        match found {
            Some(r) => {
                let canonical = r?;
                if origin != Origin::System {
                    self.overridden.insert(canonical);
                }
                Ok(())
            }
            None => {
                // Nix warns about unknown names in configuration files, and says nothing
                // about those given with `--option`.
                if origin != Origin::CommandLine {
                    self.unknown.push((name.to_owned(), value.to_owned()));
                }
                Ok(())
            }
        }
    }

    /// Settings set (in configuration files) with names nobody declares, in order, for
    /// Nix's `warning: unknown setting 'NAME'`.
    pub fn unknown(&self) -> &[(String, String)] {
        &self.unknown
    }

    /// The names set by the user's files, `NIX_CONFIG` or the command line.
    pub fn overridden(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.overridden.iter().copied()
    }

    /// Whether `experimental-features` names `feature`.
    pub fn has_experimental(&self, feature: &str) -> bool {
        self.experimental_features.iter().any(|f| f == feature)
    }

    /// The number of cores a build gets (`cores = 0` means all of them).
    pub fn build_cores(&self) -> u64 {
        if self.cores == 0 {
            cpu_count() as u64
        } else {
            self.cores
        }
    }

    /// Reads one configuration file. A file that cannot be read counts as empty, as in Nix.
    pub fn read_file(&mut self, path: &Path, origin: Origin) -> Result<(), SettingError> {
        self.read_file_at(path, origin, 0)
    }

    fn read_file_at(
        &mut self,
        path: &Path,
        origin: Origin,
        depth: u32,
    ) -> Result<(), SettingError> {
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&bytes);
        let dir = path.parent().unwrap_or(Path::new("/"));
        self.read_text(&text, &path.display().to_string(), dir, origin, depth)
    }

    /// Reads configuration text; `origin_name` names it in errors, and `dir` is where
    /// relative `include`s are found.
    pub fn read_text(
        &mut self,
        text: &str,
        origin_name: &str,
        dir: &Path,
        origin: Origin,
        depth: u32,
    ) -> Result<(), SettingError> {
        for raw in text.split('\n') {
            let line = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let illegal = || SettingError::IllegalLine {
                line: line.to_owned(),
                origin: origin_name.to_owned(),
            };
            if words.len() < 2 {
                return Err(illegal());
            }
            if words[0] == "include" || words[0] == "!include" {
                if words.len() != 2 {
                    return Err(illegal());
                }
                let p = dir.join(words[1]);
                if p.exists() {
                    // Include cycles are cut off rather than followed forever.
                    if depth < 32 {
                        self.read_file_at(&p, origin, depth + 1)?;
                    }
                } else if words[0] == "include" {
                    return Err(SettingError::MissingInclude {
                        file: p.display().to_string(),
                        origin: origin_name.to_owned(),
                    });
                }
                continue;
            }
            if words[1] != "=" {
                return Err(illegal());
            }
            self.set(words[0], &words[2..].join(" "), origin)?;
        }
        Ok(())
    }
}

/// The user's configuration files, in the order Nix lists them (it reads them last first).
pub fn user_config_files() -> Vec<PathBuf> {
    if let Ok(files) = std::env::var("NIX_USER_CONF_FILES") {
        return files
            .split(':')
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    let home = env("HOME").unwrap_or_default();
    let config_home = env("XDG_CONFIG_HOME").unwrap_or_else(|| format!("{home}/.config"));
    let mut out = vec![Path::new(&config_home).join("nix/nix.conf")];
    let dirs = env("XDG_CONFIG_DIRS").unwrap_or_else(|| "/etc/xdg".into());
    out.extend(
        dirs.split(':')
            .filter(|s| !s.is_empty())
            .map(|d| Path::new(d).join("nix/nix.conf")),
    );
    out
}

impl fmt::Display for Settings {
    /// Every setting as `NAME = VALUE` lines, as `nix show-config` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in DEFINITIONS {
            writeln!(f, "{} = {}", d.name, self.get(d.name).unwrap_or_default())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nix_path_splits_like_nix() {
        use super::parse_nix_path as p;
        assert_eq!(p("a:b=/c"), ["a", "b=/c"]);
        assert_eq!(
            p("nixpkgs=https://x.org/a.tar.gz:/d"),
            ["nixpkgs=https://x.org/a.tar.gz", "/d"]
        );
        assert_eq!(p("channel:nixos-21.11:x"), ["channel:nixos-21.11", "x"]);
        assert_eq!(p("a::b:"), ["a", "", "b"]);
        assert!(p("").is_empty());
    }

    use super::*;

    #[test]
    fn only_a_static_busybox_becomes_the_sandbox_shell() {
        assert!(!is_static_elf(Path::new("/nonexistent")));
        // A dynamically linked program has an interpreter.
        assert!(!is_static_elf(Path::new("/bin/ls")));
        if Path::new("/bin/busybox").exists() {
            assert_eq!(
                is_static_elf(Path::new("/bin/busybox")),
                default_sandbox_paths() == ["/bin/sh=/bin/busybox"]
            );
        }
    }

    #[test]
    fn definitions_are_sorted_and_unique() {
        for w in DEFINITIONS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        let mut all = BTreeSet::new();
        for d in DEFINITIONS {
            assert!(all.insert(d.name));
            for a in d.aliases {
                assert!(all.insert(a), "alias {a} clashes");
            }
            assert!(!d.doc.trim().is_empty());
        }
        // Nix 2.8's 91, and Ferrix's own `log-servers` and `max-substitution-jobs`.
        assert_eq!(DEFINITIONS.len(), 93);
        assert!(DEFINITIONS.iter().any(|d| d.name == "log-servers"));
    }

    #[test]
    fn values_parse_as_nix_parses_them() {
        let mut s = Settings::default();
        s.set("keep-going", "yes", Origin::User).unwrap();
        assert!(s.keep_going);
        s.set("keep-going", "0", Origin::User).unwrap();
        assert!(!s.keep_going);
        assert_eq!(
            s.set("keep-going", "maybe", Origin::User)
                .unwrap_err()
                .to_string(),
            "Boolean setting 'keep-going' has invalid value 'maybe'"
        );
        assert_eq!(
            s.set("cores", "1K", Origin::User).unwrap_err().to_string(),
            "setting 'cores' has invalid value '1K'"
        );
        assert_eq!(
            s.set("max-jobs", "x", Origin::User)
                .unwrap_err()
                .to_string(),
            "configuration setting 'max-jobs' should be 'auto' or an integer"
        );
        assert_eq!(
            s.set("sandbox", "maybe", Origin::User)
                .unwrap_err()
                .to_string(),
            "option 'sandbox' has invalid value 'maybe'"
        );
        s.set("sandbox", "relaxed", Origin::User).unwrap();
        assert_eq!(s.sandbox, SandboxMode::Relaxed);
        s.set("build-max-jobs", "7", Origin::User).unwrap();
        assert_eq!(s.max_jobs, MaxJobs(7));
        s.set("max-silent-time", "-1", Origin::User).unwrap();
        assert_eq!(s.max_silent_time, -1);
    }

    #[test]
    fn lists_append_and_unknown_names_are_kept() {
        let mut s = Settings::default();
        s.set("sandbox-paths", "/a /b", Origin::User).unwrap();
        s.set("extra-sandbox-paths", "/c", Origin::User).unwrap();
        s.set("build-chroot-dirs", "/d", Origin::User).unwrap();
        s.set("extra-build-chroot-dirs", "/e", Origin::User)
            .unwrap();
        assert_eq!(s.sandbox_paths, strings(&["/d", "/e"]));
        s.set("extra-cores", "4", Origin::User).unwrap();
        s.set("foo-bar", "1", Origin::User).unwrap();
        let names: Vec<&str> = s.unknown().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["extra-cores", "foo-bar"]);
        assert_eq!(s.overridden().collect::<Vec<_>>(), ["sandbox-paths"]);
    }

    #[test]
    fn files_include_and_report_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("nix.conf");
        std::fs::write(
            &main,
            "sandbox = false # a comment\nkeep-failed = true\ninclude extra.conf\n!include missing.conf\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("extra.conf"),
            "cores   =   3\nsystem-features = a  b\n",
        )
        .unwrap();
        let mut s = Settings::default();
        s.read_file(&main, Origin::System).unwrap();
        assert_eq!(s.sandbox, SandboxMode::Off);
        assert!(s.keep_failed);
        assert_eq!(s.cores, 3);
        assert_eq!(s.system_features, strings(&["a", "b"]));
        assert_eq!(s.overridden().count(), 0);

        let e = s
            .read_text("bogus line", "NIX_CONFIG", dir.path(), Origin::User, 0)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "illegal configuration line 'bogus line' in 'NIX_CONFIG'"
        );
        let e = s
            .read_text("a=b", "NIX_CONFIG", dir.path(), Origin::User, 0)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "illegal configuration line 'a=b' in 'NIX_CONFIG'"
        );
        let e = s
            .read_text(
                "include /nonexist",
                "NIX_CONFIG",
                dir.path(),
                Origin::User,
                0,
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "file '/nonexist' included from 'NIX_CONFIG' not found"
        );
        // A file that includes itself stops instead of recursing forever.
        std::fs::write(&main, "include nix.conf\n").unwrap();
        s.read_file(&main, Origin::System).unwrap();
    }
}
