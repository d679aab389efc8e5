//! Loading plugins: `dlopen`, the entry symbol, the version check and the registration of
//! primops.
//!
//! A loaded plugin is never unloaded: its primops may be referenced by values until the
//! process ends. Each registered primop gets a slot in a process-wide table and a
//! [`PrimOp`] whose `func` is a trampoline for that slot, so a plugin primop is an ordinary
//! `Value::PrimOp` to the evaluator (same call path, same `doc` field as a builtin) and the
//! evaluator needs no knowledge of plugins.

use crate::host;
use ferrix_eval::error::EvalResult;
use ferrix_eval::value::{PrimOp, PrimOpFn, Thunk};
use ferrix_eval::{Evaluator, Pos};
use ferrix_plugin_abi as abi;
use std::borrow::Cow;
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A loaded plugin.
pub struct Plugin {
    /// The file it was loaded from, as given.
    pub path: String,
    /// The name it gives itself.
    pub name: String,
    /// The ABI version it was built for.
    pub abi_major: u32,
    pub abi_minor: u32,
    primops: OnceLock<Vec<&'static PrimOp>>,
    lib: libloading::Library,
}

impl Plugin {
    /// The primops it registers, in its order.
    pub fn primops(&self) -> &[&'static PrimOp] {
        self.primops.get().map(Vec::as_slice).unwrap_or(&[])
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("abi", &(self.abi_major, self.abi_minor))
            .finish()
    }
}

/// Why a plugin could not be loaded. The messages follow Nix's where Nix has one.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not open '{path}': {reason}")]
    Open { path: String, reason: String },
    #[error(
        "'{path}' is not a Ferrix plugin: it does not export '{}' ({reason})",
        abi::ENTRY_SYMBOL
    )]
    NoEntry { path: String, reason: String },
    #[error(
        "plugin '{path}' was built for Ferrix plugin ABI {major}.{minor}, but this Ferrix \
         provides ABI {}.{}; {hint}",
        abi::ABI_MAJOR,
        abi::ABI_MINOR
    )]
    Version {
        path: String,
        major: u32,
        minor: u32,
        hint: &'static str,
    },
    #[error("plugin '{path}' is invalid: {reason}")]
    Invalid { path: String, reason: String },
    #[error("could not load symbol '{symbol}' from '{path}': {reason}")]
    Symbol {
        symbol: String,
        path: String,
        reason: String,
    },
}

/// How many plugin primops one process can register.
pub const SLOT_COUNT: usize = 1024;

struct SlotInfo {
    func: abi::PrimOpFn,
    /// The strict entry point (ABI 1.2) and how it takes each argument; preferred when set.
    strict: Option<host::StrictEntry>,
    data: usize,
    plugin: &'static Plugin,
    what: &'static str,
}

static SLOTS: [OnceLock<SlotInfo>; SLOT_COUNT] = [const { OnceLock::new() }; SLOT_COUNT];

struct LoaderState {
    loaded: Vec<(PathBuf, &'static Plugin)>,
    next_slot: usize,
}

static STATE: Mutex<LoaderState> = Mutex::new(LoaderState {
    loaded: Vec::new(),
    next_slot: 0,
});

fn call_slot<'a>(
    slot: usize,
    ev: &Evaluator<'a>,
    args: &[&'a Thunk<'a>],
    pos: Pos,
) -> EvalResult<'a> {
    let Some(s) = SLOTS.get(slot).and_then(OnceLock::get) else {
        return Err(ferrix_eval::error::EvalError::eval(
            "internal error: a plugin primop slot is empty",
            pos,
        ));
    };
    let data = s.data as *mut std::ffi::c_void;
    if let Some(entry) = &s.strict {
        return host::run_strict(ev, pos, s.plugin, s.what, args, entry);
    }
    let func = s.func;
    host::run(
        ev,
        pos,
        s.plugin,
        Cow::Borrowed(s.what),
        args,
        |api, ctx, hs| {
            // SAFETY: calling the plugin's primop as the ABI specifies.
            unsafe { func(api, ctx, hs.as_ptr(), hs.len(), data) }
        },
    )
}

fn tramp<'a, const N: usize>(
    ev: &Evaluator<'a>,
    args: &[&'a Thunk<'a>],
    pos: Pos,
) -> EvalResult<'a> {
    call_slot(N, ev, args, pos)
}

macro_rules! row {
    ($h:literal) => {
        row!(@ $h; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31)
    };
    (@ $h:literal; $($l:literal)*) => {
        [ $( tramp::<{ $h * 32 + $l }> as PrimOpFn ),* ]
    };
}

/// One trampoline per slot: slot `n` is `TRAMPS[n / 32][n % 32]`.
static TRAMPS: [[PrimOpFn; 32]; SLOT_COUNT / 32] = [
    row!(0),
    row!(1),
    row!(2),
    row!(3),
    row!(4),
    row!(5),
    row!(6),
    row!(7),
    row!(8),
    row!(9),
    row!(10),
    row!(11),
    row!(12),
    row!(13),
    row!(14),
    row!(15),
    row!(16),
    row!(17),
    row!(18),
    row!(19),
    row!(20),
    row!(21),
    row!(22),
    row!(23),
    row!(24),
    row!(25),
    row!(26),
    row!(27),
    row!(28),
    row!(29),
    row!(30),
    row!(31),
];

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The text of a dynamic-loader error.
fn dl_reason(e: libloading::Error) -> String {
    e.to_string()
}

/// Reads a NUL-terminated string from the plugin.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string.
unsafe fn c_string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

/// Documentation text as written: surrounding blank lines go, and the one leading space of
/// `///` comment lines (as the Rust SDK passes them) is dropped when every line has it.
fn normalize_doc(doc: &str) -> String {
    let lines: Vec<&str> = doc.trim_end().lines().collect();
    let strip = lines.iter().all(|l| l.is_empty() || l.starts_with(' '));
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| {
            if strip {
                l.strip_prefix(' ').unwrap_or(l)
            } else {
                l
            }
        })
        .map(str::trim_end)
        .collect();
    lines.join("\n").trim_matches('\n').to_string()
}

/// Whether `name` can be a Nix identifier (and so a `__name` global).
pub fn is_identifier(name: &str) -> bool {
    let mut cs = name.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\'' || c == '-')
}

/// Checks a plugin's declared ABI version against the host's.
pub fn check_version(path: &str, major: u32, minor: u32) -> Result<(), LoadError> {
    let hint = if major != abi::ABI_MAJOR {
        "the major versions must be equal"
    } else if minor > abi::ABI_MINOR {
        "it needs a newer Ferrix"
    } else {
        return Ok(());
    };
    Err(LoadError::Version {
        path: path.to_string(),
        major,
        minor,
        hint,
    })
}

/// Loads a plugin (once per file; later loads return the same plugin).
pub fn load(path: &Path) -> Result<&'static Plugin, LoadError> {
    let display = path.display().to_string();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = st.loaded.iter().find(|(k, _)| *k == key) {
        return Ok(p);
    }
    // SAFETY: loading a shared object runs its initialisers; that is what the user asked
    // for by naming it (and why the feature needs allow-unsafe-native-code-during-evaluation
    // or the plugin-files setting).
    let lib = unsafe { libloading::Library::new(&key) }.map_err(|e| LoadError::Open {
        path: display.clone(),
        reason: dl_reason(e),
    })?;
    let entry: abi::EntryFn = {
        let sym = format!("{}\0", abi::ENTRY_SYMBOL);
        // SAFETY: the entry symbol has this type by the ABI's definition.
        let f =
            unsafe { lib.get::<abi::EntryFn>(sym.as_bytes()) }.map_err(|e| LoadError::NoEntry {
                path: display.clone(),
                reason: dl_reason(e),
            })?;
        *f
    };
    let invalid = |reason: String| LoadError::Invalid {
        path: display.clone(),
        reason,
    };
    // SAFETY: as above.
    let info = unsafe { entry() };
    if info.is_null() {
        return Err(invalid(format!("'{}' returned null", abi::ENTRY_SYMBOL)));
    }
    // The version fields come first in every ABI version: read them before anything else.
    // SAFETY: `info` points to a plugin info record.
    let (major, minor) = unsafe { ((*info).abi_major, (*info).abi_minor) };
    check_version(&display, major, minor)?;
    // SAFETY: the version matched, so the record has this layout.
    let info = unsafe { &*info };
    let name = unsafe { c_string(info.name) }.unwrap_or_else(|| {
        key.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let defs: &[abi::PrimOpDef] = if info.n_primops == 0 {
        &[]
    } else if info.primops.is_null() {
        return Err(invalid("its primop table is null".into()));
    } else {
        // SAFETY: the plugin declares `n_primops` entries at `primops`.
        unsafe { std::slice::from_raw_parts(info.primops, info.n_primops) }
    };
    // Strict entry points exist from ABI 1.2; older plugins' records end before the field.
    let stricts: &[abi::PrimOpStrict] = if minor >= 2 {
        // SAFETY: a plugin declaring 1.2 or later returns the longer record.
        let p = unsafe { (*(info as *const abi::PluginInfo as *const abi::PluginInfo12)).strict };
        if p.is_null() || defs.is_empty() {
            &[]
        } else {
            // SAFETY: the plugin declares one entry per primop at `strict`.
            unsafe { std::slice::from_raw_parts(p, defs.len()) }
        }
    } else {
        &[]
    };
    type Strict = (abi::StrictFn, [abi::ArgKind; abi::MAX_ARITY as usize]);
    type Checked = (String, usize, String, abi::PrimOpFn, Option<Strict>, usize);
    let mut checked: Vec<Checked> = Vec::with_capacity(defs.len());
    for (i, d) in defs.iter().enumerate() {
        // SAFETY: names and docs are NUL-terminated strings or null.
        let Some(op_name) = (unsafe { c_string(d.name) }) else {
            return Err(invalid(format!("primop #{i} has no name")));
        };
        if !is_identifier(&op_name) {
            return Err(invalid(format!(
                "primop name '{op_name}' is not a valid identifier"
            )));
        }
        if checked.iter().any(|(n, ..)| *n == op_name) {
            return Err(invalid(format!("primop '{op_name}' is registered twice")));
        }
        if d.arity == 0 || d.arity > abi::MAX_ARITY {
            return Err(invalid(format!(
                "primop '{op_name}' has arity {}, but it must be between 1 and {}",
                d.arity,
                abi::MAX_ARITY
            )));
        }
        let Some(func) = d.func else {
            return Err(invalid(format!("primop '{op_name}' has no function")));
        };
        // SAFETY: `d.doc` is null or a NUL-terminated string the plugin keeps for as long as
        // it is loaded (the ABI's rule for its definitions), and it is copied at once.
        let doc = normalize_doc(&unsafe { c_string(d.doc) }.unwrap_or_default());
        let strict = match stricts.get(i) {
            Some(abi::PrimOpStrict {
                func: Some(f),
                args,
            }) => {
                let mut kinds = *args;
                for (j, k) in kinds.iter_mut().enumerate() {
                    if j >= d.arity as usize {
                        *k = abi::ARG_LAZY;
                    } else if *k > abi::ARG_MAX {
                        return Err(invalid(format!(
                            "the strict entry point of primop '{op_name}' takes argument {} \
                             as kind {k}, which is not a FERRIX_ARG_* value",
                            j + 1
                        )));
                    }
                }
                Some((*f, kinds))
            }
            _ => None,
        };
        checked.push((
            op_name,
            d.arity as usize,
            doc,
            func,
            strict,
            d.data as usize,
        ));
    }
    if st.next_slot + checked.len() > SLOT_COUNT {
        return Err(invalid(format!(
            "registering its {} primops would exceed the limit of {SLOT_COUNT} plugin primops \
             per process",
            checked.len()
        )));
    }
    let plugin: &'static Plugin = Box::leak(Box::new(Plugin {
        path: display,
        name,
        abi_major: major,
        abi_minor: minor,
        primops: OnceLock::new(),
        lib,
    }));
    let mut ops: Vec<&'static PrimOp> = Vec::with_capacity(checked.len());
    for (op_name, arity, doc, func, strict, data) in checked {
        let slot = st.next_slot;
        st.next_slot += 1;
        let what = leak(format!("primop '{op_name}'"));
        let _ = SLOTS[slot].set(SlotInfo {
            func,
            strict: strict.map(|(func, kinds)| host::StrictEntry {
                func,
                kinds,
                data: data as *mut std::ffi::c_void,
            }),
            data,
            plugin,
            what,
        });
        ops.push(Box::leak(Box::new(PrimOp {
            name: leak(op_name),
            arity,
            transient: ferrix_eval::value::Transient::NONE,
            func: TRAMPS[slot / 32][slot % 32],
            doc: leak(doc),
        })));
    }
    let _ = plugin.primops.set(ops);
    st.loaded.push((key, plugin));
    Ok(plugin)
}

/// Looks up an `importNative` initialisation function.
pub fn init_function(plugin: &'static Plugin, symbol: &str) -> Result<abi::InitFn, LoadError> {
    let mut name = symbol.as_bytes().to_vec();
    name.push(0);
    // SAFETY: the symbol is declared to be an initialisation function by the user who
    // named it (as in Nix's importNative).
    let f = unsafe { plugin.lib.get::<abi::InitFn>(&name) }.map_err(|e| LoadError::Symbol {
        symbol: symbol.to_string(),
        path: plugin.path.clone(),
        reason: dl_reason(e),
    })?;
    Ok(*f)
}

/// Runs an initialisation function and returns the value it builds.
pub fn call_init<'a>(
    ev: &Evaluator<'a>,
    pos: Pos,
    plugin: &'static Plugin,
    symbol: &str,
    f: abi::InitFn,
) -> EvalResult<'a> {
    host::run(
        ev,
        pos,
        plugin,
        Cow::Owned(format!("initialisation function '{symbol}'")),
        &[],
        // SAFETY: calling the plugin's function as the ABI specifies.
        |api, ctx, _| unsafe { f(api, ctx) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("p", 1, 0).is_ok());
        assert!(check_version("p", 1, abi::ABI_MINOR).is_ok());
        let e = check_version("/x.so", 2, 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "plugin '/x.so' was built for Ferrix plugin ABI 2.0, but this Ferrix provides ABI \
             1.2; the major versions must be equal"
        );
        let e = check_version("/x.so", 1, 9).unwrap_err().to_string();
        assert!(e.ends_with("it needs a newer Ferrix"), "{e}");
        assert!(check_version("p", 0, 1).is_err());
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("semverCompare"));
        assert!(is_identifier("_x'-1"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a.b"));
    }

    #[test]
    fn docs() {
        assert_eq!(
            normalize_doc(" First line.\n Second.\n"),
            "First line.\nSecond."
        );
        assert_eq!(normalize_doc("Plain.\n  indented"), "Plain.\n  indented");
        assert_eq!(normalize_doc(""), "");
    }

    #[test]
    fn missing_file() {
        let e = load(Path::new("/nonexistent/libx.so")).unwrap_err();
        assert!(
            matches!(&e, LoadError::Open { path, .. } if path == "/nonexistent/libx.so"),
            "{e}"
        );
    }
}
