//! `--parse` output.
//!
//! The layout follows Nix 2.8's expression printer (fully parenthesised, sets sorted by
//! name), changed only where Nix's output would not parse back to the same tree:
//! interpolations print as `"a${x}"` and `./p/${x}`, operators print infix instead of as
//! `__sub`/`__lessThan` calls, `inherit (e) x` stays an inherit, `assert` is parenthesised
//! and floats print with full precision as valid float literals. [`Style::Nix`] prints exactly
//! what Nix 2.8 prints, for differential testing.
//!
//! One shape does not survive the round trip: an indented string whose escapes split it into
//! several literal parts (`''a''$b''`) prints as the one string `"a\$b"`, the same value.
//! And a path interpolation that climbs to the root (`../../${x}` near `/`) starts with the
//! path `//`, which has no literal form.

use crate::ast::*;
use crate::symbol::Interner;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Parses back to the same tree.
    RoundTrip,
    /// Byte-for-byte Nix 2.8 `--parse` output.
    Nix,
}

pub struct Printer<'a> {
    symbols: &'a Interner,
    style: Style,
    out: Vec<u8>,
}

/// The keywords that cannot be attribute names without quotes (`or` can).
fn is_keyword(s: &[u8]) -> bool {
    matches!(
        s,
        b"if" | b"then" | b"else" | b"assert" | b"with" | b"let" | b"in" | b"rec" | b"inherit"
    )
}

fn is_plain_id(s: &[u8]) -> bool {
    match s.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => s
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'\'' | b'-')),
        _ => false,
    }
}

/// An identifier as Nix prints it: quoted when it is not a plain identifier.
pub fn show_id(s: &str) -> String {
    let mut p = Printer {
        symbols: &Interner::new(),
        style: Style::Nix,
        out: Vec::new(),
    };
    p.id(s.as_bytes());
    String::from_utf8_lossy(&p.out).into_owned()
}

/// An attribute path as Nix prints it in messages (`a.b."${x}"`).
pub fn show_attr_path(symbols: &Interner, path: &[AttrName]) -> String {
    let mut p = Printer {
        symbols,
        style: Style::Nix,
        out: Vec::new(),
    };
    p.attr_path(path);
    String::from_utf8_lossy(&p.out).into_owned()
}

/// Prints an expression.
pub fn print(symbols: &Interner, e: &Expr, style: Style) -> Vec<u8> {
    let mut p = Printer {
        symbols,
        style,
        out: Vec::with_capacity(256),
    };
    p.expr(e);
    p.out
}

impl Printer<'_> {
    fn s(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn id(&mut self, s: &[u8]) {
        let keyword = match self.style {
            Style::Nix => s == b"if",
            Style::RoundTrip => is_keyword(s),
        };
        if s.is_empty() || keyword || !is_plain_id(s) {
            self.string(s);
        } else {
            self.out.extend_from_slice(s);
        }
    }

    fn sym(&mut self, s: crate::symbol::Sym) {
        let symbols = self.symbols;
        self.id(symbols.name(s));
    }

    /// A string literal body with Nix's escapes.
    fn string_body(&mut self, s: &[u8]) {
        // Most strings need no escapes: copy them whole.
        if !s
            .iter()
            .any(|c| matches!(c, b'"' | b'\\' | b'$' | b'\n' | b'\r' | b'\t'))
        {
            self.out.extend_from_slice(s);
            return;
        }
        for &c in s {
            match c {
                b'"' | b'\\' | b'$' => {
                    self.out.push(b'\\');
                    self.out.push(c);
                }
                b'\n' => self.s("\\n"),
                b'\r' => self.s("\\r"),
                b'\t' => self.s("\\t"),
                _ => self.out.push(c),
            }
        }
    }

    fn string(&mut self, s: &[u8]) {
        self.out.push(b'"');
        self.string_body(s);
        self.out.push(b'"');
    }

    fn attr_path(&mut self, path: &[AttrName]) {
        for (i, a) in path.iter().enumerate() {
            if i > 0 {
                self.out.push(b'.');
            }
            match a {
                AttrName::Static(s) => self.sym(*s),
                AttrName::Dynamic(e) => self.dynamic_name(e),
            }
        }
    }

    /// Nix shows a dynamic attribute name as `"${e}"`. That reads back as a string around
    /// `e`, so the round-trip style writes a string as itself and anything else as `${e}`.
    fn dynamic_name(&mut self, e: &Expr) {
        if self.style == Style::Nix {
            self.s("\"${");
            self.expr(e);
            self.s("}\"");
        } else if matches!(e.kind, ExprKind::Interpolate(StrOrPath::Str, _)) {
            self.expr(e);
        } else {
            self.s("${");
            self.expr(e);
            self.out.push(b'}');
        }
    }

    fn float(&mut self, f: f64) {
        match self.style {
            Style::Nix => {
                let s = format_g(f);
                self.s(&s);
            }
            Style::RoundTrip => {
                let mut s = format!("{f:?}");
                if let Some(e) = s.find('e') {
                    if !s[..e].contains('.') {
                        s.insert(e, '.');
                    }
                }
                self.s(&s);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || self.expr_inner(e))
    }

    fn call(&mut self, f: &str, args: &[&Expr]) {
        self.out.push(b'(');
        self.s(f);
        for a in args {
            self.out.push(b' ');
            self.expr(a);
        }
        self.out.push(b')');
    }

    fn expr_inner(&mut self, e: &Expr) {
        let nix = self.style == Style::Nix;
        match &e.kind {
            ExprKind::Int(n) => self.s(&n.to_string()),
            ExprKind::Float(f) => self.float(*f),
            ExprKind::Str(s) => self.string(s),
            ExprKind::Path(p) => self.path(p),
            ExprKind::HomePath(p, n) => self.home_path(p, *n),
            ExprKind::Var(v) => self.sym(v.name),
            ExprKind::CurPos => self.s("__curPos"),
            ExprKind::Select(sel) => {
                self.out.push(b'(');
                self.expr(&sel.expr);
                self.s(").");
                self.attr_path(&sel.path);
                if let Some(d) = &sel.default {
                    self.s(" or (");
                    self.expr(d);
                    self.out.push(b')');
                }
            }
            ExprKind::HasAttr(h) => {
                self.s("((");
                self.expr(&h.expr);
                self.s(") ? ");
                self.attr_path(&h.path);
                self.out.push(b')');
            }
            ExprKind::Attrs(a) => self.attrs(a),
            ExprKind::List(items) => {
                self.s("[ ");
                for i in items {
                    self.out.push(b'(');
                    self.expr(i);
                    self.s(") ");
                }
                self.out.push(b']');
            }
            ExprKind::Lambda(l) => {
                self.out.push(b'(');
                if let Some(f) = &l.formals {
                    self.s("{ ");
                    let mut first = true;
                    for formal in &f.entries {
                        if !first {
                            self.s(", ");
                        }
                        first = false;
                        self.sym(formal.name);
                        if let Some(d) = &formal.default {
                            self.s(" ? ");
                            self.expr(d);
                        }
                    }
                    if f.ellipsis {
                        if !first {
                            self.s(", ");
                        }
                        self.s("...");
                    }
                    self.s(" }");
                    if l.arg.is_some() {
                        self.s(" @ ");
                    }
                }
                if let Some(a) = l.arg {
                    self.sym(a);
                }
                self.s(": ");
                self.expr(&l.body);
                self.out.push(b')');
            }
            ExprKind::Call(c) => {
                self.out.push(b'(');
                self.expr(&c.func);
                for a in &c.args {
                    self.out.push(b' ');
                    self.expr(a);
                }
                self.out.push(b')');
            }
            ExprKind::Let(a, body) => {
                self.s("(let ");
                for entry in &a.entries {
                    match &entry.value {
                        AttrValue::Inherit(..) => {
                            self.s("inherit ");
                            self.sym(entry.name);
                            self.s("; ");
                        }
                        AttrValue::InheritFrom { source, .. } if !nix => {
                            self.inherit_from(a, *source, entry.name);
                            self.s("; ");
                        }
                        _ => {
                            self.sym(entry.name);
                            self.s(" = ");
                            self.attr_value(a, entry);
                            self.s("; ");
                        }
                    }
                }
                self.s("in ");
                self.expr(body);
                self.out.push(b')');
            }
            ExprKind::With(env, body) => {
                self.s("(with ");
                self.expr(env);
                self.s("; ");
                self.expr(body);
                self.out.push(b')');
            }
            ExprKind::If(b) => {
                self.s("(if ");
                self.expr(&b[0]);
                self.s(" then ");
                self.expr(&b[1]);
                self.s(" else ");
                self.expr(&b[2]);
                self.out.push(b')');
            }
            ExprKind::Assert(b) => {
                if !nix {
                    self.out.push(b'(');
                }
                self.s("assert ");
                self.expr(&b[0]);
                self.s("; ");
                self.expr(&b[1]);
                if !nix {
                    self.out.push(b')');
                }
            }
            ExprKind::Not(x) => {
                self.s("(! ");
                self.expr(x);
                self.out.push(b')');
            }
            ExprKind::Neg(x) => {
                if nix {
                    self.s("(__sub 0 ");
                    self.expr(x);
                    self.out.push(b')');
                } else {
                    self.s("(- ");
                    self.expr(x);
                    self.out.push(b')');
                }
            }
            ExprKind::Binary(op, b) => {
                let [l, r] = &**b;
                if nix {
                    match op {
                        BinOp::Sub => return self.call("__sub", &[l, r]),
                        BinOp::Mul => return self.call("__mul", &[l, r]),
                        BinOp::Div => return self.call("__div", &[l, r]),
                        BinOp::Lt => return self.call("__lessThan", &[l, r]),
                        BinOp::Gt => return self.call("__lessThan", &[r, l]),
                        BinOp::Le => {
                            self.s("(! ");
                            self.call("__lessThan", &[r, l]);
                            self.out.push(b')');
                            return;
                        }
                        BinOp::Ge => {
                            self.s("(! ");
                            self.call("__lessThan", &[l, r]);
                            self.out.push(b')');
                            return;
                        }
                        _ => {}
                    }
                }
                self.out.push(b'(');
                self.expr(l);
                self.out.push(b' ');
                self.s(op.symbol());
                self.out.push(b' ');
                self.expr(r);
                self.out.push(b')');
            }
            ExprKind::Interpolate(kind, parts) => {
                if nix {
                    self.out.push(b'(');
                    for (i, p) in parts.iter().enumerate() {
                        if i > 0 {
                            self.s(" + ");
                        }
                        match p {
                            Part::Lit(_, t) => self.string(t),
                            Part::Expr(_, x) => self.expr(x),
                        }
                    }
                    self.out.push(b')');
                    return;
                }
                let is_str = *kind == StrOrPath::Str;
                if is_str {
                    self.out.push(b'"');
                }
                for (i, p) in parts.iter().enumerate() {
                    match p {
                        Part::Lit(_, t) if is_str => self.string_body(t),
                        Part::Lit(_, t) => self.out.extend_from_slice(t),
                        Part::Expr(
                            _,
                            Expr {
                                kind: ExprKind::Path(path),
                                ..
                            },
                        ) if i == 0 && !is_str => self.out.extend_from_slice(path),
                        Part::Expr(
                            _,
                            Expr {
                                kind: ExprKind::HomePath(path, n),
                                ..
                            },
                        ) if i == 0 && !is_str => self.home_path(path, *n),
                        Part::Expr(_, x) => {
                            self.s("${");
                            self.expr(x);
                            self.out.push(b'}');
                        }
                    }
                }
                if is_str {
                    self.out.push(b'"');
                }
            }
        }
    }

    /// The root is `/` to Nix, which is not a path literal; the round-trip style writes
    /// `/.`, which reads back as the root.
    fn path(&mut self, p: &[u8]) {
        self.out.extend_from_slice(p);
        if self.style == Style::RoundTrip && p == b"/" {
            self.out.push(b'.');
        }
    }

    /// Nix shows the expanded path; reading that back would canonicalise it, so the
    /// round-trip style writes `~` again.
    fn home_path(&mut self, p: &[u8], home_len: u32) {
        if self.style == Style::RoundTrip {
            self.out.push(b'~');
            self.out
                .extend_from_slice(p.get(home_len as usize..).unwrap_or_default());
        } else {
            self.out.extend_from_slice(p);
        }
    }

    fn inherit_from(&mut self, a: &Attrs, source: u32, name: crate::symbol::Sym) {
        self.s("inherit (");
        if let Some(src) = a.inherit_sources.get(source as usize) {
            self.expr(src);
        }
        self.s(") ");
        self.sym(name);
    }

    fn attr_value(&mut self, a: &Attrs, entry: &AttrEntry) {
        match &entry.value {
            AttrValue::Plain(x) => self.expr(x),
            AttrValue::Inherit(v, _) => self.sym(v.name),
            AttrValue::InheritFrom { source, .. } => {
                self.out.push(b'(');
                if let Some(src) = a.inherit_sources.get(*source as usize) {
                    self.expr(src);
                }
                self.s(").");
                self.sym(entry.name);
            }
        }
    }

    fn attrs(&mut self, a: &Attrs) {
        let nix = self.style == Style::Nix;
        if a.rec {
            self.s("rec ");
        }
        self.s("{ ");
        let mut sorted: Vec<&AttrEntry> = a.entries.iter().collect();
        sorted.sort_by(|x, y| self.symbols.name(x.name).cmp(self.symbols.name(y.name)));
        for entry in sorted {
            match &entry.value {
                AttrValue::Inherit(..) => {
                    self.s("inherit ");
                    self.sym(entry.name);
                    self.s(if nix { " ; " } else { "; " });
                }
                AttrValue::InheritFrom { source, .. } if !nix => {
                    self.inherit_from(a, *source, entry.name);
                    self.s("; ");
                }
                _ => {
                    self.sym(entry.name);
                    self.s(" = ");
                    self.attr_value(a, entry);
                    self.s("; ");
                }
            }
        }
        for d in &a.dynamic {
            self.dynamic_name(&d.name);
            self.s(" = ");
            self.expr(&d.value);
            self.s("; ");
        }
        self.out.push(b'}');
    }
}

/// C++ ostream's default float output (`%g` with 6 significant digits).
pub fn format_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "nan".into()
        } else if f > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sci = format!("{:.5e}", f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, f)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
