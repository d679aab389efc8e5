//! The builtins of native code: `importNative` and `exec`, which exist only when
//! `allow-unsafe-native-code-during-evaluation` is on (as in Nix), and the primops of the
//! plugins named by `plugin-files`.

use crate::loader::{self, Plugin};
use ferrix_eval::error::{EvalError, EvalResult};
use ferrix_eval::value::{Attr, PrimOp, Thunk, Value};
use ferrix_eval::{Evaluator, Pos};
use ferrix_parser::Origin;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// What native code an evaluation may run.
#[derive(Debug, Clone, Default)]
pub struct NativeConfig {
    /// `allow-unsafe-native-code-during-evaluation`: adds `importNative` and `exec`.
    pub allow_unsafe_native_code: bool,
    /// Plugins loaded at startup (`plugin-files`); their primops join `builtins`.
    pub plugins: Vec<&'static Plugin>,
}

/// The setting that enables `importNative` and `exec`.
pub const UNSAFE_SETTING: &str = "allow-unsafe-native-code-during-evaluation";

pub static UNSAFE_PRIMOPS: &[PrimOp] = &[
    PrimOp {
        name: "importNative",
        arity: 2,
        transient: ferrix_eval::value::Transient::NONE,
        func: import_native,
        doc: "Load the Ferrix plugin (a shared object) at *path* and return the value its \
              initialisation function *symbol* builds. Only available with \
              `allow-unsafe-native-code-during-evaluation = true`.",
    },
    PrimOp {
        name: "exec",
        arity: 1,
        transient: ferrix_eval::value::Transient::NONE,
        func: exec,
        doc: "Run the program named by the first element of the list with the other elements \
              as arguments, and parse and evaluate its standard output as a Nix expression. \
              Only available with `allow-unsafe-native-code-during-evaluation = true`.",
    },
];

impl NativeConfig {
    /// The primops this configuration adds, in order (later ones win over earlier ones and
    /// over the builtins of the same name).
    pub fn primops(&self) -> Vec<&'static PrimOp> {
        let mut out: Vec<&'static PrimOp> = Vec::new();
        if self.allow_unsafe_native_code {
            out.extend(UNSAFE_PRIMOPS.iter());
        }
        for p in &self.plugins {
            out.extend(p.primops().iter().copied());
        }
        out
    }

    /// Global names (`__exec`, `__importNative`, `__<plugin primop>`) to add to the
    /// evaluator's base scope, so that they resolve at parse time as in Nix.
    pub fn global_names(&self) -> Vec<String> {
        self.primops()
            .iter()
            .map(|p| format!("__{}", p.name))
            .collect()
    }

    /// Adds the primops to an evaluator whose builtins are installed already: each under
    /// `__name` (if the evaluator was made with [`Self::global_names`]) and in `builtins`.
    pub fn install<'a>(&self, ev: &Evaluator<'a>) -> Result<(), Box<EvalError>> {
        let ops = self.primops();
        if ops.is_empty() {
            return Ok(());
        }
        // `builtins` contains itself; its thunk is shared by the global and the attribute,
        // so overwriting it updates both.
        let code = ev.parse(b"builtins", Origin::String, b"/")?;
        let Value::Attrs(set) = ev.eval_code(code)? else {
            return Ok(());
        };
        let self_sym = ev.intern(b"builtins");
        let Some(me) = set.get(self_sym).map(|a| a.value) else {
            return Ok(());
        };
        let mut attrs: Vec<Attr<'a>> = Vec::with_capacity(ops.len());
        for op in ops {
            let t = ev.alloc_thunk(Value::PrimOp(op));
            ev.set_global(&format!("__{}", op.name), t);
            attrs.push(Attr {
                name: ev.intern(op.name.as_bytes()),
                value: t,
                pos: Pos::NONE,
            });
        }
        // Later definitions win: keep the last of each name.
        attrs.reverse();
        attrs.sort_by_key(|a| a.name);
        attrs.dedup_by_key(|a| a.name);
        let mut merged: Vec<Attr<'a>> = set
            .attrs()
            .iter()
            .filter(|a| attrs.binary_search_by_key(&a.name, |b| b.name).is_err())
            .copied()
            .collect();
        merged.extend(attrs);
        merged.sort_by_key(|a| a.name);
        me.set(ev.make_attrs(merged));
        Ok(())
    }
}

fn type_error<T>(v: Value<'_>, expected: &str, pos: Pos) -> Result<T, Box<EvalError>> {
    Err(EvalError::eval(
        format!("value is {} while {expected} was expected", v.show_type()),
        pos,
    ))
}

/// Nix's `realisePath` without a store: a path, or a string holding an absolute path.
fn real_path<'a>(
    ev: &Evaluator<'a>,
    t: &'a Thunk<'a>,
    pos: Pos,
) -> Result<PathBuf, Box<EvalError>> {
    let v = ev.force(t, pos)?;
    let mut bytes = Vec::new();
    let mut ctx = Vec::new();
    ev.coerce_to_string(v, pos, false, false, &mut bytes, &mut ctx)?;
    if !bytes.starts_with(b"/") {
        return Err(EvalError::eval(
            format!(
                "string '{}' doesn't represent an absolute path",
                String::from_utf8_lossy(&bytes)
            ),
            pos,
        ));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(
        &ferrix_parser::actions::canon_path(&bytes),
    )))
}

/// `builtins.importNative PATH SYMBOL`.
fn import_native<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let path = real_path(ev, args[0], pos)?;
    let symbol = match ev.force(args[1], pos)? {
        Value::Str(s) if s.context.is_empty() => String::from_utf8_lossy(s.bytes).into_owned(),
        Value::Str(s) => {
            return Err(EvalError::eval(
                format!(
                    "the string '{}' is not allowed to refer to a store path (such as '{}')",
                    String::from_utf8_lossy(s.bytes),
                    String::from_utf8_lossy(s.context[0])
                ),
                pos,
            ))
        }
        v => return type_error(v, "a string", pos),
    };
    // As in Nix, loading errors carry no position.
    let load_error = |e: loader::LoadError| {
        EvalError::new(ferrix_eval::error::ErrorKind::Eval, e.to_string(), None)
    };
    let plugin = loader::load(&path).map_err(load_error)?;
    let init = loader::init_function(plugin, &symbol).map_err(load_error)?;
    loader::call_init(ev, pos, plugin, &symbol, init)
}

/// `strsignal` for the common signals, as glibc words them.
fn signal_name(sig: i32) -> String {
    let s = match sig {
        1 => "Hangup",
        2 => "Interrupt",
        3 => "Quit",
        4 => "Illegal instruction",
        5 => "Trace/breakpoint trap",
        6 => "Aborted",
        7 => "Bus error",
        8 => "Floating point exception",
        9 => "Killed",
        10 => "User defined signal 1",
        11 => "Segmentation fault",
        12 => "User defined signal 2",
        13 => "Broken pipe",
        14 => "Alarm clock",
        15 => "Terminated",
        _ => return format!("Unknown signal {sig}"),
    };
    s.to_string()
}

/// `builtins.exec [ PROGRAM ARG… ]`: runs the program and evaluates its output.
fn exec<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let list = match ev.force(args[0], pos)? {
        Value::List(l) => l,
        v => return type_error(v, "a list", pos),
    };
    if list.items.is_empty() {
        return Err(EvalError::eval(
            "at least one argument to 'exec' required",
            pos,
        ));
    }
    let mut words: Vec<Vec<u8>> = Vec::with_capacity(list.items.len());
    let mut context: Vec<&'a [u8]> = Vec::new();
    for t in list.items {
        let v = ev.force(t, pos)?;
        let mut w = Vec::new();
        ev.coerce_to_string(v, pos, false, false, &mut w, &mut context)?;
        words.push(w);
    }
    let program = String::from_utf8_lossy(&words[0]).into_owned();
    if context
        .iter()
        .any(|c| c.starts_with(b"!") || c.starts_with(b"="))
    {
        return Err(EvalError::eval(
            format!(
                "cannot execute '{program}': building the derivations its arguments refer to \
                 is not implemented yet (it needs the Nix store)"
            ),
            pos,
        ));
    }
    let os = |w: &Vec<u8>| std::ffi::OsStr::from_bytes(w).to_os_string();
    let output = std::process::Command::new(os(&words[0]))
        .args(words[1..].iter().map(os))
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output();
    let failed = |how: String| {
        EvalError::new(
            ferrix_eval::error::ErrorKind::Eval,
            format!("program '{program}' {how}"),
            None,
        )
    };
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            // Nix's child reports this itself and exits with status 1.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "error: executing '{program}': {}",
                ferrix_eval::io_reason(&e)
            );
            return Err(failed("failed with exit code 1".into()));
        }
    };
    {
        use std::os::unix::process::ExitStatusExt as _;
        let st = output.status;
        if let Some(sig) = st.signal() {
            return Err(failed(format!(
                "failed due to signal {sig} ({})",
                signal_name(sig)
            )));
        }
        match st.code() {
            Some(0) => {}
            Some(c) => return Err(failed(format!("failed with exit code {c}"))),
            None => return Err(failed("failed".into())),
        }
    }
    // Nix resolves relative paths in the output against the calling file's path itself.
    let (file, _, _) = ev.pos_parts(pos);
    let base: Vec<u8> = if file.starts_with('/') && !file.contains('\n') {
        file.into_bytes()
    } else {
        std::env::current_dir()
            .map(|d| d.as_os_str().as_bytes().to_vec())
            .unwrap_or_else(|_| b"/".to_vec())
    };
    let code = ev
        .parse(&output.stdout, Origin::String, &base)
        .map_err(|e| {
            e.with_frame(
                format!("While parsing the output from '{program}'"),
                Some(pos),
            )
        })?;
    ev.eval_code(code).map_err(|e| {
        e.with_frame(
            format!("While evaluating the output from '{program}'"),
            Some(pos),
        )
    })
}
