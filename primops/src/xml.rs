//! `builtins.toXML` and the XML of `nix-instantiate --eval --xml`, as Nix 2.8 writes them.
//!
//! The document is written as it goes, like Nix's `XMLWriter`: two spaces of indentation per
//! level, attributes of an element sorted by name, and only `"`, `<`, `>`, `&` and newlines
//! escaped in attribute values. When an error interrupts the walk, the elements still open are
//! closed (as the C++ destructors do while the exception unwinds), so the partial document is
//! well formed.

use crate::builtin::{prefixed, Builtin};
use crate::util::*;
use ferrix_eval::error::{ErrorKind, EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};
use rustc_hash::FxHashSet;

pub static BUILTINS: &[Builtin] = &[prefixed(PrimOp {
    name: "toXML",
    arity: 1,
    transient: ferrix_eval::value::Transient::NONE,
    func: to_xml,
    doc: "toXML value

`value` as an XML document, in the format of `nix-instantiate --eval --xml`.",
})];

/// Values nested deeper than this end the walk with Nix's stack overflow message. Nix itself
/// gets there only when its stack runs out (tens of thousands of levels, after printing
/// gigabytes); the output grows with the square of the depth, so Ferrix stops much earlier.
const MAX_DEPTH: usize = 4096;

const STACK_OVERFLOW: &str = "stack overflow (possible infinite recursion)";

fn to_xml<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let mut out = Vec::new();
    let mut printer = Printer::new(ev, true, false, &mut out);
    let r = printer.thunk(args[0], pos);
    let context = std::mem::take(&mut printer.context);
    printer.xml.close_all();
    r?;
    // Nix makes the result from a C string: it ends at the first NUL (which only an
    // attribute name can bring in).
    if let Some(n) = out.iter().position(|&c| c == 0) {
        out.truncate(n);
    }
    Ok(string_value(ev, &out, context))
}

/// Writes the XML document for `v` as `nix-instantiate --eval --xml` prints it: `strict`
/// forces every value (`--strict`; otherwise unevaluated values show as `<unevaluated />`),
/// `location` adds `column`, `line` and `path` to attributes and functions (unless
/// `--no-location`). `pos` is used for errors about forcing `v` itself.
///
/// On error, `out` holds the document up to the failure with its open elements closed, which
/// is what Nix 2.8 has printed on standard output before it reports the error.
pub fn value_to_xml<'a>(
    ev: &Evaluator<'a>,
    v: Value<'a>,
    strict: bool,
    location: bool,
    pos: Pos,
    out: &mut Vec<u8>,
) -> Result<(), Box<EvalError>> {
    let mut printer = Printer::new(ev, strict, location, out);
    let r = printer.value(v, pos);
    printer.xml.close_all();
    r
}

/// The part of Nix's `XMLWriter` that Nix uses: indented elements.
struct XmlWriter<'o> {
    out: &'o mut Vec<u8>,
    open: Vec<&'static str>,
}

type XmlAttrs<'s> = Vec<(&'static str, &'s [u8])>;

impl XmlWriter<'_> {
    fn indent(&mut self, depth: usize) {
        self.out.resize(self.out.len() + 2 * depth, b' ');
    }

    fn write_attrs(&mut self, mut attrs: XmlAttrs<'_>) {
        attrs.sort_by_key(|a| a.0);
        for (name, value) in attrs {
            self.out.push(b' ');
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b"=\"");
            for &c in value {
                match c {
                    b'"' => self.out.extend_from_slice(b"&quot;"),
                    b'<' => self.out.extend_from_slice(b"&lt;"),
                    b'>' => self.out.extend_from_slice(b"&gt;"),
                    b'&' => self.out.extend_from_slice(b"&amp;"),
                    b'\n' => self.out.extend_from_slice(b"&#xA;"),
                    _ => self.out.push(c),
                }
            }
            self.out.push(b'"');
        }
    }

    fn open(&mut self, name: &'static str, attrs: XmlAttrs<'_>) {
        self.indent(self.open.len());
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.write_attrs(attrs);
        self.out.extend_from_slice(b">\n");
        self.open.push(name);
    }

    fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.indent(self.open.len());
            self.out.extend_from_slice(b"</");
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b">\n");
        }
    }

    fn empty(&mut self, name: &'static str, attrs: XmlAttrs<'_>) {
        self.indent(self.open.len());
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.write_attrs(attrs);
        self.out.extend_from_slice(b" />\n");
    }

    fn close_all(&mut self) {
        while !self.open.is_empty() {
            self.close();
        }
    }
}

/// Bytes up to the first NUL, as Nix reads a string value's C string.
fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// A float as Nix's `format("%1%")` prints it (`%g`, with glibc's `-nan`).
fn format_float(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    ferrix_parser::print::format_g(f)
}

struct Printer<'e, 'a, 'o> {
    ev: &'e Evaluator<'a>,
    strict: bool,
    location: bool,
    xml: XmlWriter<'o>,
    /// The context of the strings printed.
    context: Vec<&'a [u8]>,
    /// The `drvPath`s of derivations already shown; later ones print `<repeated />`.
    drvs_seen: FxHashSet<Vec<u8>>,
    /// The sets and lists being printed, since the last derivation whose attributes are being
    /// shown. Meeting one of them again means Nix would recurse until its stack overflows.
    active: Vec<FxHashSet<usize>>,
    depth: usize,
}

impl<'e, 'a, 'o> Printer<'e, 'a, 'o> {
    fn new(ev: &'e Evaluator<'a>, strict: bool, location: bool, out: &'o mut Vec<u8>) -> Self {
        out.extend_from_slice(b"<?xml version='1.0' encoding='utf-8'?>\n");
        let mut xml = XmlWriter {
            out,
            open: Vec::new(),
        };
        xml.open("expr", Vec::new());
        Printer {
            ev,
            strict,
            location,
            xml,
            context: Vec::new(),
            drvs_seen: FxHashSet::default(),
            active: vec![FxHashSet::default()],
            depth: 0,
        }
    }

    /// `column`, `line` and `path` of a position, when locations are wanted and known.
    fn location_attrs(&self, pos: Pos) -> Vec<(&'static str, Vec<u8>)> {
        if !self.location || pos.is_none() {
            return Vec::new();
        }
        let (file, line, column) = self.ev.pos_parts(pos);
        if line == 0 {
            return Vec::new();
        }
        vec![
            ("column", column.to_string().into_bytes()),
            ("line", line.to_string().into_bytes()),
            ("path", file.into_bytes()),
        ]
    }

    /// A value that may not be forced yet.
    fn thunk(&mut self, t: &'a Thunk<'a>, pos: Pos) -> Result<(), Box<EvalError>> {
        if self.strict {
            let v = self.ev.force(t, pos)?;
            self.value(v, pos)
        } else {
            match t.value() {
                Some(v) => self.value(v, pos),
                None => {
                    self.xml.empty("unevaluated", Vec::new());
                    Ok(())
                }
            }
        }
    }

    fn value(&mut self, v: Value<'a>, pos: Pos) -> Result<(), Box<EvalError>> {
        if self.depth >= MAX_DEPTH {
            return Err(EvalError::new(ErrorKind::Eval, STACK_OVERFLOW, None));
        }
        self.depth += 1;
        let ev = self.ev;
        let r = ev.nested(|| self.value_inner(v, pos));
        self.depth -= 1;
        r
    }

    fn value_inner(&mut self, v: Value<'a>, pos: Pos) -> Result<(), Box<EvalError>> {
        match v {
            Value::Int(n) => {
                let s = n.to_string();
                self.xml.empty("int", vec![("value", s.as_bytes())]);
            }
            Value::Bool(b) => {
                let s: &[u8] = if b { b"true" } else { b"false" };
                self.xml.empty("bool", vec![("value", s)]);
            }
            Value::Str(s) => {
                self.context.extend_from_slice(s.context);
                self.xml.empty("string", vec![("value", c_str(s.bytes))]);
            }
            Value::Path(p) => self.xml.empty("path", vec![("value", c_str(p.bytes))]),
            Value::Null => self.xml.empty("null", Vec::new()),
            Value::Float(f) => {
                let s = format_float(f);
                self.xml.empty("float", vec![("value", s.as_bytes())]);
            }
            Value::Attrs(set) => {
                if self.is_derivation(set)? {
                    self.derivation(set)?;
                } else {
                    let key = self.enter(set as *const AttrSet<'a> as usize, set.attrs().len())?;
                    self.xml.open("attrs", Vec::new());
                    let r = self.show_attrs(set);
                    self.leave(key);
                    r?;
                    self.xml.close();
                }
            }
            Value::List(l) => {
                let key = self.enter(l as *const List<'a> as usize, l.items.len())?;
                self.xml.open("list", Vec::new());
                let r = l.items.iter().try_for_each(|t| self.thunk(t, pos));
                self.leave(key);
                r?;
                self.xml.close();
            }
            Value::Lambda(c) => self.function(c),
            // Nix does not show built-in functions.
            Value::PrimOp(_) | Value::PrimOpApp(_) => self.xml.empty("unevaluated", Vec::new()),
        }
        Ok(())
    }

    /// Marks a non-empty set or list as being printed; meeting it again inside itself is an
    /// endless recursion in Nix.
    fn enter(&mut self, key: usize, len: usize) -> Result<Option<usize>, Box<EvalError>> {
        if len == 0 {
            return Ok(None);
        }
        let Some(set) = self.active.last_mut() else {
            return Ok(None);
        };
        if !set.insert(key) {
            return Err(EvalError::new(ErrorKind::Eval, STACK_OVERFLOW, None));
        }
        Ok(Some(key))
    }

    fn leave(&mut self, key: Option<usize>) {
        if let (Some(key), Some(set)) = (key, self.active.last_mut()) {
            set.remove(&key);
        }
    }

    /// Nix's `isDerivation`: `type` is the string `derivation` (compared as a C string).
    fn is_derivation(&mut self, set: &'a AttrSet<'a>) -> Result<bool, Box<EvalError>> {
        match set.get(self.ev.syms().type_) {
            Some(a) => Ok(matches!(
                self.ev.force(a.value, a.pos)?,
                Value::Str(s) if c_str(s.bytes) == b"derivation"
            )),
            None => Ok(false),
        }
    }

    /// A string attribute of a derivation (`drvPath`, `outPath`), forced only when strict.
    fn drv_string(&mut self, set: &'a AttrSet<'a>, name: &[u8]) -> R<Option<&'a [u8]>> {
        let sym = self.ev.intern(name);
        let Some(a) = set.get(sym) else {
            return Ok(None);
        };
        let v = if self.strict {
            Some(self.ev.force(a.value, a.pos)?)
        } else {
            a.value.value()
        };
        Ok(match v {
            Some(Value::Str(s)) => Some(c_str(s.bytes)),
            _ => None,
        })
    }

    fn derivation(&mut self, set: &'a AttrSet<'a>) -> Result<(), Box<EvalError>> {
        let drv_path = self.drv_string(set, b"drvPath")?;
        let out_path = self.drv_string(set, b"outPath")?;
        let mut attrs = Vec::new();
        if let Some(d) = drv_path {
            attrs.push(("drvPath", d));
        }
        if let Some(o) = out_path {
            attrs.push(("outPath", o));
        }
        self.xml.open("derivation", attrs);
        let drv_path = drv_path.unwrap_or_default();
        if !drv_path.is_empty() && self.drvs_seen.insert(drv_path.to_vec()) {
            // Inside a shown derivation, the sets and lists above it may repeat without
            // recursing forever: the derivation shows as `<repeated />` the next time.
            self.active.push(FxHashSet::default());
            let r = self.show_attrs(set);
            self.active.pop();
            r?;
        } else {
            self.xml.empty("repeated", Vec::new());
        }
        self.xml.close();
        Ok(())
    }

    /// The attributes of a set, sorted by name, each in an `<attr>` element.
    fn show_attrs(&mut self, set: &'a AttrSet<'a>) -> Result<(), Box<EvalError>> {
        let mut sorted: Vec<(Vec<u8>, &Attr<'a>)> = {
            let symbols = self.ev.symbols();
            set.attrs()
                .iter()
                .map(|a| (symbols.name(a.name).to_vec(), a))
                .collect()
        };
        sorted.sort_by(|x, y| x.0.cmp(&y.0));
        for (name, a) in sorted {
            let loc = self.location_attrs(a.pos);
            let mut attrs: XmlAttrs<'_> = loc.iter().map(|(k, v)| (*k, &v[..])).collect();
            attrs.push(("name", &name));
            self.xml.open("attr", attrs);
            self.thunk(a.value, a.pos)?;
            self.xml.close();
        }
        Ok(())
    }

    fn function(&mut self, c: &'a Closure<'a>) {
        let loc = self.location_attrs(c.pos());
        let attrs: XmlAttrs<'_> = loc.iter().map(|(k, v)| (*k, &v[..])).collect();
        self.xml.open("function", attrs);
        let lambda = c.lambda();
        let arg = lambda.arg().map(|s| self.ev.symbols().name(s).to_vec());
        match lambda.formals() {
            Some(formals) => {
                let mut attrs: XmlAttrs<'_> = Vec::new();
                if let Some(arg) = arg.as_deref().filter(|a| !a.is_empty()) {
                    attrs.push(("name", arg));
                }
                if formals.ellipsis() {
                    attrs.push(("ellipsis", b"1"));
                }
                self.xml.open("attrspat", attrs);
                let mut names: Vec<Vec<u8>> = {
                    let symbols = self.ev.symbols();
                    formals
                        .entries()
                        .iter()
                        .map(|f| symbols.name(f.name()).to_vec())
                        .collect()
                };
                names.sort();
                for name in &names {
                    self.xml.empty("attr", vec![("name", name)]);
                }
                self.xml.close();
            }
            None => {
                let name = arg.unwrap_or_default();
                self.xml.empty("varpat", vec![("name", &name)]);
            }
        }
        self.xml.close();
    }
}
