//! A safe SDK for Ferrix plugins written in Rust.
//!
//! A plugin is a `cdylib` crate. Its primops are ordinary Rust functions that take a
//! [`Ctx`] and their arguments, converted with [`FromNix`], and return a [`Result`] of
//! anything [`IntoNix`]; the [`plugin!`] macro registers them and exports the entry
//! symbol. The plugin's own code needs no `unsafe`:
//!
//! ```ignore
//! use ferrix_plugin_sdk::{plugin, Ctx, Result};
//!
//! fn repeat(_ctx: &Ctx, s: &str, n: i64) -> Result<String> {
//!     Ok(s.repeat(n.max(0) as usize))
//! }
//!
//! plugin! {
//!     name: "demo",
//!     primops: [
//!         /// Repeats a string *n* times.
//!         "repeat" => repeat(s, n),
//!     ],
//! }
//! ```
//!
//! Panics in a primop are caught here and reported as Nix errors. [`Value`]s are handles
//! valid only during the call that produced them; their lifetime `'c` makes the compiler
//! keep them inside it (and Ferrix checks anyway).

use ferrix_plugin_abi as abi;
use std::collections::BTreeMap;
use std::ffi::c_char;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

pub use ferrix_plugin_abi;

/// The context of one call: the door to the evaluator.
pub struct Ctx<'c> {
    api: &'c abi::Api,
    raw: *mut abi::Ctx,
}

/// A Nix value, valid during the current call.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value<'c> {
    handle: abi::ValueHandle,
    _call: PhantomData<&'c ()>,
}

impl Value<'_> {
    /// The raw handle (for debugging).
    pub fn handle(self) -> u64 {
        self.handle
    }
}

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Null,
    Bool,
    Int,
    Float,
    String,
    Path,
    Attrs,
    List,
    Function,
}

/// An error: either one Ferrix already reported (a failed evaluation, a type mismatch),
/// or a message of the plugin's own.
#[derive(Debug)]
pub struct Error(Option<String>);

impl Error {
    /// A plugin error with this message.
    pub fn new(msg: impl Into<String>) -> Error {
        Error(Some(msg.into()))
    }

    /// An error Ferrix has recorded already.
    fn host() -> Error {
        Error(None)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error::new(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Returns early with a plugin error: `bail!("bad version '{v}'")`.
#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => {
        return ::core::result::Result::Err($crate::Error::new(format!($($t)*)))
    };
}

fn len_ptr(s: &[u8]) -> (*const c_char, usize) {
    (s.as_ptr() as *const c_char, s.len())
}

impl<'c> Ctx<'c> {
    fn value(&self, h: abi::ValueHandle) -> Result<Value<'c>> {
        if h == abi::NONE {
            Err(Error::host())
        } else {
            Ok(Value {
                handle: h,
                _call: PhantomData,
            })
        }
    }

    fn status(&self, s: abi::Status) -> Result<()> {
        if s == abi::OK {
            Ok(())
        } else {
            Err(Error::host())
        }
    }

    /// Raises the error in Ferrix (used when a primop returns `Err`).
    fn raise(&self, e: Error) {
        if let Some(msg) = e.0 {
            let (p, n) = len_ptr(msg.as_bytes());
            // SAFETY: the context is the current call's; the message outlives the call.
            unsafe { (self.api.error)(self.raw, p, n) };
        }
    }

    pub fn null(&self) -> Result<Value<'c>> {
        // SAFETY (all calls below): `raw` is this call's context and the API is the host's;
        // pointers passed are valid for the lengths given.
        self.value(unsafe { (self.api.make_null)(self.raw) })
    }

    pub fn bool(&self, b: bool) -> Result<Value<'c>> {
        self.value(unsafe { (self.api.make_bool)(self.raw, b as i32) })
    }

    pub fn int(&self, n: i64) -> Result<Value<'c>> {
        self.value(unsafe { (self.api.make_int)(self.raw, n) })
    }

    pub fn float(&self, x: f64) -> Result<Value<'c>> {
        self.value(unsafe { (self.api.make_float)(self.raw, x) })
    }

    pub fn string(&self, s: impl AsRef<[u8]>) -> Result<Value<'c>> {
        let (p, n) = len_ptr(s.as_ref());
        self.value(unsafe { (self.api.make_string)(self.raw, p, n) })
    }

    /// An absolute path value.
    pub fn path(&self, p: impl AsRef<std::path::Path>) -> Result<Value<'c>> {
        use std::os::unix::ffi::OsStrExt as _;
        let (p, n) = len_ptr(p.as_ref().as_os_str().as_bytes());
        self.value(unsafe { (self.api.make_path)(self.raw, p, n) })
    }

    pub fn list(&self, items: impl IntoIterator<Item = Value<'c>>) -> Result<Value<'c>> {
        let hs: Vec<abi::ValueHandle> = items.into_iter().map(|v| v.handle).collect();
        self.value(unsafe { (self.api.make_list)(self.raw, hs.as_ptr(), hs.len()) })
    }

    /// An attribute set; names must be distinct.
    pub fn attrs<S: AsRef<[u8]>>(
        &self,
        attrs: impl IntoIterator<Item = (S, Value<'c>)>,
    ) -> Result<Value<'c>> {
        let attrs: Vec<(S, Value<'c>)> = attrs.into_iter().collect();
        let defs: Vec<abi::AttrDef> = attrs
            .iter()
            .map(|(n, v)| {
                let (p, len) = len_ptr(n.as_ref());
                abi::AttrDef {
                    name: p,
                    name_len: len,
                    value: v.handle,
                }
            })
            .collect();
        self.value(unsafe { (self.api.make_attrs)(self.raw, defs.as_ptr(), defs.len()) })
    }

    /// Converts a Rust value.
    pub fn make<T: IntoNix<'c>>(&self, t: T) -> Result<Value<'c>> {
        t.into_nix(self)
    }

    /// Evaluates a value and returns its type.
    pub fn type_of(&self, v: Value<'c>) -> Result<Type> {
        type_of_code(unsafe { (self.api.type_of)(self.raw, v.handle) }).ok_or_else(Error::host)
    }

    /// Evaluates a value (to weak head normal form).
    pub fn force(&self, v: Value<'c>) -> Result<()> {
        self.status(unsafe { (self.api.force)(self.raw, v.handle) })
    }

    pub fn get_bool(&self, v: Value<'c>) -> Result<bool> {
        let mut b = 0;
        self.status(unsafe { (self.api.get_bool)(self.raw, v.handle, &mut b) })?;
        Ok(b != 0)
    }

    pub fn get_int(&self, v: Value<'c>) -> Result<i64> {
        let mut n = 0;
        self.status(unsafe { (self.api.get_int)(self.raw, v.handle, &mut n) })?;
        Ok(n)
    }

    pub fn get_float(&self, v: Value<'c>) -> Result<f64> {
        let mut x = 0.0;
        self.status(unsafe { (self.api.get_float)(self.raw, v.handle, &mut x) })?;
        Ok(x)
    }

    /// The bytes of a string or path.
    pub fn get_bytes(&self, v: Value<'c>) -> Result<&'c [u8]> {
        let mut p: *const c_char = std::ptr::null();
        let mut n = 0usize;
        self.status(unsafe { (self.api.get_string)(self.raw, v.handle, &mut p, &mut n) })?;
        if n == 0 || p.is_null() {
            return Ok(&[]);
        }
        // SAFETY: the host guarantees `n` bytes at `p` until the call returns ('c).
        Ok(unsafe { std::slice::from_raw_parts(p as *const u8, n) })
    }

    /// A string or path as UTF-8 text.
    pub fn get_str(&self, v: Value<'c>) -> Result<&'c str> {
        std::str::from_utf8(self.get_bytes(v)?)
            .map_err(|_| Error::new("the string is not valid UTF-8"))
    }

    pub fn list_len(&self, v: Value<'c>) -> Result<usize> {
        let mut n = 0usize;
        self.status(unsafe { (self.api.list_len)(self.raw, v.handle, &mut n) })?;
        Ok(n)
    }

    pub fn list_get(&self, v: Value<'c>, i: usize) -> Result<Value<'c>> {
        let mut h = abi::NONE;
        self.status(unsafe { (self.api.list_get)(self.raw, v.handle, i, &mut h) })?;
        self.value(h)
    }

    /// The elements of a list (unevaluated).
    pub fn list_items(&self, v: Value<'c>) -> Result<Vec<Value<'c>>> {
        let n = self.list_len(v)?;
        (0..n).map(|i| self.list_get(v, i)).collect()
    }

    pub fn attrs_len(&self, v: Value<'c>) -> Result<usize> {
        let mut n = 0usize;
        self.status(unsafe { (self.api.attrs_len)(self.raw, v.handle, &mut n) })?;
        Ok(n)
    }

    /// An attribute of a set, if present (unevaluated).
    pub fn attr(&self, v: Value<'c>, name: &str) -> Result<Option<Value<'c>>> {
        let mut h = abi::NONE;
        let (p, n) = len_ptr(name.as_bytes());
        self.status(unsafe { (self.api.attrs_get)(self.raw, v.handle, p, n, &mut h) })?;
        Ok((h != abi::NONE).then_some(Value {
            handle: h,
            _call: PhantomData,
        }))
    }

    /// All attributes of a set, sorted by name (values unevaluated).
    pub fn attr_entries(&self, v: Value<'c>) -> Result<Vec<(&'c [u8], Value<'c>)>> {
        let n = self.attrs_len(v)?;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut p: *const c_char = std::ptr::null();
            let mut len = 0usize;
            let mut h = abi::NONE;
            self.status(unsafe {
                (self.api.attrs_entry)(self.raw, v.handle, i, &mut p, &mut len, &mut h)
            })?;
            let name: &'c [u8] = if len == 0 || p.is_null() {
                &[]
            } else {
                // SAFETY: valid until the call returns.
                unsafe { std::slice::from_raw_parts(p as *const u8, len) }
            };
            out.push((name, self.value(h)?));
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        Ok(out)
    }

    /// Calls a function with arguments; the result is evaluated.
    pub fn call(&self, f: Value<'c>, args: &[Value<'c>]) -> Result<Value<'c>> {
        let hs: Vec<abi::ValueHandle> = args.iter().map(|v| v.handle).collect();
        let mut h = abi::NONE;
        self.status(unsafe { (self.api.call)(self.raw, f.handle, hs.as_ptr(), hs.len(), &mut h) })?;
        self.value(h)
    }

    /// This plugin's primop `name` as a function value (for `importNative`).
    pub fn primop(&self, name: &str) -> Result<Value<'c>> {
        let (p, n) = len_ptr(name.as_bytes());
        self.value(unsafe { (self.api.primop)(self.raw, p, n) })
    }

    /// Prints `warning: MSG` on standard error.
    pub fn warn(&self, msg: &str) {
        let (p, n) = len_ptr(msg.as_bytes());
        unsafe { (self.api.warn)(self.raw, p, n) }
    }
}

/// Conversion of an argument from Nix.
pub trait FromNix<'c>: Sized {
    /// How Ferrix passes this argument to the primop's strict entry point (an `ARG_*` of
    /// [`ferrix_plugin_abi`]): evaluated and type-checked before the call, with its contents
    /// given directly. [`abi::ARG_LAZY`] (the default) passes the handle to
    /// [`FromNix::from_nix`].
    const ARG: abi::ArgKind = abi::ARG_LAZY;
    /// Whether [`FromNix::from_nix`] evaluates anything. Ferrix evaluates the arguments after
    /// such a one lazily, so that errors come in argument order as without strictness.
    const FORCES: bool = true;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self>;

    /// Converts an argument Ferrix evaluated as [`FromNix::ARG`] asks.
    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        Self::from_nix(ctx, a.value())
    }
}

/// Conversion of a result to Nix.
pub trait IntoNix<'c>: Sized {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>>;

    /// The result for a strict entry point: scalars are returned by content (no call into
    /// Ferrix), anything else as a value.
    fn into_ret(self, ctx: &Ctx<'c>) -> Result<Ret<'c>> {
        self.into_nix(ctx).map(Ret::Value)
    }
}

/// A primop's result as a strict entry point returns it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ret<'c> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Value(Value<'c>),
}

/// An argument as Ferrix passed it to a strict entry point: its handle and, when Ferrix
/// evaluated it, its type and contents.
#[derive(Clone, Copy)]
pub struct StrictArg<'c> {
    arg: &'c abi::Arg,
    kind: abi::ArgKind,
}

impl<'c> StrictArg<'c> {
    /// The argument as a (lazy) value.
    #[inline]
    pub fn value(self) -> Value<'c> {
        Value {
            handle: self.arg.value,
            _call: PhantomData,
        }
    }

    /// Its type, if Ferrix evaluated it.
    pub fn type_of(self) -> Option<Type> {
        type_of_code(self.arg.type_)
    }

    // SAFETY (the union reads below): Ferrix writes the field that the type and the kind
    // name (the host's `strict_arg`); each read checks both first.

    #[inline]
    pub fn int(self) -> Option<i64> {
        if self.arg.type_ == abi::TYPE_INT && self.kind != abi::ARG_FLOAT {
            Some(unsafe { self.arg.as_.i })
        } else {
            None
        }
    }

    /// A float, or an integer where a float is asked for.
    #[inline]
    pub fn float(self) -> Option<f64> {
        match self.arg.type_ {
            abi::TYPE_FLOAT => Some(unsafe { self.arg.as_.f }),
            abi::TYPE_INT if self.kind == abi::ARG_FLOAT => Some(unsafe { self.arg.as_.f }),
            _ => None,
        }
    }

    #[inline]
    pub fn bool(self) -> Option<bool> {
        if self.arg.type_ == abi::TYPE_BOOL {
            Some(unsafe { self.arg.as_.b } != 0)
        } else {
            None
        }
    }

    /// The bytes of a string or path (valid until the call returns).
    #[inline]
    pub fn bytes(self) -> Option<&'c [u8]> {
        if self.arg.type_ != abi::TYPE_STRING && self.arg.type_ != abi::TYPE_PATH {
            return None;
        }
        let s = unsafe { self.arg.as_.s };
        Some(if s.len == 0 || s.ptr.is_null() {
            &[]
        } else {
            // SAFETY: Ferrix passes `len` bytes valid until the call returns ('c).
            unsafe { std::slice::from_raw_parts(s.ptr as *const u8, s.len) }
        })
    }
}

fn type_of_code(t: abi::TypeCode) -> Option<Type> {
    Some(match t {
        abi::TYPE_NULL => Type::Null,
        abi::TYPE_BOOL => Type::Bool,
        abi::TYPE_INT => Type::Int,
        abi::TYPE_FLOAT => Type::Float,
        abi::TYPE_STRING => Type::String,
        abi::TYPE_PATH => Type::Path,
        abi::TYPE_ATTRS => Type::Attrs,
        abi::TYPE_LIST => Type::List,
        abi::TYPE_FUNCTION => Type::Function,
        _ => return None,
    })
}

impl<'c> FromNix<'c> for Value<'c> {
    const FORCES: bool = false;

    fn from_nix(_: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        Ok(v)
    }
}

impl<'c> FromNix<'c> for i64 {
    const ARG: abi::ArgKind = abi::ARG_INT;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.get_int(v)
    }

    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        a.int().map_or_else(|| ctx.get_int(a.value()), Ok)
    }
}

impl<'c> FromNix<'c> for f64 {
    const ARG: abi::ArgKind = abi::ARG_FLOAT;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.get_float(v)
    }

    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        a.float().map_or_else(|| ctx.get_float(a.value()), Ok)
    }
}

impl<'c> FromNix<'c> for bool {
    const ARG: abi::ArgKind = abi::ARG_BOOL;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.get_bool(v)
    }

    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        a.bool().map_or_else(|| ctx.get_bool(a.value()), Ok)
    }
}

/// The bytes of a string argument, from its contents when Ferrix passed them.
#[inline]
fn arg_bytes<'c>(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<&'c [u8]> {
    a.bytes().map_or_else(|| ctx.get_bytes(a.value()), Ok)
}

fn utf8(b: &[u8]) -> Result<&str> {
    std::str::from_utf8(b).map_err(|_| Error::new("the string is not valid UTF-8"))
}

impl<'c> FromNix<'c> for &'c str {
    const ARG: abi::ArgKind = abi::ARG_STRING;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.get_str(v)
    }

    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        utf8(arg_bytes(ctx, a)?)
    }
}

impl<'c> FromNix<'c> for &'c [u8] {
    const ARG: abi::ArgKind = abi::ARG_STRING;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.get_bytes(v)
    }

    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        arg_bytes(ctx, a)
    }
}

impl<'c> FromNix<'c> for String {
    const ARG: abi::ArgKind = abi::ARG_STRING;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.get_str(v).map(str::to_owned)
    }

    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        utf8(arg_bytes(ctx, a)?).map(str::to_owned)
    }
}

impl<'c> FromNix<'c> for PathBuf {
    const ARG: abi::ArgKind = abi::ARG_STRING;

    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        Ok(path_of(ctx.get_bytes(v)?))
    }

    #[inline]
    fn from_arg(ctx: &Ctx<'c>, a: StrictArg<'c>) -> Result<Self> {
        Ok(path_of(arg_bytes(ctx, a)?))
    }
}

fn path_of(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

impl<'c, T: FromNix<'c>> FromNix<'c> for Vec<T> {
    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.list_items(v)?
            .into_iter()
            .map(|x| T::from_nix(ctx, x))
            .collect()
    }
}

/// `null` is `None`.
impl<'c, T: FromNix<'c>> FromNix<'c> for Option<T> {
    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        if ctx.type_of(v)? == Type::Null {
            Ok(None)
        } else {
            T::from_nix(ctx, v).map(Some)
        }
    }
}

impl<'c, T: FromNix<'c>> FromNix<'c> for BTreeMap<String, T> {
    fn from_nix(ctx: &Ctx<'c>, v: Value<'c>) -> Result<Self> {
        ctx.attr_entries(v)?
            .into_iter()
            .map(|(k, x)| {
                Ok((
                    String::from_utf8_lossy(k).into_owned(),
                    T::from_nix(ctx, x)?,
                ))
            })
            .collect()
    }
}

impl<'c> IntoNix<'c> for Value<'c> {
    fn into_nix(self, _: &Ctx<'c>) -> Result<Value<'c>> {
        Ok(self)
    }
}

impl<'c> IntoNix<'c> for () {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        ctx.null()
    }

    fn into_ret(self, _: &Ctx<'c>) -> Result<Ret<'c>> {
        Ok(Ret::Null)
    }
}

impl<'c> IntoNix<'c> for bool {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        ctx.bool(self)
    }

    fn into_ret(self, _: &Ctx<'c>) -> Result<Ret<'c>> {
        Ok(Ret::Bool(self))
    }
}

macro_rules! int_into_nix {
    ($($t:ty),*) => {$(
        impl<'c> IntoNix<'c> for $t {
            fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
                ctx.int(self.into_i64()?)
            }

            fn into_ret(self, _: &Ctx<'c>) -> Result<Ret<'c>> {
                self.into_i64().map(Ret::Int)
            }
        }

        impl IntoI64 for $t {
            fn into_i64(self) -> Result<i64> {
                i64::try_from(self)
                    .map_err(|_| Error::new(format!("integer {self} is too large for Nix")))
            }
        }
    )*};
}

trait IntoI64 {
    fn into_i64(self) -> Result<i64>;
}

int_into_nix!(i64, i32, u32, u64, usize, i8, u8, i16, u16);

impl<'c> IntoNix<'c> for f64 {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        ctx.float(self)
    }

    fn into_ret(self, _: &Ctx<'c>) -> Result<Ret<'c>> {
        Ok(Ret::Float(self))
    }
}

impl<'c> IntoNix<'c> for String {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        ctx.string(self)
    }
}

impl<'c> IntoNix<'c> for &str {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        ctx.string(self)
    }
}

impl<'c> IntoNix<'c> for PathBuf {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        ctx.path(self)
    }
}

impl<'c, T: IntoNix<'c>> IntoNix<'c> for Vec<T> {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        let items = self
            .into_iter()
            .map(|x| x.into_nix(ctx))
            .collect::<Result<Vec<_>>>()?;
        ctx.list(items)
    }
}

/// `None` is `null`.
impl<'c, T: IntoNix<'c>> IntoNix<'c> for Option<T> {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        match self {
            Some(x) => x.into_nix(ctx),
            None => ctx.null(),
        }
    }

    fn into_ret(self, ctx: &Ctx<'c>) -> Result<Ret<'c>> {
        match self {
            Some(x) => x.into_ret(ctx),
            None => Ok(Ret::Null),
        }
    }
}

impl<'c, K: AsRef<str>, T: IntoNix<'c>> IntoNix<'c> for BTreeMap<K, T> {
    fn into_nix(self, ctx: &Ctx<'c>) -> Result<Value<'c>> {
        let mut attrs = Vec::with_capacity(self.len());
        for (k, x) in self {
            attrs.push((k.as_ref().as_bytes().to_vec(), x.into_nix(ctx)?));
        }
        ctx.attrs(attrs)
    }
}

/// Runs `body` with panics caught and errors raised in Ferrix; `None` after an error.
#[inline]
fn guarded<'c, X>(ctx: &Ctx<'c>, body: impl FnOnce() -> Result<X>) -> Option<X> {
    install_panic_hook();
    IN_DISPATCH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(body));
    IN_DISPATCH.with(|d| d.set(d.get() - 1));
    match r {
        Ok(Ok(x)) => Some(x),
        Ok(Err(e)) => {
            ctx.raise(e);
            None
        }
        Err(p) => {
            let msg = if let Some(s) = p.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = p.downcast_ref::<String>() {
                s.clone()
            } else {
                "(no message)".to_string()
            };
            let at = PANIC_AT.with(|p| p.take());
            ctx.raise(Error::new(match at {
                Some(at) => format!("the plugin panicked at {at}: {msg}"),
                None => format!("the plugin panicked: {msg}"),
            }));
            None
        }
    }
}

/// Runs a primop body for the ABI: builds the context, catches panics, turns errors into
/// Ferrix errors. Used by [`plugin!`]; not part of the public API.
///
/// It takes raw pointers without being `unsafe` so that the code [`plugin!`] generates in
/// the plugin's crate contains no `unsafe`; its only callers are those generated functions,
/// which pass on exactly what Ferrix gave them.
#[doc(hidden)]
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn __dispatch(
    api: *const abi::Api,
    ctx: *mut abi::Ctx,
    args: *const abi::ValueHandle,
    nargs: usize,
    body: for<'c> fn(&Ctx<'c>, &[Value<'c>]) -> Result<Value<'c>>,
) -> abi::ValueHandle {
    if api.is_null() {
        return abi::NONE;
    }
    // SAFETY: Ferrix passes its API table, which lives as long as the process.
    let api: &abi::Api = unsafe { &*api };
    let ctx = Ctx { api, raw: ctx };
    let args: &[Value<'_>] = if nargs == 0 || args.is_null() {
        &[]
    } else {
        // SAFETY: `Value` is a transparent wrapper of a handle; Ferrix passes `nargs` of them.
        unsafe { std::slice::from_raw_parts(args as *const Value<'_>, nargs) }
    };
    guarded(&ctx, || body(&ctx, args)).map_or(abi::NONE, |v| v.handle)
}

/// The arguments of a strict entry point, in order.
#[doc(hidden)]
pub struct StrictArgs<'c> {
    args: &'c [abi::Arg],
    kinds: &'static [abi::ArgKind; abi::MAX_ARITY as usize],
    next: usize,
}

/// Converts the next argument of a strict entry point (used by [`plugin!`]): from its
/// contents if Ferrix evaluated it, else through its handle.
#[doc(hidden)]
#[inline]
pub fn __strict_arg<'c, T: FromNix<'c>>(ctx: &Ctx<'c>, args: &mut StrictArgs<'c>) -> Result<T> {
    let i = args.next;
    args.next += 1;
    let Some(arg) = args.args.get(i) else {
        return Err(Error::new("missing argument"));
    };
    let a = StrictArg {
        arg,
        kind: args.kinds[i],
    };
    if a.kind == abi::ARG_LAZY {
        T::from_nix(ctx, a.value())
    } else {
        T::from_arg(ctx, a)
    }
}

/// [`__dispatch`] for a strict entry point (ABI 1.2).
///
/// Generic over the body so that each primop's entry point is one function, without an
/// indirect call.
#[doc(hidden)]
#[allow(clippy::not_unsafe_ptr_arg_deref)]
#[inline]
pub fn __dispatch_strict<F>(
    api: *const abi::Api,
    ctx: *mut abi::Ctx,
    args: *const abi::Arg,
    nargs: usize,
    result: *mut abi::PrimOpResult,
    kinds: &'static [abi::ArgKind; abi::MAX_ARITY as usize],
    body: F,
) -> abi::Status
where
    F: for<'c> FnOnce(&Ctx<'c>, &mut StrictArgs<'c>) -> Result<Ret<'c>>,
{
    if api.is_null() || result.is_null() {
        return abi::ERR;
    }
    // SAFETY: as in `__dispatch`.
    let api: &abi::Api = unsafe { &*api };
    let ctx = Ctx { api, raw: ctx };
    let args: &[abi::Arg] = if nargs == 0 || args.is_null() {
        &[]
    } else {
        // SAFETY: Ferrix passes `nargs` arguments, valid until the call returns.
        unsafe { std::slice::from_raw_parts(args, nargs.min(kinds.len())) }
    };
    let mut args = StrictArgs {
        args,
        kinds,
        next: 0,
    };
    let Some(r) = guarded(&ctx, || body(&ctx, &mut args)) else {
        return abi::ERR;
    };
    let (type_, as_) = match r {
        Ret::Null => (abi::TYPE_NULL, abi::ResultContents { i: 0 }),
        Ret::Bool(b) => (abi::TYPE_BOOL, abi::ResultContents { b: b as i32 }),
        Ret::Int(i) => (abi::TYPE_INT, abi::ResultContents { i }),
        Ret::Float(f) => (abi::TYPE_FLOAT, abi::ResultContents { f }),
        Ret::Value(v) => (abi::RESULT_VALUE, abi::ResultContents { value: v.handle }),
    };
    // SAFETY: Ferrix passes a writable result.
    unsafe { result.write(abi::PrimOpResult { type_, as_ }) };
    abi::OK
}

/// A primop function's signature, for the argument kinds of its strict entry point.
#[doc(hidden)]
pub trait Signature {
    const KINDS: [abi::ArgKind; abi::MAX_ARITY as usize];
}

/// The kinds of the arguments `(ARG, FORCES)`: each as its type asks, until one whose
/// conversion evaluates something itself; the rest stay lazy so that evaluation (and so
/// any error) keeps the order of the arguments.
#[doc(hidden)]
pub const fn __kinds(args: &[(abi::ArgKind, bool)]) -> [abi::ArgKind; abi::MAX_ARITY as usize] {
    let mut out = [abi::ARG_LAZY; abi::MAX_ARITY as usize];
    let mut i = 0;
    while i < args.len() && i < out.len() {
        let (kind, forces) = args[i];
        out[i] = kind;
        if kind == abi::ARG_LAZY && forces {
            break;
        }
        i += 1;
    }
    out
}

/// The argument kinds of a primop function (used by [`plugin!`]).
#[doc(hidden)]
pub const fn __signature<F: Signature>(_: &F) -> [abi::ArgKind; abi::MAX_ARITY as usize] {
    F::KINDS
}

macro_rules! signatures {
    ($($a:ident)+) => {
        impl<'c, $($a: FromNix<'c>,)+ R> Signature for fn(&Ctx<'c>, $($a),+) -> Result<R> {
            const KINDS: [abi::ArgKind; abi::MAX_ARITY as usize] =
                __kinds(&[$( (<$a as FromNix<'c>>::ARG, <$a as FromNix<'c>>::FORCES) ),+]);
        }
    };
}

signatures!(A1);
signatures!(A1 A2);
signatures!(A1 A2 A3);
signatures!(A1 A2 A3 A4);
signatures!(A1 A2 A3 A4 A5);
signatures!(A1 A2 A3 A4 A5 A6);
signatures!(A1 A2 A3 A4 A5 A6 A7);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14 A15);
signatures!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14 A15 A16);

/// `_` for each argument (used by [`plugin!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __infer {
    ($x:ident) => {
        _
    };
}

thread_local! {
    /// How many primop calls of this plugin are running on this thread.
    static IN_DISPATCH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Where the last caught panic happened.
    static PANIC_AT: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Inside primop calls a panic is reported as a Nix error (with its location) rather than
/// printed; elsewhere the previous hook runs. A `cdylib` has its own copy of the standard
/// library, so this hook is the plugin's alone.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_DISPATCH.with(|d| d.get()) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                PANIC_AT.with(|p| p.set(at));
            } else {
                prev(info);
            }
        }));
    });
}

/// Converts argument `i` for a primop (used by [`plugin!`]).
#[doc(hidden)]
pub fn __arg<'c, T: FromNix<'c>>(
    ctx: &Ctx<'c>,
    args: &mut std::slice::Iter<'_, Value<'c>>,
) -> Result<T> {
    match args.next() {
        Some(&v) => T::from_nix(ctx, v),
        None => Err(Error::new("missing argument")),
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __count {
    () => { 0u32 };
    ($x:ident $($rest:ident)*) => { 1u32 + $crate::__count!($($rest)*) };
}

/// Declares a plugin: its name, its primops and, optionally, `importNative`
/// initialisation functions.
///
/// ```ignore
/// plugin! {
///     name: "textutil",
///     primops: [
///         /// Documentation, shown by the REPL's `:doc`.
///         "nixName" => rust_function(arg1, arg2),
///     ],
///     init: [
///         // `builtins.importNative ./lib.so "initialize"` returns what `make_value` builds.
///         initialize => make_value,
///     ],
/// }
/// ```
///
/// Each `rust_function` is `fn(&Ctx, A1, A2, …) -> Result<R>` with `Ai: FromNix` and
/// `R: IntoNix`, defined in the module where the macro is used. Each init function is
/// `fn(&Ctx) -> Result<R>`.
#[macro_export]
macro_rules! plugin {
    (
        name: $name:literal,
        primops: [ $( $(#[doc = $doc:literal])* $nix:literal => $f:ident ( $($arg:ident),* $(,)? ) ),* $(,)? ]
        $(, init: [ $( $sym:ident => $init:ident ),* $(,)? ] )?
        $(,)?
    ) => {
        #[allow(non_snake_case, unused_imports, clippy::all)]
        mod __ferrix_plugin {
            $(
                pub mod $f {
                    pub extern "C" fn call(
                        api: *const $crate::ferrix_plugin_abi::Api,
                        ctx: *mut $crate::ferrix_plugin_abi::Ctx,
                        args: *const $crate::ferrix_plugin_abi::ValueHandle,
                        nargs: usize,
                        _data: *mut ::core::ffi::c_void,
                    ) -> $crate::ferrix_plugin_abi::ValueHandle {
                        fn body<'c>(
                            ctx: &$crate::Ctx<'c>,
                            args: &[$crate::Value<'c>],
                        ) -> $crate::Result<$crate::Value<'c>> {
                            let mut _it = args.iter();
                            let r = super::super::$f(
                                ctx,
                                $( { let $arg = $crate::__arg(ctx, &mut _it)?; $arg } ),*
                            )?;
                            $crate::IntoNix::into_nix(r, ctx)
                        }
                        $crate::__dispatch(api, ctx, args, nargs, body)
                    }
                    /// The strict entry point (ABI 1.2): the same, with scalar and string
                    /// arguments evaluated by Ferrix and scalar results returned by content.
                    pub extern "C" fn strict(
                        api: *const $crate::ferrix_plugin_abi::Api,
                        ctx: *mut $crate::ferrix_plugin_abi::Ctx,
                        args: *const $crate::ferrix_plugin_abi::Arg,
                        nargs: usize,
                        result: *mut $crate::ferrix_plugin_abi::PrimOpResult,
                        _data: *mut ::core::ffi::c_void,
                    ) -> $crate::ferrix_plugin_abi::Status {
                        fn body<'c>(
                            ctx: &$crate::Ctx<'c>,
                            _args: &mut $crate::StrictArgs<'c>,
                        ) -> $crate::Result<$crate::Ret<'c>> {
                            let r = super::super::$f(
                                ctx,
                                $( { let $arg = $crate::__strict_arg(ctx, _args)?; $arg } ),*
                            )?;
                            $crate::IntoNix::into_ret(r, ctx)
                        }
                        $crate::__dispatch_strict(api, ctx, args, nargs, result, &KINDS, body)
                    }
                    pub static KINDS: [$crate::ferrix_plugin_abi::ArgKind;
                        $crate::ferrix_plugin_abi::MAX_ARITY as usize] = $crate::__signature(
                        &(super::super::$f
                            as fn(&$crate::Ctx<'static>, $($crate::__infer!($arg)),*) -> _),
                    );
                    pub const ARITY: u32 = $crate::__count!($($arg)*);
                    const _: () = assert!(
                        ARITY >= 1 && ARITY <= $crate::ferrix_plugin_abi::MAX_ARITY,
                        "a primop takes 1 to 16 arguments"
                    );
                }
            )*

            static PRIMOPS: &[$crate::ferrix_plugin_abi::PrimOpDef] = &[
                $( $crate::ferrix_plugin_abi::PrimOpDef {
                    name: concat!($nix, "\0").as_ptr() as *const ::core::ffi::c_char,
                    arity: $f::ARITY,
                    doc: concat!($($doc, "\n",)* "\0").as_ptr() as *const ::core::ffi::c_char,
                    func: Some($f::call),
                    data: ::core::ptr::null_mut(),
                } ),*
            ];

            static STRICT: &[$crate::ferrix_plugin_abi::PrimOpStrict] = &[
                $( $crate::ferrix_plugin_abi::PrimOpStrict {
                    func: Some($f::strict),
                    args: $f::KINDS,
                } ),*
            ];

            static INFO: $crate::PluginInfo = $crate::PluginInfo::new(
                concat!($name, "\0"),
                PRIMOPS,
                STRICT,
            );

            #[no_mangle]
            pub extern "C" fn ferrix_plugin_entry() -> *const $crate::ferrix_plugin_abi::PluginInfo {
                INFO.raw()
            }

            $( $(
                #[no_mangle]
                pub extern "C" fn $sym(
                    api: *const $crate::ferrix_plugin_abi::Api,
                    ctx: *mut $crate::ferrix_plugin_abi::Ctx,
                ) -> $crate::ferrix_plugin_abi::ValueHandle {
                    fn body<'c>(
                        ctx: &$crate::Ctx<'c>,
                        _args: &[$crate::Value<'c>],
                    ) -> $crate::Result<$crate::Value<'c>> {
                        let r = super::$init(ctx)?;
                        $crate::IntoNix::into_nix(r, ctx)
                    }
                    $crate::__dispatch(api, ctx, ::core::ptr::null(), 0, body)
                }
            )* )?
        }
    };
}

/// A plugin's description for the entry symbol, built by [`plugin!`].
#[doc(hidden)]
pub struct PluginInfo(abi::PluginInfo12);

impl PluginInfo {
    /// `name` must end with a NUL byte; `strict` has one entry per primop.
    pub const fn new(
        name: &'static str,
        primops: &'static [abi::PrimOpDef],
        strict: &'static [abi::PrimOpStrict],
    ) -> PluginInfo {
        let bytes = name.as_bytes();
        assert!(!bytes.is_empty() && bytes[bytes.len() - 1] == 0);
        assert!(strict.len() == primops.len());
        PluginInfo(abi::PluginInfo12 {
            base: abi::PluginInfo {
                abi_major: abi::ABI_MAJOR,
                abi_minor: abi::ABI_MINOR,
                name: name.as_ptr() as *const c_char,
                primops: primops.as_ptr(),
                n_primops: primops.len(),
            },
            strict: strict.as_ptr(),
        })
    }

    pub fn raw(&'static self) -> *const abi::PluginInfo {
        &self.0.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(_: &Ctx, _: i64, _: f64, _: bool, _: &str) -> Result<i64> {
        Ok(0)
    }

    fn lazy_then_int<'c>(_: &Ctx<'c>, _: Value<'c>, _: i64) -> Result<()> {
        Ok(())
    }

    fn list_then_int(_: &Ctx, _: Vec<i64>, _: i64, _: String) -> Result<()> {
        Ok(())
    }

    fn option_then_path(_: &Ctx, _: Option<i64>, _: PathBuf) -> Result<()> {
        Ok(())
    }

    fn kinds<F: Signature>(f: F) -> Vec<abi::ArgKind> {
        let k = __signature(&f);
        k[..4].to_vec()
    }

    #[test]
    fn argument_kinds() {
        use abi::{ARG_BOOL, ARG_FLOAT, ARG_INT, ARG_LAZY, ARG_STRING};
        assert_eq!(
            kinds(ints as fn(&Ctx<'static>, _, _, _, _) -> _),
            [ARG_INT, ARG_FLOAT, ARG_BOOL, ARG_STRING]
        );
        // A lazy value evaluates nothing, so later arguments may still be evaluated ahead.
        assert_eq!(
            kinds(lazy_then_int as fn(&Ctx<'static>, _, _) -> _),
            [ARG_LAZY, ARG_INT, ARG_LAZY, ARG_LAZY]
        );
        // A list's conversion evaluates its elements: the arguments after it stay lazy.
        assert_eq!(
            kinds(list_then_int as fn(&Ctx<'static>, _, _, _) -> _),
            [ARG_LAZY; 4]
        );
        assert_eq!(
            kinds(option_then_path as fn(&Ctx<'static>, _, _) -> _),
            [ARG_LAZY; 4]
        );
    }
}
