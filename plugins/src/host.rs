//! The host side of the ABI: call frames, the per-thread handle table and the functions of
//! [`abi::Api`].
//!
//! Every call into a plugin (a primop call, or an `importNative` initialisation function)
//! runs in a [`Frame`]. The `ferrix_ctx *` the plugin sees is a token made from the frame's
//! generation (see [`ctx_token`]), and the frame owns a contiguous run of entries in this
//! thread's handle table. A handle is `generation << 32 | index`, where an index with the
//! [`ARG_HANDLE`] bit names one of the call's arguments (which so need no table entries)
//! and any other index a table entry: it is valid only while its frame is the current one,
//! and only if the generation matches, so a stale handle (kept from an earlier call), a
//! handle of another call, or a made-up number is detected and reported as a Nix error. A
//! context pointer is never dereferenced: it is only compared with the current frame's
//! token.
//!
//! A strict entry point (ABI 1.2) gets its arguments evaluated before the frame is set up
//! and returns scalars by content, so the common call makes no API call at all.
//!
//! The table stores arena values with their lifetime erased to `'static`; they are only
//! read while the frame (and so the evaluation's arena) is alive, and the table is cut
//! back when the frame ends.

use crate::loader::Plugin;
use ferrix_eval::error::{EvalError, EvalResult};
use ferrix_eval::value::{Attr, PrimOp, Thunk, Value};
use ferrix_eval::{Evaluator, Pos};
use ferrix_plugin_abi as abi;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

type V = Value<'static>;
type T = &'static Thunk<'static>;
type R<X> = Result<X, Box<EvalError>>;

/// What a handle refers to: an unevaluated argument, or a value.
#[derive(Clone, Copy)]
enum Slot {
    Thunk(T),
    Value(V),
}

/// One call into a plugin.
pub(crate) struct Frame {
    ev: *const Evaluator<'static>,
    pos: Pos,
    gen: u32,
    base: usize,
    table: &'static Table,
    plugin: &'static Plugin,
    /// "primop 'name'" or "initialisation function 'symbol'", for messages.
    what: Cow<'static, str>,
    error: RefCell<Option<Box<EvalError>>>,
    /// The call's arguments: handle `gen << 32 | ARG_HANDLE | i` is argument `i`, so that
    /// passing arguments costs no table entries.
    args: &'static [T],
}

/// The index bit of argument handles; table indices stay below it.
const ARG_HANDLE: usize = 1 << 31;

/// A thread's handle table. It is only touched by the short methods below, none of which
/// calls out while it holds a reference into the vector, and only by its own thread (it is
/// neither `Send` nor `Sync`), so plain interior mutability is sound and saves the borrow
/// flag of a `RefCell` on every handle operation.
struct Table(std::cell::UnsafeCell<Vec<Slot>>);

impl Table {
    #[inline]
    fn len(&self) -> usize {
        // SAFETY: see the type's documentation.
        unsafe { (&*self.0.get()).len() }
    }

    #[inline]
    fn push(&self, s: Slot) -> usize {
        // SAFETY: see the type's documentation.
        let v = unsafe { &mut *self.0.get() };
        v.push(s);
        v.len() - 1
    }

    #[inline]
    fn get(&self, i: usize) -> Option<Slot> {
        // SAFETY: see the type's documentation.
        unsafe { (&*self.0.get()).get(i).copied() }
    }

    #[inline]
    fn truncate(&self, n: usize) {
        // SAFETY: see the type's documentation.
        unsafe { (&mut *self.0.get()).truncate(n) }
    }
}

/// This thread's state. Only plain `Cell`s with constant initialisers, so that access is a
/// single load (no lazy initialisation or destructor registration on the hot path). The
/// table is allocated once per thread and lives as long as the process.
struct Tls {
    table: Cell<Option<&'static Table>>,
    current: Cell<*const Frame>,
    next_gen: Cell<u32>,
}

thread_local! {
    static TLS: Tls = const {
        Tls {
            table: Cell::new(None),
            current: Cell::new(std::ptr::null()),
            next_gen: Cell::new(1),
        }
    };
}

fn current() -> *const Frame {
    TLS.with(|t| t.current.get())
}

impl Frame {
    fn ev(&self) -> &Evaluator<'static> {
        // SAFETY: the evaluator outlives the frame, which lives on the stack of `run`.
        unsafe { &*self.ev }
    }

    /// An error attributed to the plugin, naming its file.
    #[cold]
    #[inline(never)]
    pub(crate) fn fault(&self, reason: impl std::fmt::Display) -> Box<EvalError> {
        EvalError::eval(
            format!("{} of plugin '{}': {reason}", self.what, self.plugin.path),
            self.pos,
        )
    }

    /// Records an error; the first one wins.
    fn set_error(&self, e: Box<EvalError>) {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    #[inline]
    fn push(&self, s: Slot) -> R<abi::ValueHandle> {
        let idx = self.table.len();
        if idx >= ARG_HANDLE {
            return Err(self.fault("too many values made in one call"));
        }
        self.table.push(s);
        Ok(((self.gen as u64) << 32) | idx as u64)
    }

    fn push_value(&self, v: V) -> R<abi::ValueHandle> {
        self.push(Slot::Value(v))
    }

    #[inline]
    fn slot(&self, h: abi::ValueHandle, func: &str) -> R<Slot> {
        let gen = (h >> 32) as u32;
        let idx = (h & 0xffff_ffff) as usize;
        if gen == self.gen {
            if idx & ARG_HANDLE != 0 {
                if let Some(&t) = self.args.get(idx & !ARG_HANDLE) {
                    return Ok(Slot::Thunk(t));
                }
            } else if idx >= self.base {
                if let Some(s) = self.table.get(idx) {
                    return Ok(s);
                }
            }
        }
        Err(self.bad_handle(h, func))
    }

    #[cold]
    #[inline(never)]
    fn bad_handle(&self, h: abi::ValueHandle, func: &str) -> Box<EvalError> {
        {
            if h == abi::NONE {
                self.fault(format!("no value (handle 0) was passed to '{func}'"))
            } else {
                self.fault(format!(
                    "invalid value handle {h:#x} passed to '{func}': it is stale (from a call \
                     that has returned) or foreign (not made in this call)"
                ))
            }
        }
    }

    /// The value of a handle, forced.
    #[inline]
    fn value(&self, h: abi::ValueHandle, func: &str) -> R<V> {
        match self.slot(h, func)? {
            Slot::Value(v) => Ok(v),
            Slot::Thunk(t) => self.ev().force(t, self.pos),
        }
    }

    /// The handle as a thunk, for putting it into a list or set.
    fn thunk(&self, h: abi::ValueHandle, func: &str) -> R<T> {
        match self.slot(h, func)? {
            Slot::Thunk(t) => Ok(t),
            Slot::Value(v) => Ok(self.ev().alloc_thunk(v)),
        }
    }

    fn type_error<X>(&self, v: V, expected: &str) -> R<X> {
        Err(EvalError::eval(
            format!("value is {} while {expected} was expected", v.show_type()),
            self.pos,
        ))
    }
}

/// Restores the previous frame and cuts the table back, also when unwinding.
struct Restore {
    prev: *const Frame,
    base: usize,
    table: &'static Table,
}

impl Drop for Restore {
    fn drop(&mut self) {
        TLS.with(|t| t.current.set(self.prev));
        self.table.truncate(self.base);
    }
}

/// Sets up a frame for one call into a plugin and runs `body` in it. The frame is current
/// (for the API functions) until `body` returns or unwinds.
#[inline(always)]
fn in_frame<'a, X>(
    ev: &Evaluator<'a>,
    pos: Pos,
    plugin: &'static Plugin,
    what: Cow<'static, str>,
    args: &[&'a Thunk<'a>],
    body: impl FnOnce(&Frame) -> X,
) -> X {
    let (gen, table, prev) = TLS.with(|t| {
        let gen = t.next_gen.get();
        t.next_gen.set(if gen == u32::MAX { 1 } else { gen + 1 });
        let table = match t.table.get() {
            Some(x) => x,
            None => new_table(t),
        };
        (gen, table, t.current.get())
    });
    let base = table.len();
    let frame = Frame {
        ev: std::ptr::from_ref(ev).cast(),
        pos,
        gen,
        base,
        table,
        plugin,
        what,
        error: RefCell::new(None),
        // SAFETY: only the lifetime changes (see the module documentation); the frame,
        // and so this slice, lives only during the call.
        args: unsafe { std::mem::transmute::<&[&'a Thunk<'a>], &'static [T]>(args) },
    };
    TLS.with(|t| t.current.set(&frame));
    let _restore = Restore { prev, base, table };
    body(&frame)
}

#[cold]
#[inline(never)]
fn new_table(t: &Tls) -> &'static Table {
    let x: &'static Table = Box::leak(Box::new(Table(std::cell::UnsafeCell::new(
        Vec::with_capacity(256),
    ))));
    t.table.set(Some(x));
    x
}

impl Frame {
    /// The handle of argument `i`.
    #[inline(always)]
    fn arg_handle(&self, i: usize) -> abi::ValueHandle {
        ((self.gen as u64) << 32) | (ARG_HANDLE | i) as u64
    }

    /// The value of the handle a plugin returned.
    fn result(&self, h: abi::ValueHandle) -> R<V> {
        if h == abi::NONE {
            return Err(self.fault("returned no value and raised no error"));
        }
        match self.slot(h, "the return value") {
            Ok(Slot::Value(v)) => Ok(v),
            Ok(Slot::Thunk(t)) => self.ev().force(t, self.pos),
            Err(_) => Err(self.fault(format!(
                "returned an invalid value handle {h:#x} (stale, foreign or made up)"
            ))),
        }
    }
}

/// Gives an arena value its lifetime back (see the module documentation).
#[inline(always)]
fn unerase<'a>(v: V) -> Value<'a> {
    // SAFETY: the value lives in the evaluation's arena, which outlives `'a`'s users.
    unsafe { std::mem::transmute::<V, Value<'a>>(v) }
}

/// Runs one call into a plugin: `call` gets the API, the context and the argument handles
/// and returns the plugin's result handle.
pub(crate) fn run<'a>(
    ev: &Evaluator<'a>,
    pos: Pos,
    plugin: &'static Plugin,
    what: Cow<'static, str>,
    args: &[&'a Thunk<'a>],
    call: impl FnOnce(*const abi::Api, *mut abi::Ctx, &[abi::ValueHandle]) -> abi::ValueHandle,
) -> EvalResult<'a> {
    in_frame(ev, pos, plugin, what, args, |frame| {
        // Only the first `args.len()` handles are written and passed on, so the array need
        // not be zeroed first.
        let mut handles =
            [std::mem::MaybeUninit::<abi::ValueHandle>::uninit(); abi::MAX_ARITY as usize];
        if args.len() > handles.len() {
            return Err(frame.fault("too many arguments"));
        }
        for (i, h) in handles.iter_mut().enumerate().take(args.len()) {
            h.write(frame.arg_handle(i));
        }
        // SAFETY: the first `args.len()` elements were initialised just above.
        let handles: &[abi::ValueHandle] =
            unsafe { std::slice::from_raw_parts(handles.as_ptr().cast(), args.len()) };
        let h = call(&API, ctx_token(frame.gen), handles);
        if let Some(e) = frame.error.take() {
            return Err(e);
        }
        frame.result(h).map(unerase)
    })
}

/// Evaluates an argument for a strict entry point as `kind` asks, checking its type with
/// Nix's messages (the same the getters give), and fills in its type and contents.
#[inline(always)]
fn strict_arg<'a>(
    ev: &Evaluator<'a>,
    pos: Pos,
    t: &'a Thunk<'a>,
    kind: abi::ArgKind,
) -> Result<abi::Arg, Box<EvalError>> {
    let mut a = abi::Arg {
        value: abi::NONE,
        type_: abi::TYPE_UNKNOWN,
        as_: abi::ArgContents { i: 0 },
    };
    if kind == abi::ARG_LAZY {
        return Ok(a);
    }
    let v = ev.force(t, pos)?;
    let bytes = |s: &[u8]| abi::ArgContents {
        s: abi::Bytes {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        },
    };
    let (ty, contents) = match v {
        Value::Int(n) => (
            abi::TYPE_INT,
            if kind == abi::ARG_FLOAT {
                abi::ArgContents { f: n as f64 }
            } else {
                abi::ArgContents { i: n }
            },
        ),
        Value::Float(f) => (abi::TYPE_FLOAT, abi::ArgContents { f }),
        Value::Bool(b) => (abi::TYPE_BOOL, abi::ArgContents { b: b as i32 }),
        Value::Str(s) => (abi::TYPE_STRING, bytes(s.bytes)),
        Value::Path(s) => (abi::TYPE_PATH, bytes(s.bytes)),
        Value::Null => (abi::TYPE_NULL, abi::ArgContents { i: 0 }),
        Value::Attrs(_) => (abi::TYPE_ATTRS, abi::ArgContents { i: 0 }),
        Value::List(_) => (abi::TYPE_LIST, abi::ArgContents { i: 0 }),
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => {
            (abi::TYPE_FUNCTION, abi::ArgContents { i: 0 })
        }
    };
    let expected = match (kind, ty) {
        (abi::ARG_BOOL, abi::TYPE_BOOL)
        | (abi::ARG_INT, abi::TYPE_INT)
        | (abi::ARG_FLOAT, abi::TYPE_INT | abi::TYPE_FLOAT)
        | (abi::ARG_STRING, abi::TYPE_STRING | abi::TYPE_PATH)
        | (abi::ARG_ANY, _) => None,
        (abi::ARG_BOOL, _) => Some("a Boolean"),
        (abi::ARG_INT, _) => Some("an integer"),
        (abi::ARG_FLOAT, _) => Some("a float"),
        _ => Some("a string"),
    };
    if let Some(expected) = expected {
        return Err(arg_type_error(v, expected, pos));
    }
    a.type_ = ty;
    a.as_ = contents;
    Ok(a)
}

#[cold]
#[inline(never)]
fn arg_type_error(v: Value<'_>, expected: &str, pos: Pos) -> Box<EvalError> {
    EvalError::eval(
        format!("value is {} while {expected} was expected", v.show_type()),
        pos,
    )
}

/// A primop's strict entry point (ABI 1.2) as registered.
pub(crate) struct StrictEntry {
    pub func: abi::StrictFn,
    /// How it takes each argument (`ARG_LAZY` past the arity).
    pub kinds: [abi::ArgKind; abi::MAX_ARITY as usize],
    /// The primop's `data`, passed back.
    pub data: *mut std::ffi::c_void,
}

// `data` is the plugin's own immutable pointer, only passed back to it.
unsafe impl Send for StrictEntry {}
unsafe impl Sync for StrictEntry {}

/// Runs one call of a primop's strict entry point (ABI 1.2): the arguments are evaluated
/// as `kinds` asks before the plugin runs, and a scalar result comes back by content.
#[inline(always)]
pub(crate) fn run_strict<'a>(
    ev: &Evaluator<'a>,
    pos: Pos,
    plugin: &'static Plugin,
    what: &'static str,
    args: &[&'a Thunk<'a>],
    entry: &StrictEntry,
) -> EvalResult<'a> {
    let mut sargs = [std::mem::MaybeUninit::<abi::Arg>::uninit(); abi::MAX_ARITY as usize];
    let n = args.len().min(sargs.len());
    // Evaluated in order before the frame exists, as a builtin would: a failing argument
    // fails the call without the plugin running.
    for i in 0..n {
        sargs[i].write(strict_arg(ev, pos, args[i], entry.kinds[i])?);
    }
    in_frame(ev, pos, plugin, Cow::Borrowed(what), args, |frame| {
        if args.len() > n {
            return Err(frame.fault("too many arguments"));
        }
        for (i, s) in sargs.iter_mut().enumerate().take(n) {
            // SAFETY: the first `n` elements were initialised above.
            unsafe { s.assume_init_mut() }.value = frame.arg_handle(i);
        }
        let mut result = abi::PrimOpResult {
            type_: abi::TYPE_ERROR,
            as_: abi::ResultContents { i: 0 },
        };
        // SAFETY: calling the plugin's strict entry point as the ABI specifies; the first
        // `n` arguments are initialised.
        let status = unsafe {
            (entry.func)(
                &API,
                ctx_token(frame.gen),
                sargs.as_ptr().cast(),
                n,
                &mut result,
                entry.data,
            )
        };
        if let Some(e) = frame.error.take() {
            return Err(e);
        }
        if status != abi::OK {
            return Err(frame.fault("returned an error status but raised no error"));
        }
        // SAFETY (the union reads): each arm reads the field its type names, and the
        // union was initialised as a whole.
        let v: V = match result.type_ {
            // SAFETY: each arm reads the union member that `type_` says the plugin wrote (the
            // ABI's rule; an unknown type is an error below).
            abi::TYPE_INT => Value::Int(unsafe { result.as_.i }),
            abi::TYPE_BOOL => Value::Bool(unsafe { result.as_.b } != 0),
            abi::TYPE_FLOAT => Value::Float(unsafe { result.as_.f }),
            abi::TYPE_NULL => Value::Null,
            abi::RESULT_VALUE => frame.result(unsafe { result.as_.value })?,
            t => return Err(bad_result_type(frame, t)),
        };
        Ok(unerase(v))
    })
}

#[cold]
#[inline(never)]
fn bad_result_type(frame: &Frame, t: abi::TypeCode) -> Box<EvalError> {
    if t == abi::TYPE_ERROR {
        frame.fault("returned success but set no result")
    } else {
        frame.fault(format!(
            "returned a result of type {t}, which a strict entry point cannot return by \
             content (return strings and other values as a handle)"
        ))
    }
}

/// The `ferrix_ctx *` a plugin sees: not an address but the frame's generation, so that a
/// context kept from an earlier call never matches a later frame (which may well live at
/// the same stack address). Plugins only pass it back; it is never dereferenced.
fn ctx_token(gen: u32) -> *mut abi::Ctx {
    ((gen as usize) << 4) as *mut abi::Ctx
}

/// Runs `body` for an API function called with `ctx`, which must be the current frame.
/// Errors are recorded in the frame and `fail` is returned; panics are caught here so that
/// they never unwind into the plugin.
#[inline(always)]
fn enter<X>(ctx: *mut abi::Ctx, fail: X, body: impl FnOnce(&Frame) -> R<X>) -> X {
    let cur = current();
    if cur.is_null() {
        // Outside any call (another thread, or after the call returned): nobody to tell.
        return fail;
    }
    // SAFETY: the current frame is alive: its `run` is on this thread's stack.
    let frame = unsafe { &*cur };
    if ctx != ctx_token(frame.gen) {
        frame.set_error(frame.fault(
            "a context that is not the current call's was passed to the plugin API \
             (stale or foreign context)",
        ));
        return fail;
    }
    match catch_unwind(AssertUnwindSafe(|| body(frame))) {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            frame.set_error(e);
            fail
        }
        Err(p) => {
            frame.set_error(frame.fault(format!(
                "internal error in Ferrix's plugin API: {}",
                panic_message(&*p)
            )));
            fail
        }
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Bytes given by pointer and length; a null pointer is only allowed with length 0.
fn bytes<'x>(f: &Frame, p: *const c_char, len: usize, func: &str) -> R<&'x [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(f.fault(format!("a null pointer was passed to '{func}'")));
    }
    // SAFETY: the plugin promises `len` readable bytes at `p` (the ABI's contract).
    Ok(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
}

fn items<'x, X>(f: &Frame, p: *const X, len: usize, func: &str) -> R<&'x [X]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(f.fault(format!("a null pointer was passed to '{func}'")));
    }
    // SAFETY: as in `bytes`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Writes through an out pointer, checking it is not null.
fn out<X>(f: &Frame, p: *mut X, x: X, func: &str) -> R<abi::Status> {
    if p.is_null() {
        return Err(f.fault(format!("a null output pointer was passed to '{func}'")));
    }
    // SAFETY: the plugin passes a writable pointer (the ABI's contract).
    unsafe { p.write(x) };
    Ok(abi::OK)
}

unsafe extern "C" fn make_null(ctx: *mut abi::Ctx) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| f.push_value(Value::Null))
}

unsafe extern "C" fn make_bool(ctx: *mut abi::Ctx, b: i32) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| f.push_value(Value::Bool(b != 0)))
}

unsafe extern "C" fn make_int(ctx: *mut abi::Ctx, n: i64) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| f.push_value(Value::Int(n)))
}

unsafe extern "C" fn make_float(ctx: *mut abi::Ctx, x: f64) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| f.push_value(Value::Float(x)))
}

unsafe extern "C" fn make_string(
    ctx: *mut abi::Ctx,
    s: *const c_char,
    len: usize,
) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| {
        let b = bytes(f, s, len, "make_string")?;
        f.push_value(f.ev().string(b))
    })
}

unsafe extern "C" fn make_path(
    ctx: *mut abi::Ctx,
    s: *const c_char,
    len: usize,
) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| {
        let b = bytes(f, s, len, "make_path")?;
        if b.first() != Some(&b'/') {
            return Err(f.fault(format!(
                "make_path: '{}' is not an absolute path",
                String::from_utf8_lossy(b)
            )));
        }
        let canon = ferrix_parser::actions::canon_path(b);
        f.push_value(f.ev().path_value(&canon))
    })
}

unsafe extern "C" fn make_list(
    ctx: *mut abi::Ctx,
    hs: *const abi::ValueHandle,
    n: usize,
) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| {
        let hs = items(f, hs, n, "make_list")?;
        let ts = hs
            .iter()
            .map(|&h| f.thunk(h, "make_list"))
            .collect::<R<Vec<T>>>()?;
        f.push_value(f.ev().make_list(&ts))
    })
}

unsafe extern "C" fn make_attrs(
    ctx: *mut abi::Ctx,
    defs: *const abi::AttrDef,
    n: usize,
) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| {
        let defs = items(f, defs, n, "make_attrs")?;
        let ev = f.ev();
        let mut attrs: Vec<Attr<'static>> = Vec::with_capacity(defs.len());
        for d in defs {
            let name = bytes(f, d.name, d.name_len, "make_attrs")?;
            attrs.push(Attr {
                name: ev.intern(name),
                value: f.thunk(d.value, "make_attrs")?,
                pos: Pos::NONE,
            });
        }
        attrs.sort_by_key(|a| a.name);
        if let Some(w) = attrs.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(f.fault(format!(
                "make_attrs: attribute '{}' given twice",
                ev.sym_name(w[0].name)
            )));
        }
        f.push_value(ev.make_attrs(attrs))
    })
}

fn type_code(ev: &Evaluator<'static>, v: V) -> abi::TypeCode {
    let _ = ev;
    match v {
        Value::Null => abi::TYPE_NULL,
        Value::Bool(_) => abi::TYPE_BOOL,
        Value::Int(_) => abi::TYPE_INT,
        Value::Float(_) => abi::TYPE_FLOAT,
        Value::Str(_) => abi::TYPE_STRING,
        Value::Path(_) => abi::TYPE_PATH,
        Value::Attrs(_) => abi::TYPE_ATTRS,
        Value::List(_) => abi::TYPE_LIST,
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => abi::TYPE_FUNCTION,
    }
}

unsafe extern "C" fn type_of(ctx: *mut abi::Ctx, h: abi::ValueHandle) -> abi::TypeCode {
    enter(ctx, abi::TYPE_ERROR, |f| {
        let v = f.value(h, "type_of")?;
        Ok(type_code(f.ev(), v))
    })
}

unsafe extern "C" fn force(ctx: *mut abi::Ctx, h: abi::ValueHandle) -> abi::Status {
    enter(ctx, abi::ERR, |f| f.value(h, "force").map(|_| abi::OK))
}

unsafe extern "C" fn get_bool(ctx: *mut abi::Ctx, h: abi::ValueHandle, o: *mut i32) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "get_bool")? {
        Value::Bool(b) => out(f, o, b as i32, "get_bool"),
        v => f.type_error(v, "a Boolean"),
    })
}

unsafe extern "C" fn get_int(ctx: *mut abi::Ctx, h: abi::ValueHandle, o: *mut i64) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "get_int")? {
        Value::Int(n) => out(f, o, n, "get_int"),
        v => f.type_error(v, "an integer"),
    })
}

unsafe extern "C" fn get_float(
    ctx: *mut abi::Ctx,
    h: abi::ValueHandle,
    o: *mut f64,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "get_float")? {
        Value::Float(x) => out(f, o, x, "get_float"),
        Value::Int(n) => out(f, o, n as f64, "get_float"),
        v => f.type_error(v, "a float"),
    })
}

unsafe extern "C" fn get_string(
    ctx: *mut abi::Ctx,
    h: abi::ValueHandle,
    p: *mut *const c_char,
    len: *mut usize,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| {
        let b = match f.value(h, "get_string")? {
            Value::Str(s) | Value::Path(s) => s.bytes,
            v => return f.type_error(v, "a string"),
        };
        out(f, len, b.len(), "get_string")?;
        out(f, p, b.as_ptr() as *const c_char, "get_string")
    })
}

unsafe extern "C" fn list_len(
    ctx: *mut abi::Ctx,
    h: abi::ValueHandle,
    o: *mut usize,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "list_len")? {
        Value::List(l) => out(f, o, l.items.len(), "list_len"),
        v => f.type_error(v, "a list"),
    })
}

unsafe extern "C" fn list_get(
    ctx: *mut abi::Ctx,
    h: abi::ValueHandle,
    i: usize,
    o: *mut abi::ValueHandle,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "list_get")? {
        Value::List(l) => match l.items.get(i) {
            Some(t) => {
                let h = f.push(Slot::Thunk(t))?;
                out(f, o, h, "list_get")
            }
            None => Err(f.fault(format!(
                "list_get: index {i} is out of range for a list of {} elements",
                l.items.len()
            ))),
        },
        v => f.type_error(v, "a list"),
    })
}

unsafe extern "C" fn attrs_len(
    ctx: *mut abi::Ctx,
    h: abi::ValueHandle,
    o: *mut usize,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "attrs_len")? {
        Value::Attrs(s) => out(f, o, s.attrs().len(), "attrs_len"),
        v => f.type_error(v, "a set"),
    })
}

unsafe extern "C" fn attrs_get(
    ctx: *mut abi::Ctx,
    h: abi::ValueHandle,
    name: *const c_char,
    len: usize,
    o: *mut abi::ValueHandle,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "attrs_get")? {
        Value::Attrs(s) => {
            let name = bytes(f, name, len, "attrs_get")?;
            let sym = f.ev().symbols().get(name);
            let found = match sym.and_then(|sym| s.get(sym)) {
                Some(a) => f.push(Slot::Thunk(a.value))?,
                None => abi::NONE,
            };
            out(f, o, found, "attrs_get")
        }
        v => f.type_error(v, "a set"),
    })
}

unsafe extern "C" fn attrs_entry(
    ctx: *mut abi::Ctx,
    h: abi::ValueHandle,
    i: usize,
    name: *mut *const c_char,
    name_len: *mut usize,
    o: *mut abi::ValueHandle,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| match f.value(h, "attrs_entry")? {
        Value::Attrs(s) => match s.attrs().get(i) {
            Some(a) => {
                let ev = f.ev();
                let bytes: &[u8] = {
                    let symbols = ev.symbols();
                    ev.bump().alloc_slice_copy(symbols.name(a.name))
                };
                let vh = f.push(Slot::Thunk(a.value))?;
                out(f, name_len, bytes.len(), "attrs_entry")?;
                out(f, name, bytes.as_ptr() as *const c_char, "attrs_entry")?;
                out(f, o, vh, "attrs_entry")
            }
            None => Err(f.fault(format!(
                "attrs_entry: index {i} is out of range for a set of {} attributes",
                s.attrs().len()
            ))),
        },
        v => f.type_error(v, "a set"),
    })
}

unsafe extern "C" fn call(
    ctx: *mut abi::Ctx,
    fh: abi::ValueHandle,
    args: *const abi::ValueHandle,
    n: usize,
    o: *mut abi::ValueHandle,
) -> abi::Status {
    enter(ctx, abi::ERR, |f| {
        let args = items(f, args, n, "call")?;
        let ev = f.ev();
        let mut v = f.value(fh, "call")?;
        for &a in args {
            let t = f.thunk(a, "call")?;
            v = ev.call(v, t, f.pos)?;
        }
        let h = f.push_value(v)?;
        out(f, o, h, "call")
    })
}

unsafe extern "C" fn error(ctx: *mut abi::Ctx, msg: *const c_char, len: usize) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| {
        let msg = bytes(f, msg, len, "error")?;
        Err(f.fault(String::from_utf8_lossy(msg)))
    })
}

unsafe extern "C" fn primop(
    ctx: *mut abi::Ctx,
    name: *const c_char,
    len: usize,
) -> abi::ValueHandle {
    enter(ctx, abi::NONE, |f| {
        let name = bytes(f, name, len, "primop")?;
        let op: Option<&'static PrimOp> = f
            .plugin
            .primops()
            .iter()
            .copied()
            .find(|p| p.name.as_bytes() == name);
        match op {
            Some(op) => f.push_value(Value::PrimOp(op)),
            None => Err(f.fault(format!(
                "primop: the plugin registers no primop named '{}'",
                String::from_utf8_lossy(name)
            ))),
        }
    })
}

unsafe extern "C" fn warn(ctx: *mut abi::Ctx, msg: *const c_char, len: usize) {
    enter(ctx, (), |f| {
        let msg = bytes(f, msg, len, "warn")?;
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "warning: {}",
            String::from_utf8_lossy(msg)
        );
        Ok(())
    })
}

/// The host's function table (ABI 1.2; 1.2 added no functions).
pub(crate) static API: abi::Api = abi::Api {
    abi_major: abi::ABI_MAJOR,
    abi_minor: abi::ABI_MINOR,
    size: std::mem::size_of::<abi::Api>(),
    make_null,
    make_bool,
    make_int,
    make_float,
    make_string,
    make_path,
    make_list,
    make_attrs,
    type_of,
    force,
    get_bool,
    get_int,
    get_float,
    get_string,
    list_len,
    list_get,
    attrs_len,
    attrs_get,
    call,
    error,
    primop,
    attrs_entry,
    warn,
};
