//! The Nix evaluator.
//!
//! Values live in a bumpalo arena for the whole evaluation ([`Evaluator::bump`]); parsed
//! files are compiled ([`compile`]) into the evaluator's own code ([`ir`]), moved into it
//! too and cached by path. Variables are resolved statically by that compile step, so a
//! lookup is a walk of `up` scopes and an index. Built-in functions are registered from
//! outside (the `primops` crate) through [`Evaluator::set_global`].

#[cfg(debug_assertions)]
pub mod census;
mod compile;
pub mod env;
pub mod error;
mod eval;
mod gc;
pub mod ir;
pub mod memory;
pub mod ops;
pub mod policy;
pub mod print;
mod strings;
pub mod value;

use bumpalo::Bump;
use env::Env;
use error::{EvalError, EvalResult};
use ferrix_parser::{Globals, Interner, LineIndex, Origin, SourceInfo, Sym};
use ir::Expr;
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use value::{Attr, NixStr, Thunk, Value};

/// Set (by a SIGINT handler, say) to stop the running evaluation: its next step fails with
/// "interrupted by the user", which `tryEval` does not catch. Whoever sets it clears it.
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The error an evaluation stops with once [`INTERRUPTED`] is set: Ctrl-C, or an allocation
/// that failed (see [`memory`]). Neither is caught by `tryEval`.
#[cold]
pub fn interruption_error() -> Box<error::EvalError> {
    let message = if memory::out_of_memory() {
        "out of memory"
    } else {
        "interrupted by the user"
    };
    error::EvalError::new(error::ErrorKind::Abort, message, None)
}

/// A position: one number for a file and a byte offset in it. Each parsed file owns the
/// range of numbers from its base (see `Evaluator::file_base`) to its base plus its length,
/// so a position takes 4 bytes, which keeps every attribute at 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos(u32);

impl Pos {
    /// No position (Nix's `noPos`).
    pub const NONE: Pos = Pos(u32::MAX);

    /// The position of an absolute offset: one of a span of code parsed by
    /// `Evaluator::parse_in_scope`, which adds its file's base to every span.
    #[inline]
    pub fn of(offset: u32) -> Pos {
        Pos(offset.min(u32::MAX - 1))
    }

    pub fn is_none(self) -> bool {
        self == Pos::NONE
    }
}

/// A parsed source, kept for positions and error snippets.
pub struct SourceFile {
    /// Where its positions start (see [`Pos`]), and its length.
    pub base: u32,
    pub len: u32,
    pub origin: Origin,
    /// The text, for sources that cannot be read again (`-E`, standard input).
    pub text: Option<Vec<u8>>,
    pub lines: LineIndex,
}

/// The file a position lies in, and the offset in it.
fn locate(files: &[SourceFile], pos: Pos) -> Option<(&SourceFile, usize)> {
    if pos.is_none() {
        return None;
    }
    let i = files.partition_point(|f| f.base <= pos.0).checked_sub(1)?;
    let f = &files[i];
    Some((f, (pos.0 - f.base) as usize))
}

/// Code the evaluator compiled, with the scope it was compiled for: the only way code
/// reaches evaluation from outside this crate ([`Evaluator::eval_code`]), so that it always
/// runs in a scope of the shape its slots were numbered for.
///
/// ```compile_fail,E0624
/// // Code cannot be run in a scope of another's choosing.
/// let bump = bumpalo::Bump::new();
/// let ev = ferrix_eval::Evaluator::builder(&bump).build();
/// let code = ev.parse(b"1", ferrix_parser::Origin::String, b"/").unwrap();
/// let scope = ferrix_eval::env::Env::alloc(&bump, None, false, &[]);
/// ```
#[derive(Clone, Copy)]
pub struct Code<'a> {
    expr: &'a Expr,
    env: Env<'a>,
}

/// Symbols the evaluator itself looks up.
pub struct KnownSyms {
    pub out_path: Sym,
    pub type_: Sym,
    pub functor: Sym,
    pub to_string: Sym,
    pub file: Sym,
    pub line: Sym,
    pub column: Sym,
    pub derivation: Sym,
    pub overrides: Sym,
}

/// Slots of `Evaluator::intern_str`'s cache (a power of two).
const SYM_CACHE_SLOTS: usize = 4096;

/// One evaluation: the arena its values live in, its symbols, global scope, parsed files
/// and settings. Made by an [`EvaluatorBuilder`] (see [`Evaluator::builder`]); its state is
/// reached only through its methods. Its fields are its own: a setting cannot be changed
/// from outside but through the few setters meant for it ([`Evaluator::set_show_trace`]),
/// nor an evaluator made but by its builder.
///
/// ```compile_fail,E0616
/// let bump = bumpalo::Bump::new();
/// let ev = ferrix_eval::Evaluator::builder(&bump).build();
/// ev.show_trace.set(true);
/// ```
///
/// ```compile_fail,E0616
/// let bump = bumpalo::Bump::new();
/// let mut ev = ferrix_eval::Evaluator::builder(&bump).build();
/// ev.home = b"/elsewhere".to_vec();
/// ```
///
/// ```compile_fail,E0616
/// struct NoStore;
/// impl ferrix_eval::StoreHook for NoStore {
///     fn add_path(&self, _: &[u8]) -> Result<Vec<u8>, String> {
///         Err("no store".into())
///     }
///     fn as_any(&self) -> &dyn std::any::Any {
///         self
///     }
/// }
/// let bump = bumpalo::Bump::new();
/// let ev = ferrix_eval::Evaluator::builder(&bump).build();
/// ev.store.set(Some(&NoStore));
/// ```
///
/// ```compile_fail,E0624
/// let bump = bumpalo::Bump::new();
/// let ev = ferrix_eval::Evaluator::new(&bump, &["true"]);
/// ```
pub struct Evaluator<'a> {
    /// Where values are allocated: the arena the evaluator was built with, until the first
    /// collection; then an arena of the evaluator's own (see `gc`).
    bump: Cell<&'a Bump>,
    /// The arena the evaluator was built with (the caller's; never freed here, but the
    /// first collection gives its pages back to the system).
    first_bump: &'a Bump,
    /// The evaluator's own arena, made by the last collection (freed by the next).
    owned: Cell<*mut Bump>,
    /// Room kept from the arena the last collection left, for the next one's copy (null
    /// when none; see `gc::keep_room`), and how many bytes of it are kept resident.
    reserve: Cell<(*mut Bump, usize)>,
    /// The old arena and the copy of the last collection together, in bytes.
    last_peak: Cell<usize>,
    /// The size of the current arena past which [`Evaluator::wants_collection`] says so.
    collect_at: Cell<usize>,
    /// What the last collection kept (0 before the first).
    live: Cell<usize>,
    /// The size at which the first collection was due.
    first_at: Cell<usize>,
    /// How many entries the last collection's tables of copied objects held: the next
    /// one starts with room for as many, instead of growing (and rehashing) its way there.
    copied_entries: Cell<(usize, usize)>,
    symbols: RefCell<Interner>,
    globals: Globals,
    syms: KnownSyms,
    /// Global slot → value (set up by the builtins).
    base: RefCell<Vec<&'a Thunk<'a>>>,
    files: RefCell<Vec<SourceFile>>,
    /// The shared thunk of each literal evaluated so far, by syntax-tree node address.
    pub(crate) literals: RefCell<FxHashMap<usize, &'a Thunk<'a>>>,
    /// Evaluated files, by canonical path.
    imports: RefCell<FxHashMap<PathBuf, &'a Thunk<'a>>>,
    /// `$HOME`, for `~/` paths.
    home: Vec<u8>,
    /// Lowest safe stack address of the current stack segment (see `eval`).
    pub(crate) stack_limit: Cell<usize>,
    /// How many extra stack segments are in use, to stop runaway recursion.
    pub(crate) stack_grown: Cell<usize>,
    pub(crate) null_thunk: Cell<&'a Thunk<'a>>,
    /// The one empty list, which every `[ ]` and empty result shares.
    empty_list: Cell<&'a value::List<'a>>,
    /// The scope every file's top-level expression runs in: empty, and the same for all
    /// files now that positions are absolute.
    root_env: Cell<Env<'a>>,
    /// `false` and `true`, and the small integers (see `value_thunk`).
    pub(crate) bool_thunks: Cell<[&'a Thunk<'a>; 2]>,
    pub(crate) small_ints: Cell<&'a [Thunk<'a>]>,
    /// Where long concatenated strings go (see `strings`).
    append: strings::AppendArea,
    /// Each attribute name's string value once made, by symbol (see `name_thunk`).
    name_thunks: RefCell<Vec<Option<&'a Thunk<'a>>>>,
    /// The store, for copying paths that are coerced to strings.
    store: Cell<Option<&'a dyn StoreHook>>,
    /// `--show-trace`: errors collect the frames of the calls they pass through.
    show_trace: Cell<bool>,
    /// Nix expressions built into the program (`/__corepkgs__/fetchurl.nix`), by path.
    builtin_files: RefCell<FxHashMap<Vec<u8>, &'static [u8]>>,
    /// The file of the built-in `derivation`, whose selections add no trace frames (as in
    /// Nix, where they would only be noise).
    pub(crate) derivation_file: Cell<u32>,
    /// Symbols of string values by address and length (see `intern_str`).
    sym_cache: RefCell<Vec<(usize, usize, Sym)>>,
    /// Sets whose every attribute has been forced without error (see `ops::ForcedSets`).
    pub(crate) forced_sets: ops::ForcedSets,
    /// Sets known to be derivations or not, with their `outPath`s (see `ops::Derivations`).
    pub(crate) derivations: ops::Derivations<'a>,
    /// What files and URIs evaluation may reach (see `policy`).
    pub(crate) access: RefCell<policy::Access>,
    /// `trace-function-calls`: every call expression logs when it is entered and left.
    trace_calls: Cell<bool>,
    /// Where `trace` and function-trace lines go (see `policy::LogSink`).
    log_sink: Cell<Option<&'a dyn policy::LogSink>>,
}

/// What the evaluator needs from a store; supplied from outside so that `eval` does no
/// store I/O of its own.
pub trait StoreHook {
    /// Adds a file or directory to the store and returns its store path.
    fn add_path(&self, path: &[u8]) -> Result<Vec<u8>, String>;
    /// The implementation itself, so that the builtins that supplied it can reach the rest
    /// of their store interface.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Assembles an [`Evaluator`]: its global names, its store, its settings and what
/// installs the builtins, in one place for the CLI, the REPL, the plugins and the tests.
///
/// ```
/// use ferrix_eval::value::Value;
/// let bump = bumpalo::Bump::new();
/// let ev = ferrix_eval::Evaluator::builder(&bump)
///     .globals(["answer"])
///     .show_trace(true)
///     .install(|ev| ev.set_global("answer", ev.alloc_thunk(Value::Int(40))))
///     .build();
/// assert!(ev.show_trace());
/// let v = ev.eval_text(b"answer + 2", ferrix_parser::Origin::String, b"/").unwrap();
/// assert!(matches!(v, Value::Int(42)));
/// ```
#[must_use = "an evaluator builder does nothing until `build` is called"]
pub struct EvaluatorBuilder<'a, 'b> {
    bump: &'a Bump,
    globals: Vec<String>,
    store: Option<&'a dyn StoreHook>,
    show_trace: bool,
    trace_calls: bool,
    log_sink: Option<&'a dyn policy::LogSink>,
    access: policy::Access,
    installers: Vec<Installer<'a, 'b>>,
}

/// A step of [`EvaluatorBuilder::install`].
type Installer<'a, 'b> = Box<dyn FnOnce(&Evaluator<'a>) + 'b>;

impl<'a, 'b> EvaluatorBuilder<'a, 'b> {
    /// Adds names to the global scope, after those given before (none by default;
    /// `ferrix_primops` gives Nix's); a name given again keeps its first place. They resolve
    /// at parse time; their values come from [`Evaluator::set_global`], called by an
    /// installation step, say.
    pub fn globals<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.globals
            .extend(names.into_iter().map(|n| n.as_ref().to_string()));
        self
    }

    /// The store that paths coerced to strings are copied to, and that the builtins reach
    /// through [`StoreHook::as_any`]. Without one, such coercions fail.
    pub fn store(mut self, store: &'a dyn StoreHook) -> Self {
        self.store = Some(store);
        self
    }

    /// `show-trace`: errors collect the frames of the calls they pass through (off by
    /// default; [`Evaluator::set_show_trace`] changes it later).
    pub fn show_trace(mut self, on: bool) -> Self {
        self.show_trace = on;
        self
    }

    /// `trace-function-calls`: every call expression logs when it is entered and left (off
    /// by default).
    pub fn trace_calls(mut self, on: bool) -> Self {
        self.trace_calls = on;
        self
    }

    /// Where `trace` and function-trace lines go; without a sink they go to standard error
    /// as they are.
    pub fn log_sink(mut self, sink: &'a dyn policy::LogSink) -> Self {
        self.log_sink = Some(sink);
        self
    }

    /// What files and URIs evaluation may reach (open by default; see [`policy`]).
    pub fn access(mut self, access: policy::Access) -> Self {
        self.access = access;
        self
    }

    /// A step to run on the new evaluator once it is configured, after those added before:
    /// installing the builtins (as `ferrix_primops::WithBuiltins` does), say. Steps that can
    /// fail are run on the built evaluator instead, which can render their errors.
    pub fn install(mut self, step: impl FnOnce(&Evaluator<'a>) + 'b) -> Self {
        self.installers.push(Box::new(step));
        self
    }

    /// Makes the evaluator, applies the settings and runs the installation steps in order.
    pub fn build(self) -> Evaluator<'a> {
        let mut seen = rustc_hash::FxHashSet::default();
        let names: Vec<&str> = self
            .globals
            .iter()
            .map(String::as_str)
            .filter(|n| seen.insert(*n))
            .collect();
        let ev = Evaluator::new(self.bump, &names);
        ev.store.set(self.store);
        ev.show_trace.set(self.show_trace);
        ev.trace_calls.set(self.trace_calls);
        ev.log_sink.set(self.log_sink);
        ev.set_access(self.access);
        for step in self.installers {
            step(&ev);
        }
        ev
    }
}

impl<'a> Evaluator<'a> {
    /// Starts assembling an evaluator whose values live in `bump` (see
    /// [`EvaluatorBuilder`]).
    pub fn builder<'b>(bump: &'a Bump) -> EvaluatorBuilder<'a, 'b> {
        EvaluatorBuilder {
            bump,
            globals: Vec::new(),
            store: None,
            show_trace: false,
            trace_calls: false,
            log_sink: None,
            access: policy::Access::default(),
            installers: Vec::new(),
        }
    }

    /// The arena the evaluation's values live in.
    #[inline]
    pub fn bump(&self) -> &'a Bump {
        self.bump.get()
    }

    /// The symbol table, borrowed: release it before anything that may intern (evaluation,
    /// [`Self::intern`]), or that panics with a borrow error.
    #[inline]
    pub fn symbols(&self) -> std::cell::Ref<'_, Interner> {
        self.symbols.borrow()
    }

    /// The global scope: the names that resolve at parse time, in slot order.
    #[inline]
    pub fn globals(&self) -> &Globals {
        &self.globals
    }

    /// The symbols of the names the evaluator itself looks up (`__functor`, `outPath`, …).
    #[inline]
    pub fn syms(&self) -> &KnownSyms {
        &self.syms
    }

    /// `$HOME` when the evaluator was made, which `~/` paths start with.
    #[inline]
    pub fn home(&self) -> &[u8] {
        &self.home
    }

    /// The store given to [`EvaluatorBuilder::store`], if any.
    #[inline]
    pub fn store(&self) -> Option<&'a dyn StoreHook> {
        self.store.get()
    }

    /// Whether errors collect the frames of the calls they pass through (`show-trace`).
    #[inline]
    pub fn show_trace(&self) -> bool {
        self.show_trace.get()
    }

    /// Turns `show-trace` on or off from the next evaluation on (the REPL's `:st`).
    #[inline]
    pub fn set_show_trace(&self, on: bool) {
        self.show_trace.set(on);
    }

    /// An evaluator with `global_names` in scope and every setting at its default (see
    /// [`EvaluatorBuilder::build`]).
    fn new(bump: &'a Bump, global_names: &[&str]) -> Self {
        let (mut symbols, globals) = ferrix_parser::base_environment(global_names.iter().copied());
        let mut s = |n: &str| symbols.intern(n.as_bytes());
        let syms = KnownSyms {
            out_path: s("outPath"),
            type_: s("type"),
            functor: s("__functor"),
            to_string: s("__toString"),
            file: s("file"),
            line: s("line"),
            column: s("column"),
            derivation: s("derivation"),
            overrides: s("__overrides"),
        };
        let null_thunk: &'a Thunk<'a> = bump.alloc(Thunk::done(Value::Null));
        let empty_list: &'a value::List<'a> = bump.alloc(value::List { items: &[] });
        let root_env = Env::alloc(bump, None, false, &[]);
        let n = globals.names().len();
        Evaluator {
            bump: Cell::new(bump),
            first_bump: bump,
            owned: Cell::new(std::ptr::null_mut()),
            reserve: Cell::new((std::ptr::null_mut(), 0)),
            last_peak: Cell::new(0),
            collect_at: Cell::new(gc::FIRST_COLLECTION),
            live: Cell::new(0),
            first_at: Cell::new(gc::FIRST_COLLECTION),
            copied_entries: Cell::new((0, 0)),
            symbols: RefCell::new(symbols),
            globals,
            syms,
            base: RefCell::new(vec![null_thunk; n]),
            files: RefCell::new(Vec::new()),
            imports: RefCell::new(FxHashMap::default()),
            literals: RefCell::new(FxHashMap::default()),
            home: std::env::var_os("HOME")
                .map(|h| h.as_bytes().to_vec())
                .unwrap_or_default(),
            stack_limit: Cell::new(usize::MAX),
            stack_grown: Cell::new(0),
            null_thunk: Cell::new(null_thunk),
            empty_list: Cell::new(empty_list),
            root_env: Cell::new(root_env),
            bool_thunks: Cell::new([
                bump.alloc(Thunk::done(Value::Bool(false))),
                bump.alloc(Thunk::done(Value::Bool(true))),
            ]),
            small_ints: Cell::new(bump.alloc_slice_fill_with(eval::SMALL_INTS, |i| {
                Thunk::done(Value::Int(eval::SMALL_INT_MIN + i as i64))
            })),
            append: strings::AppendArea::new(),
            name_thunks: RefCell::new(Vec::new()),
            store: Cell::new(None),
            show_trace: Cell::new(false),
            builtin_files: RefCell::new(FxHashMap::default()),
            derivation_file: Cell::new(u32::MAX),
            sym_cache: RefCell::new(Vec::new()),
            forced_sets: ops::ForcedSets::default(),
            derivations: ops::Derivations::default(),
            access: RefCell::new(policy::Access::default()),
            trace_calls: Cell::new(false),
            log_sink: Cell::new(None),
        }
    }

    pub fn intern(&self, name: &[u8]) -> Sym {
        self.symbols.borrow_mut().intern(name)
    }

    /// `intern` for the bytes of a string value, which stay where they are as long as the
    /// arena ('a) does: the symbol is remembered by their address and length. Builtins
    /// such as `listToAttrs` and `removeAttrs` intern the same values (names that
    /// `attrNames` made, string literals) over and over, and hashing and comparing their
    /// text each time was a twentieth of instantiating a package.
    pub fn intern_str(&self, bytes: &'a [u8]) -> Sym {
        let (addr, len) = (bytes.as_ptr() as usize, bytes.len());
        let slot = (addr ^ (addr >> 12) ^ len.wrapping_mul(0x9e37_79b9)) & (SYM_CACHE_SLOTS - 1);
        if let Some(&(a, n, s)) = self.sym_cache.borrow().get(slot) {
            if a == addr && n == len {
                return s;
            }
        }
        let s = self.intern(bytes);
        let mut cache = self.sym_cache.borrow_mut();
        if cache.is_empty() {
            // No slice has this length, so an empty slot never matches.
            cache.resize(SYM_CACHE_SLOTS, (0, usize::MAX, Sym(0)));
        }
        cache[slot] = (addr, len, s);
        s
    }

    /// The string value of an attribute name, as `attrNames` and `mapAttrs` pass it; made
    /// once per name and shared.
    pub fn name_thunk(&self, s: Sym) -> &'a Thunk<'a> {
        let i = s.0 as usize;
        if let Some(Some(t)) = self.name_thunks.borrow().get(i) {
            return t;
        }
        let bytes = self.bump().alloc_slice_copy(self.symbols.borrow().name(s));
        let t = self.alloc_thunk(Value::Str(self.bump().alloc(NixStr {
            bytes,
            context: &[],
        })));
        let mut cache = self.name_thunks.borrow_mut();
        if cache.len() <= i {
            cache.resize(i + 1, None);
        }
        cache[i] = Some(t);
        t
    }

    pub fn sym_name(&self, s: Sym) -> String {
        self.symbols.borrow().display(s).into_owned()
    }

    /// Sets the value of a global name (`map`, `__add`, `builtins`, …).
    pub fn set_global(&self, name: &str, v: &'a Thunk<'a>) {
        let sym = self.intern(name.as_bytes());
        if let Some(i) = self.globals.slot(sym) {
            self.base.borrow_mut()[i as usize] = v;
        }
    }

    pub(crate) fn global(&self, i: u32) -> &'a Thunk<'a> {
        self.base.borrow()[i as usize]
    }

    /// A thunk for `f x`, evaluated when forced (for lazy builtins like `map`).
    pub fn lazy_apply(&self, f: &'a Thunk<'a>, x: &'a Thunk<'a>) -> &'a Thunk<'a> {
        self.bump().alloc(Thunk::new(value::State::Apply(f, x)))
    }

    /// A thunk for `f i`, evaluated when forced (`genList`).
    pub fn lazy_apply_index(&self, f: &'a Thunk<'a>, i: usize) -> &'a Thunk<'a> {
        match u32::try_from(i) {
            Ok(i) => self
                .bump()
                .alloc(Thunk::new(value::State::ApplyIndex(f, i))),
            Err(_) => self.lazy_apply(f, self.alloc_thunk(Value::Int(i as i64))),
        }
    }

    /// A thunk for `f "name" x`, evaluated when forced (`mapAttrs`).
    pub fn lazy_apply_attr(&self, f: &'a Thunk<'a>, attr: &'a Attr<'a>) -> &'a Thunk<'a> {
        self.bump()
            .alloc(Thunk::new(value::State::ApplyAttr(f, attr)))
    }

    /// A thunk for `set.name`, evaluated when forced.
    pub fn lazy_select(&self, set: &'a Thunk<'a>, name: Sym, pos: Pos) -> &'a Thunk<'a> {
        self.bump()
            .alloc(Thunk::new(value::State::Select(set, name, pos)))
    }

    pub fn alloc_thunk(&self, v: Value<'a>) -> &'a Thunk<'a> {
        self.bump().alloc(Thunk::done(v))
    }

    pub fn string(&self, bytes: &[u8]) -> Value<'a> {
        self.string_with_context(bytes, &[])
    }

    pub fn string_with_context(&self, bytes: &[u8], context: &'a [&'a [u8]]) -> Value<'a> {
        let bytes = self.bump().alloc_slice_copy(bytes);
        Value::Str(self.bump().alloc(NixStr { bytes, context }))
    }

    pub fn path_value(&self, bytes: &[u8]) -> Value<'a> {
        let bytes = self.bump().alloc_slice_copy(bytes);
        Value::Path(self.bump().alloc(NixStr {
            bytes,
            context: &[],
        }))
    }

    /// Registers a source and returns its base, the number its positions start from.
    fn add_file(&self, origin: Origin, text: &[u8], keep: bool) -> u32 {
        let mut files = self.files.borrow_mut();
        // One past the end too, for positions at the end of the text. Past 4 GiB of
        // sources, later files share the last base and their positions are approximate.
        let base = match files.last() {
            Some(f) => f
                .base
                .saturating_add(f.len)
                .saturating_add(1)
                .min(u32::MAX - 1),
            None => 0,
        };
        files.push(SourceFile {
            base,
            len: u32::try_from(text.len()).unwrap_or(u32::MAX),
            origin,
            text: keep.then(|| text.to_vec()),
            lines: LineIndex::new(text),
        });
        base
    }

    /// The base of the file `pos` lies in.
    pub fn file_base(&self, pos: Pos) -> Option<u32> {
        locate(&self.files.borrow(), pos).map(|(f, _)| f.base)
    }

    /// Parses and compiles a source into the arena, or renders its parse error. The code
    /// runs at a file's top level.
    pub fn parse(
        &self,
        text: &[u8],
        origin: Origin,
        base_dir: &[u8],
    ) -> Result<Code<'a>, Box<EvalError>> {
        let expr = self.compile_source(text, origin, base_dir, &[])?;
        Ok(Code {
            expr,
            env: self.file_env(),
        })
    }

    /// As [`Self::parse`], with the variables of `scope` in scope around the globals (later
    /// ones win over earlier ones of the same name), as the REPL and `scopedImport` need.
    pub fn parse_in_scope(
        &self,
        text: &[u8],
        origin: Origin,
        base_dir: &[u8],
        scope: &[(Sym, &'a Thunk<'a>)],
    ) -> Result<Code<'a>, Box<EvalError>> {
        let mut scope = scope.to_vec();
        scope.reverse();
        scope.sort_by_key(|&(name, _)| name);
        scope.dedup_by_key(|&mut (name, _)| name);
        let names: Vec<Sym> = scope.iter().map(|&(name, _)| name).collect();
        let expr = self.compile_source(text, origin, base_dir, &names)?;
        let slots: Vec<&'a Thunk<'a>> = scope.iter().map(|&(_, t)| t).collect();
        // The compile step numbered the slots of the outermost scope as `names`, which
        // `slots` follows.
        let env = Env::alloc(self.bump(), None, false, &slots);
        Ok(Code { expr, env })
    }

    /// Parses `text`, with `names` (sorted, without duplicates) in scope around the
    /// globals, and compiles it into the arena.
    fn compile_source(
        &self,
        text: &[u8],
        origin: Origin,
        base_dir: &[u8],
        names: &[Sym],
    ) -> Result<&'a Expr, Box<EvalError>> {
        let keep = !matches!(origin, Origin::File(_));
        let info = SourceInfo {
            origin: origin.clone(),
            base_dir,
            home: &self.home,
        };
        let diagnostic = |d: &ferrix_parser::Diagnostic| {
            // The parser's message and position, kept apart so that frames can follow.
            Box::new(EvalError {
                kind: error::ErrorKind::Eval,
                detail: error::Detail::Parse {
                    kind: d.kind.clone(),
                    position: d.position_block(),
                },
                message: d.message.clone(),
                pos: None,
                trace: Vec::new(),
                suggestions: Vec::new(),
                exit_status: None,
            })
        };
        let r = {
            let mut symbols = self.symbols.borrow_mut();
            ferrix_parser::parse_in_scope(text, &info, &mut symbols, &self.globals, names)
        };
        let parsed = r.map_err(|d| diagnostic(&d))?;
        let file = self.add_file(origin.clone(), text, keep);
        match compile::compile(parsed, &self.globals, file, names) {
            // Outside the arena, which a collection empties: closures and thunks refer
            // to the code.
            Ok(e) => Ok(Box::leak(Box::new(e))),
            Err(unbound) => {
                let name = self.sym_name(unbound.name);
                // Nix's parser gives up on deep nesting long before, with this message.
                let message = match unbound.too_deep {
                    true => "memory exhausted".to_string(),
                    false => format!("undefined variable '{name}'"),
                };
                let mut d = ferrix_parser::Diagnostic::new(
                    message,
                    origin,
                    text,
                    &LineIndex::new(text),
                    unbound.offset as usize,
                );
                if !unbound.too_deep {
                    d.kind = ferrix_parser::actions::ErrorKind::UndefinedVariable(name);
                }
                Err(diagnostic(&d))
            }
        }
    }

    /// The scope a file's top-level expression runs in.
    pub(crate) fn file_env(&self) -> Env<'a> {
        self.root_env.get()
    }

    /// Evaluates an expression given as text (`-E`), relative to `base_dir`.
    pub fn eval_text(&self, text: &[u8], origin: Origin, base_dir: &[u8]) -> EvalResult<'a> {
        let code = self.parse(text, origin, base_dir)?;
        self.eval_code(code)
    }

    /// Evaluates compiled code to weak head normal form.
    pub fn eval_code(&self, code: Code<'a>) -> EvalResult<'a> {
        self.eval(code.expr, code.env)
    }

    /// A thunk that evaluates compiled code when forced.
    pub fn code_thunk(&self, code: Code<'a>) -> &'a Thunk<'a> {
        self.thunk(code.expr, code.env)
    }

    /// `import path`: parse and evaluate a file once; later imports share the value.
    pub fn import_file(
        &self,
        path: &Path,
        pos: Option<Pos>,
    ) -> Result<&'a Thunk<'a>, Box<EvalError>> {
        // File system errors carry no position in Nix.
        let _ = pos;
        let pos = None;
        let builtin = self
            .builtin_files
            .borrow()
            .get(path.as_os_str().as_bytes())
            .copied();
        if let Some(text) = builtin {
            return self.import_builtin(path, text);
        }
        let checked = self.check_source_path(path)?;
        let path = resolve_expr_path(&checked)
            .map_err(|m| EvalError::new(error::ErrorKind::Eval, m, pos))?;
        let path = if path == checked {
            path
        } else {
            self.check_source_path(&path)?
        };
        if let Some(t) = self.imports.borrow().get(&path) {
            return Ok(t);
        }
        let (text, dir) = read_source(&path, pos)?;
        let e = self.compile_source(
            &text,
            Origin::File(path.to_string_lossy().into_owned()),
            &dir,
            &[],
        )?;
        let t: &'a Thunk<'a> = self
            .bump()
            .alloc(Thunk::new(value::State::Deferred(e, self.file_env())));
        self.imports.borrow_mut().insert(path, t);
        Ok(t)
    }

    /// Makes `text` the content of the virtual file `path` for `import`.
    pub fn add_builtin_file(&self, path: &[u8], text: &'static [u8]) {
        self.builtin_files.borrow_mut().insert(path.to_vec(), text);
    }

    fn import_builtin(&self, path: &Path, text: &[u8]) -> Result<&'a Thunk<'a>, Box<EvalError>> {
        if let Some(t) = self.imports.borrow().get(path) {
            return Ok(t);
        }
        let dir = path
            .parent()
            .unwrap_or(Path::new("/"))
            .as_os_str()
            .as_bytes();
        let e = self.compile_source(
            text,
            Origin::File(path.to_string_lossy().into_owned()),
            dir,
            &[],
        )?;
        if path.ends_with("derivation.nix") {
            if let Some(base) = self.file_base(Pos::of(e.pos)) {
                self.derivation_file.set(base);
            }
        }
        let t: &'a Thunk<'a> = self
            .bump()
            .alloc(Thunk::new(value::State::Deferred(e, self.file_env())));
        self.imports.borrow_mut().insert(path.to_path_buf(), t);
        Ok(t)
    }

    /// Forgets which files were imported, so that the next `import` reads them again (the
    /// REPL's `:r`).
    pub fn reset_file_cache(&self) {
        self.imports.borrow_mut().clear();
    }

    /// `scopedImport attrs path`: evaluates a file with the attributes of `scope` in scope
    /// (not cached, since the scope may differ each time).
    pub fn scoped_import(
        &self,
        scope: &'a value::AttrSet<'a>,
        path: &Path,
        pos: Pos,
    ) -> EvalResult<'a> {
        let path = self.check_source_path(path)?;
        let path = resolve_expr_path(&path).map_err(|m| EvalError::eval(m, pos))?;
        let path = self.check_source_path(&path)?;
        let (text, dir) = read_source(&path, Some(pos))?;
        let names: Vec<(Sym, &'a Thunk<'a>)> =
            scope.attrs().iter().map(|a| (a.name, a.value)).collect();
        let code = self.parse_in_scope(
            &text,
            Origin::File(path.to_string_lossy().into_owned()),
            &dir,
            &names,
        )?;
        self.eval_code(code)
    }

    /// `file:line:col` as Nix prints positions inside messages.
    pub fn show_pos(&self, pos: Pos) -> String {
        let files = self.files.borrow();
        match locate(&files, pos) {
            Some((f, offset)) => f.lines.describe(f.origin.pos_label(), offset),
            None => "undefined position".into(),
        }
    }

    /// A position as Nix's log lines print it: the file in bold (`(string)` for `-E` and
    /// standard input), then `:line:col`; `undefined position` for none.
    pub fn trace_pos(&self, pos: Pos) -> String {
        let files = self.files.borrow();
        match locate(&files, pos) {
            Some((f, offset)) => {
                let (l, c) = f.lines.line_col(offset);
                format!("\x1b[1m{}\x1b[0m:{l}:{c}", f.origin.pos_label())
            }
            None => "undefined position".into(),
        }
    }

    /// Line and column of a position, and the file name as `unsafeGetAttrPos` reports it.
    /// For `-E` and standard input Nix gives the whole source text as the file name.
    pub fn pos_parts(&self, pos: Pos) -> (String, usize, usize) {
        let files = self.files.borrow();
        match locate(&files, pos) {
            Some((f, offset)) => {
                let (l, c) = f.lines.line_col(offset);
                let name = match (&f.origin, &f.text) {
                    (Origin::File(p), _) => p.clone(),
                    (_, Some(text)) => String::from_utf8_lossy(text).into_owned(),
                    (_, None) => String::new(),
                };
                (name, l, c)
            }
            None => (String::new(), 0, 0),
        }
    }

    /// Renders an error as Nix does, with its trace when `show_trace` is set.
    pub fn render_error(&self, e: &EvalError, show_trace: bool) -> Vec<u8> {
        let mut body: Vec<u8> = e.message.as_bytes().to_vec();
        body.push(b'\n');
        if let Some(p) = e.pos {
            self.render_pos(&mut body, p);
        } else if let error::Detail::Parse { position, .. } = &e.detail {
            body.push(b'\n');
            body.extend_from_slice(position);
        }
        if let Some((last, rest)) = e.suggestions.split_last() {
            let s = if rest.is_empty() {
                last.clone()
            } else {
                format!("one of {} or {last}", rest.join(", "))
            };
            body.extend_from_slice(format!("Did you mean {s}?\n").as_bytes());
        }
        if show_trace {
            for f in &e.trace {
                body.extend_from_slice(format!("\n… {}\n", f.message).as_bytes());
                if let Some(p) = f.pos {
                    self.render_pos(&mut body, p);
                }
            }
        }
        let mut out = ferrix_parser::diagnostic::indent_message(b"error: ", &body);
        if !show_trace && !e.trace.is_empty() {
            out.extend_from_slice(b"\n(use '--show-trace' to show detailed location information)");
        }
        out
    }

    fn render_pos(&self, body: &mut Vec<u8>, p: Pos) {
        let files = self.files.borrow();
        let Some((f, offset)) = locate(&files, p) else {
            return;
        };
        let src = match &f.text {
            Some(t) => t.clone(),
            None => match &f.origin {
                Origin::File(path) => std::fs::read(path).unwrap_or_default(),
                _ => Vec::new(),
            },
        };
        let d =
            ferrix_parser::Diagnostic::new(String::new(), f.origin.clone(), &src, &f.lines, offset);
        body.push(b'\n');
        body.extend_from_slice(&d.position_block());
    }
}

/// A source file's bytes and the directory its relative paths resolve against.
fn read_source(path: &Path, pos: Option<Pos>) -> Result<(Vec<u8>, Vec<u8>), Box<EvalError>> {
    let text = std::fs::read(path).map_err(|e| {
        EvalError::new(
            error::ErrorKind::Eval,
            format!("opening file '{}': {}", path.display(), io_reason(&e)),
            pos,
        )
    })?;
    let dir = path
        .parent()
        .map(|d| d.as_os_str().as_bytes().to_vec())
        .unwrap_or_else(|| b"/".to_vec());
    Ok((text, dir))
}

/// Nix's `resolveExprPath`: follow symlinks, and use `default.nix` in a directory.
pub fn resolve_expr_path(path: &Path) -> Result<PathBuf, String> {
    let mut path = path.to_path_buf();
    for _ in 0..1024 {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("getting status of '{}': {}", path.display(), io_reason(&e)))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| {
                format!(
                    "reading symbolic link '{}': {}",
                    path.display(),
                    io_reason(&e)
                )
            })?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            path = PathBuf::from(std::ffi::OsStr::from_bytes(
                &ferrix_parser::actions::canon_path(dir.join(target).as_os_str().as_bytes()),
            ));
            continue;
        }
        if meta.is_dir() {
            path.push("default.nix");
        }
        return Ok(path);
    }
    Err(format!(
        "too many symbolic links encountered while traversing the path '{}'",
        path.display()
    ))
}

pub use ferrix_parser::diagnostic::io_reason;
/// What a collection did (see [`Evaluator::collect`]).
pub use gc::Collection;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{PrimOp, Thunk, Value};

    /// A builtin that claims not to keep its argument but returns it in a list (only
    /// debug builds check the claim, so only their tests use it).
    #[cfg(debug_assertions)]
    fn keeps<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], _: Pos) -> EvalResult<'a> {
        Ok(ev.make_list(&[args[0]]))
    }

    /// One that keeps only what is inside its argument.
    fn forces<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
        ev.force(args[0], pos)
    }

    #[cfg(debug_assertions)]
    static LIAR: PrimOp = PrimOp {
        name: "liar",
        arity: 1,
        // SAFETY: deliberately false, and only in debug builds: the test shows the check
        // catches the lie and panics before the dangling reference is used.
        transient: unsafe { crate::value::Transient::new(1) },
        func: keeps,
        doc: "",
    };
    #[cfg(debug_assertions)]
    static LIAR2: PrimOp = PrimOp {
        name: "liar2",
        arity: 2,
        // SAFETY: deliberately false, as above.
        transient: unsafe { crate::value::Transient::new(2) },
        func: |ev, args, pos| keeps(ev, &args[1..], pos),
        doc: "",
    };
    static HONEST: PrimOp = PrimOp {
        name: "honest",
        arity: 1,
        // SAFETY: `forces` returns what is inside its argument, never the thunk.
        transient: unsafe { crate::value::Transient::new(1) },
        func: forces,
        doc: "",
    };

    fn eval_with(op: &'static PrimOp, src: &str) -> String {
        let bump = Bump::new();
        let ev = Evaluator::builder(&bump).globals([op.name]).build();
        ev.set_global(op.name, bump.alloc(Thunk::done(Value::PrimOp(op))));
        eval_print(&ev, src)
    }

    /// Evaluates `src` fully and prints it as Nix does.
    fn eval_print(ev: &Evaluator<'_>, src: &str) -> String {
        let code = ev.parse(src.as_bytes(), Origin::String, b"/").unwrap();
        let v = ev.eval_code(code).unwrap();
        ev.force_deep(v, Pos::NONE).unwrap();
        let mut out = Vec::new();
        ev.print_value(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// `PrimOp::transient` is checked in debug builds: a builtin that keeps an argument it
    /// claims not to keep (here in its result) is caught at the call, in both call paths.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "builtin 'liar' keeps an argument")]
    fn a_builtin_that_keeps_a_transient_argument_is_caught() {
        eval_with(&LIAR, "liar (1 + 1)");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "builtin 'liar2' keeps an argument")]
    fn a_builtin_that_keeps_its_second_transient_argument_is_caught() {
        eval_with(&LIAR2, "liar2 0 (1 + 1)");
    }

    #[test]
    fn a_builtin_that_keeps_what_is_inside_passes() {
        assert_eq!(
            eval_with(&HONEST, "honest ([ (1 + 1) ] ++ [ 3 ])"),
            "[ 2 3 ]"
        );
    }

    /// The global scope is the names given to the builder, each once, where first given.
    #[test]
    fn global_names_given_twice_count_once() {
        let bump = Bump::new();
        let ev = Evaluator::builder(&bump)
            .globals(["a", "b"])
            .globals(["c", "a"])
            .build();
        let names: Vec<String> = ev
            .globals()
            .names()
            .iter()
            .map(|s| ev.sym_name(*s))
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        ev.set_global("a", bump.alloc(Thunk::done(Value::Int(1))));
        assert_eq!(eval_print(&ev, "a"), "1");
    }

    fn eval_str(src: &str) -> String {
        let bump = Bump::new();
        eval_print(&Evaluator::builder(&bump).build(), src)
    }

    /// Small evaluations through the evaluator's unsafe code: scopes in the arena and on
    /// the stack (one- and two-argument calls, formals, `with`, `rec`, `let`), deferred
    /// thunks, layered sets and the strings' append area. Cheap enough for Miri.
    #[test]
    fn small_evaluations() {
        let long = "x".repeat(300);
        // `b` and `c` extend, in place, the string just made in the append area.
        let strings = format!(
            r#"let a = "{long}"; b = (x: x + "z") (a + "y"); c = (x: "${{x}}w") (a + "v"); in
               [ (b == a + "yz") (c == a + "vw") (b + "q" == a + "yzq") ]"#
        );
        let cases = [
            ("let f = x: y: x * 10 + y; in f 1 2", "12"),
            ("let f = x: x + 1; in f (f 1)", "3"),
            ("let add = x: y: x + y; inc = add 1; in [ (inc 2) (add 3 4) ]", "[ 3 7 ]"),
            ("with { a = 1; b = 2; }; with { b = 3; }; a + b", "4"),
            ("rec { a = 1; b = a + 1; c = { d = b; }; }.c.d", "2"),
            ("({ a, b ? 2, ... }@args: a + b + args.c) { a = 1; c = 3; }", "6"),
            (
                "let s = { a = 1; b = 2; c = 3; d = 4; } // { e = 5; f = 6; g = 7; a = 8; };                  t = s // { h = 9; i = 10; j = 11; k = 12; }; in [ t.a t.b t.k (t ? z) ]",
                "[ 8 2 12 false ]",
            ),
            (
                "let g = n: if n == 0 then 0 else n + g (n - 1); in g 20",
                "210",
            ),
            (&strings, "[ true true true ]"),
        ];
        for (src, want) in cases {
            assert_eq!(eval_str(src), want, "{src}");
        }
    }

    /// The cache of `intern_str` gives what `intern` gives, for equal text at different
    /// addresses, for repeated lookups and for slots that collide.
    #[test]
    // Thousands of strings interned twice: minutes under Miri, and no unsafe code.
    #[cfg_attr(miri, ignore)]
    fn interning_string_values_agrees_with_interning_text() {
        let bump = Bump::new();
        let ev = Evaluator::builder(&bump).build();
        let a: &[u8] = bump.alloc_slice_copy(b"name");
        let b: &[u8] = bump.alloc_slice_copy(b"name");
        let c: &[u8] = bump.alloc_slice_copy(b"other");
        let want = ev.intern(b"name");
        assert_eq!(ev.intern_str(a), want);
        assert_eq!(ev.intern_str(b), want);
        assert_eq!(ev.intern_str(a), want);
        assert_eq!(ev.intern_str(&a[..2]), ev.intern(b"na"));
        assert_eq!(ev.intern_str(c), ev.intern(b"other"));
        let many: Vec<&[u8]> = (0..3 * SYM_CACHE_SLOTS)
            .map(|i| &*bump.alloc_slice_copy(format!("n{i}").as_bytes()))
            .collect();
        for _ in 0..2 {
            for (i, s) in many.iter().enumerate() {
                assert_eq!(ev.intern_str(s), ev.intern(format!("n{i}").as_bytes()));
            }
        }
    }
}
