//! Printing values the way Nix 2.8's REPL does: forced as far as they are shown, nested
//! sets and lists down to a depth, derivations as `«derivation /nix/store/….drv»`, values
//! already shown as `«repeated»`, and ANSI colours on a terminal.

use crate::session::Session;
use ferrix_eval::error::EvalError;
use ferrix_eval::value::{Thunk, Value};
use ferrix_eval::{Evaluator, Pos};
use std::collections::HashSet;

const RED: &str = "\x1b[31;1m";
const GREEN: &str = "\x1b[32;1m";
const MAGENTA: &str = "\x1b[35;1m";
const CYAN: &str = "\x1b[36;1m";
const BLUE: &str = "\x1b[34;1m";
const BOLD: &str = "\x1b[1m";
const NORMAL: &str = "\x1b[0m";

pub(crate) struct Printer<'s, 'a> {
    pub ev: &'s Evaluator<'a>,
    pub color: bool,
    pub store_dir: &'s str,
}

type R = Result<(), Box<EvalError>>;

/// An attribute name as Nix's REPL shows it: bare if it looks like an identifier, quoted
/// otherwise.
pub(crate) fn attr_name(name: &str) -> String {
    let mut chars = name.chars();
    let plain = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-'))
        }
        _ => false,
    };
    if plain {
        name.to_string()
    } else {
        let mut out = Vec::new();
        string(name.as_bytes(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A string in double quotes with `"`, `\`, newlines, returns and tabs escaped, up to a NUL.
fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            0 => break,
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

impl<'a> Printer<'_, 'a> {
    fn paint(&self, color: &str, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
        if self.color {
            out.extend_from_slice(color.as_bytes());
        }
        body(out);
        if self.color {
            out.extend_from_slice(NORMAL.as_bytes());
        }
    }

    /// A path directly inside the store: `<store>/<32 nix32 characters>-<name>`.
    fn is_store_path(&self, p: &str) -> bool {
        let Some(rest) = p
            .strip_prefix(self.store_dir)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return false;
        };
        let b = rest.as_bytes();
        b.len() > 33
            && b[32] == b'-'
            && b[..32]
                .iter()
                .all(|c| b"0123456789abcdfghijklmnpqrsvwxyz".contains(c))
            && b[33..]
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"+-._?=".contains(&c))
    }

    /// Prints `v` (already forced) with nested sets and lists shown to `depth` levels.
    pub fn print(&self, v: Value<'a>, depth: usize, out: &mut Vec<u8>) -> R {
        let mut seen = HashSet::new();
        self.value(v, depth, &mut seen, out)
    }

    /// A value inside a set or list: forced here; a `throw` or failed `assert` shows as
    /// `«error: …»` in its place, other errors stop the printing.
    fn child(
        &self,
        t: &'a Thunk<'a>,
        depth: usize,
        seen: &mut HashSet<usize>,
        out: &mut Vec<u8>,
    ) -> R {
        // Printing a large value that is already evaluated runs no evaluation step, so
        // look at Ctrl-C here too.
        if ferrix_eval::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ferrix_eval::interruption_error());
        }
        let key = t as *const Thunk<'a> as usize;
        if seen.contains(&key) {
            out.extend_from_slice("«repeated»".as_bytes());
            return Ok(());
        }
        let start = out.len();
        let r = self.ev.force(t, Pos::NONE).and_then(|v| {
            if matches!(v, Value::Attrs(_) | Value::List(_)) {
                seen.insert(key);
            }
            // An endlessly deep value ends with Nix's stack overflow error (see `nested`).
            self.ev.nested(|| self.value(v, depth, seen, out))
        });
        match r {
            Err(e) if Session::is_catchable(&e) => {
                out.truncate(start);
                let msg = e.message.clone();
                self.paint(RED, out, |o| {
                    o.extend_from_slice("«error: ".as_bytes());
                    o.extend_from_slice(msg.as_bytes());
                    o.extend_from_slice("»".as_bytes());
                });
                Ok(())
            }
            r => r,
        }
    }

    fn value(&self, v: Value<'a>, depth: usize, seen: &mut HashSet<usize>, out: &mut Vec<u8>) -> R {
        match v {
            Value::Int(n) => {
                self.paint(CYAN, out, |o| o.extend_from_slice(n.to_string().as_bytes()))
            }
            Value::Bool(b) => self.paint(CYAN, out, |o| {
                o.extend_from_slice(if b { b"true" } else { b"false" })
            }),
            Value::Null => self.paint(CYAN, out, |o| o.extend_from_slice(b"null")),
            Value::Float(f) => {
                out.extend_from_slice(ferrix_parser::print::format_g(f).as_bytes());
            }
            Value::Str(s) => self.paint(MAGENTA, out, |o| string(s.bytes, o)),
            Value::Path(p) => self.paint(GREEN, out, |o| o.extend_from_slice(p.bytes)),
            Value::Lambda(c) => {
                let pos = self.ev.show_pos(c.pos());
                let (file, rest) = match pos.rsplitn(3, ':').collect::<Vec<_>>().as_slice() {
                    [col, line, file] => (file.to_string(), format!(":{line}:{col}")),
                    _ => (pos.clone(), String::new()),
                };
                self.paint(BLUE, out, |o| {
                    o.extend_from_slice("«lambda @ ".as_bytes());
                    if self.color {
                        o.extend_from_slice(BOLD.as_bytes());
                        o.extend_from_slice(file.as_bytes());
                        o.extend_from_slice(NORMAL.as_bytes());
                    } else {
                        o.extend_from_slice(file.as_bytes());
                    }
                    o.extend_from_slice(rest.as_bytes());
                    o.extend_from_slice("»".as_bytes());
                });
            }
            Value::PrimOp(_) => {
                self.paint(MAGENTA, out, |o| o.extend_from_slice("«primop»".as_bytes()))
            }
            Value::PrimOpApp(_) => self.paint(BLUE, out, |o| {
                o.extend_from_slice("«primop-app»".as_bytes())
            }),
            Value::Attrs(set) => {
                if self.ev.is_derivation(set, Pos::NONE)? {
                    let drv = match set.get(self.ev.intern(b"drvPath")) {
                        Some(a) => match self.ev.force(a.value, a.pos)? {
                            Value::Str(s) | Value::Path(s) => {
                                let p = String::from_utf8_lossy(s.bytes).into_owned();
                                if !self.is_store_path(&p) {
                                    return Err(EvalError::eval(
                                        format!("path '{p}' is not in the Nix store"),
                                        a.pos,
                                    ));
                                }
                                p
                            }
                            other => {
                                return Err(EvalError::eval(
                                    format!("cannot coerce {} to a string", other.show_type()),
                                    a.pos,
                                ))
                            }
                        },
                        None => "???".into(),
                    };
                    out.extend_from_slice(format!("«derivation {drv}»").as_bytes());
                } else if depth > 0 {
                    let mut attrs: Vec<(String, &'a Thunk<'a>)> = set
                        .attrs()
                        .iter()
                        .map(|a| (self.ev.sym_name(a.name), a.value))
                        .collect();
                    attrs.sort_by(|x, y| x.0.cmp(&y.0));
                    out.extend_from_slice(b"{ ");
                    for (name, t) in attrs {
                        out.extend_from_slice(attr_name(&name).as_bytes());
                        out.extend_from_slice(b" = ");
                        self.child(t, depth - 1, seen, out)?;
                        out.extend_from_slice(b"; ");
                    }
                    out.push(b'}');
                } else {
                    out.extend_from_slice(b"{ ... }");
                }
            }
            Value::List(l) => {
                out.extend_from_slice(b"[ ");
                if depth > 0 {
                    for t in l.items {
                        self.child(t, depth - 1, seen, out)?;
                        out.push(b' ');
                    }
                } else {
                    out.extend_from_slice(b"... ");
                }
                out.push(b']');
            }
        }
        Ok(())
    }
}
