//! The Ferrix native plugin ABI, the Rust mirror of `plugins/include/ferrix_plugin.h`.
//!
//! Both sides use these definitions: the loader in `ferrix-plugins` and the SDK in
//! `ferrix-plugin-sdk`. Everything here is `#[repr(C)]` and must stay in step with the
//! header. Versioning rules: a new minor version only appends to the end of [`Api`] and of
//! the plugin's info record ([`PluginInfo12`] extends [`PluginInfo`]), and the host reads an
//! appended field only from plugins that declare that minor; anything else is a new major
//! version.

#![no_std]

use core::ffi::{c_char, c_void};

/// The ABI version this crate describes (and the host implements).
pub const ABI_MAJOR: u32 = 1;
pub const ABI_MINOR: u32 = 2;

/// The name of the symbol every plugin exports: `extern "C" fn() -> *const PluginInfo`.
pub const ENTRY_SYMBOL: &str = "ferrix_plugin_entry";

/// Most arguments a primop may take.
pub const MAX_ARITY: u32 = 16;

/// An opaque value handle; [`NONE`] is "no value".
pub type ValueHandle = u64;
pub const NONE: ValueHandle = 0;

pub type Status = i32;
pub const OK: Status = 0;
pub const ERR: Status = -1;

pub type TypeCode = i32;
pub const TYPE_ERROR: TypeCode = -1;
pub const TYPE_NULL: TypeCode = 0;
pub const TYPE_BOOL: TypeCode = 1;
pub const TYPE_INT: TypeCode = 2;
pub const TYPE_FLOAT: TypeCode = 3;
pub const TYPE_STRING: TypeCode = 4;
pub const TYPE_PATH: TypeCode = 5;
pub const TYPE_ATTRS: TypeCode = 6;
pub const TYPE_LIST: TypeCode = 7;
pub const TYPE_FUNCTION: TypeCode = 8;
/// ABI 1.2: the type of a lazy argument of a strict entry point (it was not evaluated).
pub const TYPE_UNKNOWN: TypeCode = -2;

/// ABI 1.2: how a strict entry point takes an argument ([`PrimOpStrict::args`]).
pub type ArgKind = u8;
/// Unevaluated: only [`Arg::value`] is set.
pub const ARG_LAZY: ArgKind = 0;
/// Evaluated (weak head normal form): `type_` is set, and `as_` for scalars and strings.
pub const ARG_ANY: ArgKind = 1;
/// A Boolean in `as_.b` (type checked with Nix's message).
pub const ARG_BOOL: ArgKind = 2;
/// An integer in `as_.i`.
pub const ARG_INT: ArgKind = 3;
/// A float or an integer, as a float in `as_.f`.
pub const ARG_FLOAT: ArgKind = 4;
/// A string or a path: its bytes in `as_.s`.
pub const ARG_STRING: ArgKind = 5;
/// The largest valid [`ArgKind`].
pub const ARG_MAX: ArgKind = ARG_STRING;

/// ABI 1.2: the result type meaning "a value handle in `as_.value`".
pub const RESULT_VALUE: TypeCode = 64;

/// The context of one call (opaque; only its address is used).
#[repr(C)]
pub struct Ctx {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct AttrDef {
    pub name: *const c_char,
    pub name_len: usize,
    pub value: ValueHandle,
}

pub type PrimOpFn = unsafe extern "C" fn(
    api: *const Api,
    ctx: *mut Ctx,
    args: *const ValueHandle,
    nargs: usize,
    data: *mut c_void,
) -> ValueHandle;

/// Bytes given by pointer and length.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Bytes {
    pub ptr: *const c_char,
    pub len: usize,
}

/// The contents of an evaluated argument (`ferrix_arg`'s union).
#[repr(C)]
#[derive(Clone, Copy)]
pub union ArgContents {
    pub b: i32,
    pub i: i64,
    pub f: f64,
    pub s: Bytes,
}

/// An argument of a strict entry point (`ferrix_arg`, ABI 1.2).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Arg {
    /// The handle, as the ABI 1.0 entry point receives it.
    pub value: ValueHandle,
    /// Its type once evaluated, or [`TYPE_UNKNOWN`] for a lazy argument.
    pub type_: TypeCode,
    pub as_: ArgContents,
}

/// The contents of a result (`ferrix_result`'s union).
#[repr(C)]
#[derive(Clone, Copy)]
pub union ResultContents {
    pub b: i32,
    pub i: i64,
    pub f: f64,
    pub value: ValueHandle,
}

/// What a strict entry point returns (`ferrix_result`, ABI 1.2): a null, Boolean, integer
/// or float by content, or [`RESULT_VALUE`] and a handle.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PrimOpResult {
    pub type_: TypeCode,
    pub as_: ResultContents,
}

/// A strict entry point (ABI 1.2): arguments arrive evaluated as the primop's
/// [`PrimOpStrict::args`] ask, and a scalar result is returned by content, so the common
/// case needs no call back into Ferrix. Returns [`OK`] with `*result` set, or [`ERR`] after
/// an error.
pub type StrictFn = unsafe extern "C" fn(
    api: *const Api,
    ctx: *mut Ctx,
    args: *const Arg,
    nargs: usize,
    result: *mut PrimOpResult,
    data: *mut c_void,
) -> Status;

/// A primop's optional strict entry point (`ferrix_primop_strict`, ABI 1.2).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PrimOpStrict {
    /// `None`: the primop has only its ABI 1.0 entry point.
    pub func: Option<StrictFn>,
    /// How each argument is passed (`ARG_*`); entries past the arity are ignored.
    pub args: [ArgKind; MAX_ARITY as usize],
}

unsafe impl Sync for PrimOpStrict {}
unsafe impl Send for PrimOpStrict {}

pub type InitFn = unsafe extern "C" fn(api: *const Api, ctx: *mut Ctx) -> ValueHandle;

/// The functions the host offers (`struct ferrix_api`).
#[repr(C)]
pub struct Api {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub size: usize,

    // ABI 1.0
    pub make_null: unsafe extern "C" fn(*mut Ctx) -> ValueHandle,
    pub make_bool: unsafe extern "C" fn(*mut Ctx, i32) -> ValueHandle,
    pub make_int: unsafe extern "C" fn(*mut Ctx, i64) -> ValueHandle,
    pub make_float: unsafe extern "C" fn(*mut Ctx, f64) -> ValueHandle,
    pub make_string: unsafe extern "C" fn(*mut Ctx, *const c_char, usize) -> ValueHandle,
    pub make_path: unsafe extern "C" fn(*mut Ctx, *const c_char, usize) -> ValueHandle,
    pub make_list: unsafe extern "C" fn(*mut Ctx, *const ValueHandle, usize) -> ValueHandle,
    pub make_attrs: unsafe extern "C" fn(*mut Ctx, *const AttrDef, usize) -> ValueHandle,
    pub type_of: unsafe extern "C" fn(*mut Ctx, ValueHandle) -> TypeCode,
    pub force: unsafe extern "C" fn(*mut Ctx, ValueHandle) -> Status,
    pub get_bool: unsafe extern "C" fn(*mut Ctx, ValueHandle, *mut i32) -> Status,
    pub get_int: unsafe extern "C" fn(*mut Ctx, ValueHandle, *mut i64) -> Status,
    pub get_float: unsafe extern "C" fn(*mut Ctx, ValueHandle, *mut f64) -> Status,
    pub get_string:
        unsafe extern "C" fn(*mut Ctx, ValueHandle, *mut *const c_char, *mut usize) -> Status,
    pub list_len: unsafe extern "C" fn(*mut Ctx, ValueHandle, *mut usize) -> Status,
    pub list_get: unsafe extern "C" fn(*mut Ctx, ValueHandle, usize, *mut ValueHandle) -> Status,
    pub attrs_len: unsafe extern "C" fn(*mut Ctx, ValueHandle, *mut usize) -> Status,
    pub attrs_get: unsafe extern "C" fn(
        *mut Ctx,
        ValueHandle,
        *const c_char,
        usize,
        *mut ValueHandle,
    ) -> Status,
    pub call: unsafe extern "C" fn(
        *mut Ctx,
        ValueHandle,
        *const ValueHandle,
        usize,
        *mut ValueHandle,
    ) -> Status,
    pub error: unsafe extern "C" fn(*mut Ctx, *const c_char, usize) -> ValueHandle,
    pub primop: unsafe extern "C" fn(*mut Ctx, *const c_char, usize) -> ValueHandle,

    // ABI 1.1
    pub attrs_entry: unsafe extern "C" fn(
        *mut Ctx,
        ValueHandle,
        usize,
        *mut *const c_char,
        *mut usize,
        *mut ValueHandle,
    ) -> Status,
    pub warn: unsafe extern "C" fn(*mut Ctx, *const c_char, usize),
}

/// One primop a plugin registers (`ferrix_primop_def`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PrimOpDef {
    pub name: *const c_char,
    pub arity: u32,
    pub doc: *const c_char,
    pub func: Option<PrimOpFn>,
    pub data: *mut c_void,
}

// Definitions are immutable tables in the plugin's read-only data.
unsafe impl Sync for PrimOpDef {}
unsafe impl Send for PrimOpDef {}

/// What the entry symbol returns (`ferrix_plugin_info`).
#[repr(C)]
pub struct PluginInfo {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub name: *const c_char,
    pub primops: *const PrimOpDef,
    pub n_primops: usize,
}

unsafe impl Sync for PluginInfo {}
unsafe impl Send for PluginInfo {}

/// The info record of a plugin that declares ABI 1.2 or later: [`PluginInfo`] and, after
/// it, the strict entry points.
#[repr(C)]
pub struct PluginInfo12 {
    pub base: PluginInfo,
    /// Null, or `base.n_primops` entries, one for each primop in order.
    pub strict: *const PrimOpStrict,
}

unsafe impl Sync for PluginInfo12 {}
unsafe impl Send for PluginInfo12 {}

/// The type of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginInfo;

/// The size of [`Api`] up to and including the functions of ABI `1.minor`.
pub const fn api_size_for_minor(minor: u32) -> usize {
    let base = 8 + core::mem::size_of::<usize>();
    let ptr = core::mem::size_of::<usize>();
    let n = match minor {
        0 => 21,
        _ => 23,
    };
    base + n * ptr
}

const _: () = assert!(api_size_for_minor(ABI_MINOR) == core::mem::size_of::<Api>());
