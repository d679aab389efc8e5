//! One REPL session: the evaluator, the variables in scope, the loaded files, and the
//! handling of one input (an expression, a binding or a `:` command).

use crate::print::Printer;
use crate::{Builder, Options};
use ferrix_eval::error::{ErrorKind, EvalError};
use ferrix_eval::value::{Attr, AttrSet, Thunk, Value};
use ferrix_eval::{Code, Evaluator, Pos};
use ferrix_parser::{Origin, Sym};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// What became of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Handled (printed a value, bound a name, ran a command or reported an error).
    Done,
    /// The input ends in the middle of an expression: read another line and try again.
    Incomplete,
    /// `:q`.
    Quit,
}

/// Output collected while handling an input: `out` for standard output (values), `err` for
/// standard error (messages and errors).
#[derive(Default)]
pub struct Sink {
    pub out: Vec<u8>,
    pub err: Vec<u8>,
}

impl Sink {
    /// Writes what was collected to the real standard output and error.
    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&self.out);
            let _ = o.flush();
            self.out.clear();
        }
        if !self.err.is_empty() {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(&self.err);
            let _ = e.flush();
            self.err.clear();
        }
    }

    fn message(&mut self, s: &str) {
        self.err.extend_from_slice(s.as_bytes());
        self.err.push(b'\n');
    }
}

/// Why an input failed.
enum Failure {
    /// An evaluation or parse error.
    Eval(Box<EvalError>),
    /// A plain message, printed after `error: `.
    Msg(String),
    /// The input is incomplete.
    Incomplete,
}

impl From<Box<EvalError>> for Failure {
    fn from(e: Box<EvalError>) -> Self {
        Failure::Eval(e)
    }
}

type Res<T> = Result<T, Failure>;

/// The REPL's commands: name, long name, argument, description (for `:?` and completion).
pub(crate) const COMMANDS: &[(&str, &str, &str, &str)] = &[
    (":?", ":help", "", "Show this help"),
    (
        ":a",
        ":add",
        "<expr>",
        "Put the attributes of the set <expr> in scope",
    ),
    (
        ":b",
        ":build",
        "<expr>",
        "Build the derivation <expr> and show its outputs",
    ),
    (
        ":e",
        ":edit",
        "<expr>",
        "Open the file defining <expr> (a package or function) in $EDITOR",
    ),
    (
        ":i",
        ":install",
        "<expr>",
        "Build the derivation <expr> and install it in the profile",
    ),
    (
        ":l",
        ":load",
        "<path>",
        "Load the Nix file <path> and put its attributes in scope",
    ),
    (
        ":lf",
        ":load-flake",
        "<ref>",
        "Load a flake (Ferrix has no flakes)",
    ),
    (
        ":p",
        ":print",
        "<expr>",
        "Evaluate <expr> and print it completely",
    ),
    (":q", ":quit", "", "Leave the REPL"),
    (
        ":r",
        ":reload",
        "",
        "Forget the variables and load the files again",
    ),
    (
        ":s",
        ":shell",
        "<expr>",
        "Build the dependencies of <expr> and start a nix-shell",
    ),
    (
        ":t",
        ":type",
        "<expr>",
        "Show the type of the value of <expr>",
    ),
    (
        ":u",
        ":use",
        "<expr>",
        "Build <expr> and start a nix-shell with it",
    ),
    (
        ":doc",
        ":doc",
        "<expr>",
        "Show the documentation of a builtin function",
    ),
    (
        ":log",
        ":log",
        "<expr>",
        "Show the build log of the derivation <expr>",
    ),
    (
        ":st",
        ":show-trace",
        "[bool]",
        "Show error traces: on, off, or toggle",
    ),
];

fn help_text() -> String {
    let mut s = String::from("The following commands are available:\n\n");
    s.push_str(&format!(
        "  {:<14}{}\n",
        "<expr>", "Evaluate <expr> and print its value"
    ));
    s.push_str(&format!(
        "  {:<14}{}\n",
        "<x> = <expr>", "Bind the name <x> to <expr>"
    ));
    for (short, _, arg, what) in COMMANDS {
        let head = if arg.is_empty() {
            short.to_string()
        } else {
            format!("{short} {arg}")
        };
        s.push_str(&format!("  {head:<14}{what}\n"));
    }
    s.push_str(
        "\nAn expression may span several lines: the REPL waits for more while it is\n\
         incomplete. Ctrl-C stops an evaluation, Ctrl-D leaves. Tab completes names,\n\
         attribute paths, commands and, after :l, file names.",
    );
    s
}

pub struct Session<'a, 'b> {
    pub ev: Evaluator<'a>,
    /// The variables in scope, by symbol.
    scope: RefCell<BTreeMap<Sym, &'a Thunk<'a>>>,
    /// The files given at start-up and loaded with `:l`, reloaded by `:r`.
    files: RefCell<Vec<String>>,
    /// `--arg` / `--argstr`, sorted by name. (A collection between lines moves them.)
    auto_args: RefCell<Vec<Attr<'a>>>,
    builder: &'b dyn Builder,
    color: bool,
    store_dir: String,
}

fn cwd() -> Vec<u8> {
    std::env::current_dir()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_else(|_| b"/".to_vec())
}

/// A name `x = …` can bind: Nix's identifiers, minus keywords.
fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-'))
        && !matches!(
            s,
            "if" | "then" | "else" | "assert" | "with" | "let" | "in" | "rec" | "inherit" | "or"
        )
}

/// A binding `name = expr`, as Nix's REPL recognises it: the text before the first `=`
/// (which must not start `==`) is a variable name.
fn split_binding(input: &str) -> Option<(&str, &str)> {
    let p = input.find('=')?;
    if input[p + 1..].starts_with('=') {
        return None;
    }
    let name = input[..p].trim();
    is_var_name(name).then(|| (name, &input[p + 1..]))
}

impl<'a, 'b> Session<'a, 'b> {
    /// A session around an evaluator with the builtins installed. Errors show their trace
    /// when the evaluator's `show-trace` is on (`:st` turns it on and off).
    pub fn new(
        ev: Evaluator<'a>,
        opts: &Options,
        builder: &'b dyn Builder,
        color: bool,
        store_dir: String,
    ) -> Self {
        let mut s = Session {
            ev,
            scope: RefCell::new(BTreeMap::new()),
            files: RefCell::new(opts.files.clone()),
            auto_args: RefCell::new(Vec::new()),
            builder,
            color,
            store_dir,
        };
        s.auto_args = RefCell::new(s.make_auto_args(opts));
        s
    }

    /// Between two lines, collects the evaluator's arena once it has grown enough (see
    /// `ferrix_eval::gc`): what the session's variables and `--arg`s reach is kept, the
    /// garbage of the lines evaluated so far goes. A long session so stays bounded.
    pub fn collect_if_due(&self) -> Option<ferrix_eval::Collection> {
        if !self.ev.wants_collection() {
            return None;
        }
        let mut scope = self.scope.borrow_mut();
        let mut auto_args = self.auto_args.borrow_mut();
        let mut roots: Vec<&mut &'a Thunk<'a>> = scope
            .values_mut()
            .chain(auto_args.iter_mut().map(|a| &mut a.value))
            .collect();
        // SAFETY: between lines nothing refers to the evaluator's values but the session's
        // variables and `--arg`s, passed here: a line's value is printed (as bytes) before
        // it ends, completion holds values only while it runs, and the builder and the
        // plugins keep none across calls.
        Some(unsafe { self.ev.collect(&mut [], &mut roots) })
    }

    /// `--arg` values are parsed now and evaluated when used; one that does not parse is
    /// reported and left out.
    fn make_auto_args(&self, opts: &Options) -> Vec<Attr<'a>> {
        let ev = &self.ev;
        let mut out: Vec<Attr<'a>> = Vec::new();
        for (name, expr) in &opts.args {
            match ev.parse(expr.as_bytes(), Origin::String, &cwd()) {
                Ok(code) => out.push(Attr {
                    name: ev.intern(name.as_bytes()),
                    value: ev.code_thunk(code),
                    pos: Pos::NONE,
                }),
                Err(e) => {
                    let mut msg = ev.render_error(&e, false);
                    msg.push(b'\n');
                    let _ = std::io::stderr().write_all(&msg);
                }
            }
        }
        for (name, value) in &opts.argstrs {
            out.push(Attr {
                name: ev.intern(name.as_bytes()),
                value: ev.alloc_thunk(ev.string(value.as_bytes())),
                pos: Pos::NONE,
            });
        }
        // The last of several values for one name wins.
        out.reverse();
        out.sort_by_key(|a| a.name);
        out.dedup_by_key(|a| a.name);
        out
    }

    fn printer(&self) -> Printer<'_, 'a> {
        Printer {
            ev: &self.ev,
            color: self.color,
            store_dir: &self.store_dir,
        }
    }

    /// The names in scope, sorted.
    pub fn scope_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .scope
            .borrow()
            .keys()
            .map(|s| self.ev.sym_name(*s))
            .collect();
        v.sort();
        v
    }

    /// The global names (builtins), for completion.
    pub fn global_names(&self) -> Vec<String> {
        self.ev
            .globals()
            .names()
            .iter()
            .map(|s| self.ev.sym_name(*s))
            .collect()
    }

    /// Parses `text` with the variables in scope; `Incomplete` when it ends too early.
    fn parse(&self, text: &str) -> Res<Code<'a>> {
        let scope: Vec<(Sym, &'a Thunk<'a>)> =
            self.scope.borrow().iter().map(|(&s, &t)| (s, t)).collect();
        match self
            .ev
            .parse_in_scope(text.as_bytes(), Origin::String, &cwd(), &scope)
        {
            Ok(code) => Ok(code),
            Err(e) if e.parse_kind() == Some(&ferrix_parser::actions::ErrorKind::UnexpectedEnd) => {
                Err(Failure::Incomplete)
            }
            Err(e) => Err(Failure::Eval(e)),
        }
    }

    /// Evaluates `text` to weak head normal form.
    fn eval_text(&self, text: &str) -> Res<Value<'a>> {
        let code = self.parse(text)?;
        Ok(self.ev.eval_code(code)?)
    }

    /// Evaluates `text` quietly, for completion: `None` if it fails or is incomplete.
    pub(crate) fn try_eval(&self, text: &str) -> Option<Value<'a>> {
        self.eval_text(text).ok()
    }

    fn add_var(&self, name: Sym, value: &'a Thunk<'a>) {
        self.scope.borrow_mut().insert(name, value);
    }

    fn add_attrs(&self, set: &AttrSet<'a>) -> usize {
        let mut scope = self.scope.borrow_mut();
        for a in set.attrs() {
            scope.insert(a.name, a.value);
        }
        set.attrs().len()
    }

    /// Handles one complete or partial input (lines joined with newlines).
    pub fn process(&self, input: &str, sink: &mut Sink) -> Step {
        let text = input.trim();
        if text.is_empty() {
            return Step::Done;
        }
        match self.process_inner(text, sink) {
            Ok(step) => step,
            Err(Failure::Incomplete) => Step::Incomplete,
            Err(Failure::Eval(e)) => {
                self.report(&e, sink);
                Step::Done
            }
            Err(Failure::Msg(m)) => {
                sink.message(&format!("error: {m}"));
                Step::Done
            }
        }
    }

    fn report(&self, e: &EvalError, sink: &mut Sink) {
        let msg = self.ev.render_error(e, self.ev.show_trace());
        sink.err.extend_from_slice(&msg);
        sink.err.push(b'\n');
    }

    fn process_inner(&self, text: &str, sink: &mut Sink) -> Res<Step> {
        if text.starts_with(':') {
            let (cmd, arg) = match text.find(char::is_whitespace) {
                Some(i) => (&text[..i], text[i..].trim()),
                None => (text, ""),
            };
            return self.command(cmd, arg, sink);
        }
        if let Some((name, expr)) = split_binding(text) {
            let code = self.parse(expr)?;
            let sym = self.ev.intern(name.as_bytes());
            self.add_var(sym, self.ev.code_thunk(code));
            return Ok(Step::Done);
        }
        let v = self.eval_text(text)?;
        self.print_value(v, 1, sink)?;
        Ok(Step::Done)
    }

    fn print_value(&self, v: Value<'a>, depth: usize, sink: &mut Sink) -> Res<()> {
        let mut buf = Vec::new();
        self.printer().print(v, depth, &mut buf)?;
        sink.out.extend_from_slice(&buf);
        sink.out.push(b'\n');
        Ok(())
    }

    fn need_arg(cmd: &str, arg: &str) -> Res<()> {
        if arg.is_empty() {
            return Err(Failure::Msg(format!("command '{cmd}' needs an argument")));
        }
        Ok(())
    }

    fn command(&self, cmd: &str, arg: &str, sink: &mut Sink) -> Res<Step> {
        let Some(&(short, ..)) = COMMANDS.iter().find(|c| c.0 == cmd || c.1 == cmd) else {
            return Err(Failure::Msg(format!("unknown command '{cmd}'")));
        };
        match short {
            ":?" => {
                sink.out.extend_from_slice(help_text().as_bytes());
                sink.out.push(b'\n');
            }
            ":q" => return Ok(Step::Quit),
            ":a" => {
                Self::need_arg(cmd, arg)?;
                let v = self.eval_text(arg)?;
                let set = self.force_set(v)?;
                let n = self.add_attrs(set);
                sink.message(&format!("Added {n} variables."));
            }
            ":l" => {
                Self::need_arg(cmd, arg)?;
                let n = self.load_file(arg)?;
                self.files.borrow_mut().push(arg.to_string());
                sink.message(&format!("Added {n} variables."));
            }
            ":lf" => {
                return Err(Failure::Msg(
                    "Ferrix does not support flakes, so ':lf' is not available".into(),
                ))
            }
            ":r" => self.reload(sink),
            ":p" => {
                Self::need_arg(cmd, arg)?;
                let v = self.eval_text(arg)?;
                self.print_value(v, usize::MAX, sink)?;
            }
            ":t" => {
                Self::need_arg(cmd, arg)?;
                let v = self.eval_text(arg)?;
                sink.out.extend_from_slice(v.show_type().as_bytes());
                sink.out.push(b'\n');
            }
            ":doc" => {
                Self::need_arg(cmd, arg)?;
                let v = self.eval_text(arg)?;
                self.doc(v, sink)?;
            }
            ":st" => {
                let on = match arg {
                    "" => !self.ev.show_trace(),
                    "true" | "on" | "1" | "yes" => true,
                    "false" | "off" | "0" | "no" => false,
                    other => {
                        return Err(Failure::Msg(format!(
                            "unexpected argument '{other}' to :st"
                        )))
                    }
                };
                self.ev.set_show_trace(on);
                sink.message(if on {
                    "showing error traces"
                } else {
                    "not showing error traces"
                });
            }
            ":e" => {
                Self::need_arg(cmd, arg)?;
                self.edit(arg, sink)?;
            }
            ":b" => {
                Self::need_arg(cmd, arg)?;
                let drv = self.drv_path_of(arg)?;
                let outputs = self.builder.build(&drv).map_err(Failure::Msg)?;
                let mut s = String::from("\nThis derivation produced the following outputs:\n");
                for (name, path) in outputs {
                    s.push_str(&format!("  {name} -> {path}\n"));
                }
                sink.out.extend_from_slice(s.as_bytes());
            }
            ":log" => {
                Self::need_arg(cmd, arg)?;
                let drv = self.drv_path_of(arg)?;
                let log = self.builder.build_log(&drv).map_err(Failure::Msg)?;
                sink.out.extend_from_slice(&log);
                if !log.ends_with(b"\n") {
                    sink.out.push(b'\n');
                }
            }
            ":i" => {
                Self::need_arg(cmd, arg)?;
                self.drv_path_of(arg)?;
                return Err(Failure::Msg(
                    "Ferrix has no profiles yet, so ':i' cannot install anything".into(),
                ));
            }
            ":s" | ":u" => {
                Self::need_arg(cmd, arg)?;
                self.drv_path_of(arg)?;
                return Err(Failure::Msg(format!(
                    "Ferrix has no nix-shell yet, so '{short}' cannot start a shell"
                )));
            }
            _ => return Err(Failure::Msg(format!("unknown command '{cmd}'"))),
        }
        Ok(Step::Done)
    }

    fn force_set(&self, v: Value<'a>) -> Res<&'a AttrSet<'a>> {
        match v {
            Value::Attrs(s) => Ok(s),
            other => Err(Failure::Msg(format!(
                "value is {} while a set was expected",
                other.show_type()
            ))),
        }
    }

    /// The `.drv` path of the derivation `expr` evaluates to.
    fn drv_path_of(&self, expr: &str) -> Res<String> {
        let v = self.eval_text(expr)?;
        let not_drv = || {
            Failure::Msg("expression does not evaluate to a derivation, so I can't build it".into())
        };
        let Value::Attrs(set) = v else {
            return Err(not_drv());
        };
        if !self.ev.is_derivation(set, Pos::NONE)? {
            return Err(not_drv());
        }
        let Some(a) = set.get(self.ev.intern(b"drvPath")) else {
            return Err(not_drv());
        };
        match self.ev.force(a.value, a.pos)? {
            Value::Str(s) | Value::Path(s) => Ok(String::from_utf8_lossy(s.bytes).into_owned()),
            _ => Err(not_drv()),
        }
    }

    /// `:doc`: the documentation of a builtin, or of a partly applied one.
    fn doc(&self, v: Value<'a>, sink: &mut Sink) -> Res<()> {
        let op = match v {
            Value::PrimOp(op) => op,
            Value::PrimOpApp(app) => app.op,
            _ => return Err(Failure::Msg("value does not have documentation".into())),
        };
        if op.doc.is_empty() {
            return Err(Failure::Msg("value does not have documentation".into()));
        }
        let (usage, body) = ferrix_primops::docs::split_usage(op.name, op.doc);
        let mut s = String::new();
        let (bold, normal) = if self.color {
            ("\x1b[1m", "\x1b[0m")
        } else {
            ("", "")
        };
        match usage {
            Some(args) if !args.is_empty() => s.push_str(&format!(
                "{bold}Synopsis:{normal} builtins.{} {args}\n\n",
                op.name
            )),
            _ => s.push_str(&format!("{bold}Synopsis:{normal} builtins.{}\n\n", op.name)),
        }
        let lines: Vec<String> = body
            .lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("    {l}")
                }
            })
            .collect();
        s.push_str(&lines.join("\n"));
        s.push('\n');
        sink.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// Nix's `autoCallFunction`: a function taking a set is called with the `--arg`s it
    /// accepts; anything else stays as it is.
    fn auto_call(&self, v: Value<'a>) -> Result<Value<'a>, Box<EvalError>> {
        let ev = &self.ev;
        if let Value::Attrs(set) = v {
            if let Some(f) = set.get(ev.syms().functor) {
                let fv = ev.force(f.value, Pos::NONE)?;
                let r = ev.call(fv, ev.alloc_thunk(v), Pos::NONE)?;
                return self.auto_call(r);
            }
        }
        let Value::Lambda(c) = v else { return Ok(v) };
        let Some(formals) = c.lambda().formals() else {
            return Ok(v);
        };
        let mut given: Vec<Attr<'a>> = Vec::new();
        let auto_args = self.auto_args.borrow().clone();
        if formals.ellipsis() {
            given.extend_from_slice(&auto_args);
        } else {
            for f in formals.entries() {
                match auto_args.binary_search_by_key(&f.name(), |a| a.name) {
                    Ok(i) => given.push(auto_args[i]),
                    Err(_) if f.has_default() => {}
                    Err(_) => {
                        return Err(EvalError::eval(
                            format!(
                                "cannot evaluate a function that has an argument without a value ('{}')\n\n\
                                 The file's top-level function needs this argument: give it a value with\n\
                                 '--arg {} <expr>' or '--argstr {} <string>'.",
                                ev.sym_name(f.name()),
                                ev.sym_name(f.name()),
                                ev.sym_name(f.name())
                            ),
                            Pos::of(f.pos()),
                        ))
                    }
                }
            }
        }
        ev.call(v, ev.alloc_thunk(ev.make_attrs(given)), Pos::NONE)
    }

    /// The file a `:l` argument names: `<p>` is looked up in the search path, anything else
    /// is a path relative to the working directory.
    fn resolve_file(&self, arg: &str) -> Res<PathBuf> {
        let bytes = if arg.starts_with('<') && arg.ends_with('>') {
            match self.eval_text(arg)? {
                Value::Path(p) | Value::Str(p) => p.bytes.to_vec(),
                other => {
                    return Err(Failure::Msg(format!(
                        "'{arg}' is {} rather than a path",
                        other.show_type()
                    )))
                }
            }
        } else if let Some(rest) = arg.strip_prefix("~/") {
            let mut p = self.ev.home().to_vec();
            p.push(b'/');
            p.extend_from_slice(rest.as_bytes());
            p
        } else if arg.starts_with('/') {
            arg.as_bytes().to_vec()
        } else {
            let mut p = cwd();
            p.push(b'/');
            p.extend_from_slice(arg.as_bytes());
            p
        };
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(
            &ferrix_parser::actions::canon_path(&bytes),
        )))
    }

    /// Loads a file and puts its attributes in scope; returns how many.
    fn load_file(&self, arg: &str) -> Res<usize> {
        let path = self.resolve_file(arg)?;
        let t = self.ev.import_file(&path, None)?;
        let v = self.ev.force(t, Pos::NONE)?;
        let v = self.auto_call(v)?;
        let set = self.force_set(v)?;
        Ok(self.add_attrs(set))
    }

    fn load_one(&self, file: &str, sink: &mut Sink) {
        sink.message(&format!("Loading '{file}'..."));
        match self.load_file(file) {
            Ok(n) => sink.message(&format!("Added {n} variables.")),
            Err(Failure::Eval(e)) => self.report(&e, sink),
            Err(Failure::Msg(m)) => sink.message(&format!("error: {m}")),
            Err(Failure::Incomplete) => {}
        }
    }

    /// Loads the files given at start-up.
    pub fn load_startup_files(&self, sink: &mut Sink) {
        self.load_all(sink);
        if !self.files.borrow().is_empty() {
            sink.err.push(b'\n');
        }
    }

    fn load_all(&self, sink: &mut Sink) {
        let files = self.files.borrow().clone();
        for (i, f) in files.iter().enumerate() {
            if i > 0 {
                sink.err.push(b'\n');
            }
            self.load_one(f, sink);
            // A Ctrl-C that stopped this file does not stop the next.
            ferrix_eval::INTERRUPTED.store(false, std::sync::atomic::Ordering::Relaxed);
            // Show progress file by file.
            sink.flush();
        }
    }

    /// `:r`: forget every variable and load the files again, rereading them from disk.
    fn reload(&self, sink: &mut Sink) {
        self.scope.borrow_mut().clear();
        self.ev.reset_file_cache();
        self.load_all(sink);
    }

    /// `:e`: opens the definition of a function, a package (its `meta.position`) or the
    /// last attribute of an attribute path in `$EDITOR`, then reloads the files.
    fn edit(&self, arg: &str, sink: &mut Sink) -> Res<()> {
        let v = self.eval_text(arg)?;
        let (file, line) = match v {
            Value::Path(p) | Value::Str(p) => (String::from_utf8_lossy(p.bytes).into_owned(), None),
            Value::Lambda(c) => {
                let (file, line, _) = self.ev.pos_parts(c.pos());
                (file, Some(line))
            }
            Value::Attrs(set) => match self.package_position(arg, set)? {
                Some(p) => p,
                None => {
                    return Err(Failure::Msg(format!(
                        "package '{arg}' has no source location information"
                    )))
                }
            },
            _ => {
                return Err(Failure::Msg(format!(
                    "cannot tell where '{arg}' is defined: it is {}",
                    v.show_type()
                )))
            }
        };
        if file.is_empty() || !file.starts_with('/') {
            return Err(Failure::Msg(format!("'{arg}' is not defined in a file")));
        }
        let editor = std::env::var("EDITOR").unwrap_or_else(|_| "cat".into());
        let mut words = editor.split_whitespace();
        let Some(program) = words.next() else {
            return Err(Failure::Msg("$EDITOR is empty".into()));
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(words);
        let base = program.rsplit('/').next().unwrap_or(program);
        if let Some(line) = line {
            if [
                "vi",
                "vim",
                "nvim",
                "emacs",
                "emacsclient",
                "nano",
                "kak",
                "hx",
                "micro",
                "mg",
            ]
            .contains(&base)
            {
                cmd.arg(format!("+{line}"));
            }
        }
        cmd.arg(&file);
        sink.flush();
        match cmd.status() {
            Ok(st) if !st.success() => sink.message(&format!("warning: '{editor}' failed ({st})")),
            Ok(_) => {}
            Err(e) => {
                return Err(Failure::Msg(format!(
                    "cannot run the editor '{editor}': {}",
                    ferrix_eval::io_reason(&e)
                )))
            }
        }
        self.reload(sink);
        Ok(())
    }

    /// Where a package is defined: its `meta.position` (`file:line`), as nixpkgs sets it;
    /// failing that, for `a.b.c`, the position of the attribute `c` in `a.b`.
    fn package_position(
        &self,
        arg: &str,
        set: &AttrSet<'a>,
    ) -> Res<Option<(String, Option<usize>)>> {
        if let Some(meta) = set.get(self.ev.intern(b"meta")) {
            if let Ok(Value::Attrs(meta)) = self.ev.force(meta.value, Pos::NONE) {
                if let Some(p) = meta.get(self.ev.intern(b"position")) {
                    if let Value::Str(s) = self.ev.force(p.value, Pos::NONE)? {
                        let s = String::from_utf8_lossy(s.bytes).into_owned();
                        return Ok(Some(match s.rsplit_once(':') {
                            Some((f, l)) if l.parse::<usize>().is_ok() => {
                                (f.to_string(), l.parse().ok())
                            }
                            _ => (s, None),
                        }));
                    }
                }
            }
        }
        if let Some((head, last)) = arg.trim().rsplit_once('.') {
            let last = last.trim();
            if is_var_name(last) {
                if let Ok(Value::Attrs(parent)) = self.eval_text(head) {
                    if let Some(a) = parent.get(self.ev.intern(last.as_bytes())) {
                        if !a.pos.is_none() {
                            let (file, line, _) = self.ev.pos_parts(a.pos);
                            return Ok(Some((file, Some(line))));
                        }
                    }
                }
            }
        }
        if !set.pos.is_none() {
            let (file, line, _) = self.ev.pos_parts(set.pos);
            return Ok(Some((file, Some(line))));
        }
        Ok(None)
    }

    /// Whether the error is one that `«error: …»` may stand for inside a printed value.
    pub(crate) fn is_catchable(e: &EvalError) -> bool {
        matches!(e.kind, ErrorKind::Throw | ErrorKind::Assert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings() {
        assert_eq!(split_binding("x = 1"), Some(("x", " 1")));
        assert_eq!(split_binding("  foo-bar' =[1]"), Some(("foo-bar'", "[1]")));
        assert_eq!(split_binding("x == 1"), None);
        assert_eq!(split_binding("a b = 1"), None);
        assert_eq!(split_binding("x.y = 1"), None);
        assert_eq!(split_binding("let = 1"), None);
        assert_eq!(split_binding("{ a = 1; }"), None);
        assert_eq!(split_binding("x <= 1"), None);
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;
    use crate::{print, NoBuilder};
    use ferrix_primops::WithBuiltins;

    /// Runs `lines` in a fresh session without colours; returns (stdout, stderr) per line.
    fn run(lines: &[&str]) -> Vec<(String, String)> {
        let bump = bumpalo::Bump::new();
        let ev = Evaluator::builder(&bump)
            .builtins(&ferrix_primops::Config::default())
            .build();
        let s = Session::new(
            ev,
            &Options::default(),
            &NoBuilder,
            false,
            "/nix/store".into(),
        );
        let mut input = String::new();
        let mut res = Vec::new();
        for l in lines {
            input.push_str(l);
            input.push('\n');
            let mut sink = Sink::default();
            if s.process(&input, &mut sink) != Step::Incomplete {
                input.clear();
            }
            res.push((
                String::from_utf8_lossy(&sink.out).into_owned(),
                String::from_utf8_lossy(&sink.err).into_owned(),
            ));
        }
        res
    }

    fn out(line: &str) -> String {
        run(&[line]).remove(0).0
    }

    #[test]
    fn prints_as_nix_repl() {
        // Expected texts recorded from Nix 2.8's `nix repl` (colours aside).
        let cases = [
            ("{ a = { b = 1; }; l = [ 1 2 [ 3 ] ]; }", "{ a = { ... }; l = [ ... ]; }\n"),
            (":p { a = { b = 1; }; l = [ 1 2 [ 3 ] ]; }", "{ a = { b = 1; }; l = [ 1 2 [ 3 ] ]; }\n"),
            ("builtins.map", "«primop»\n"),
            ("map (x: x)", "«primop-app»\n"),
            ("x: x", "«lambda @ (string):1:1»\n"),
            ("1.0", "1\n"),
            ("0.1", "0.1\n"),
            ("\"a\\nb${\"x\"}\\$\"", "\"a\\nbx$\"\n"),
            ("\"$\" + \"{x}\"", "\"${x}\"\n"),
            ("let r = { a = r; }; in r", "{ a = { ... }; }\n"),
            ("let l = [1]; in [ l l ]", "[ [ ... ] «repeated» ]\n"),
            ("let e = {}; in [ e e ]", "[ { ... } «repeated» ]\n"),
            (":p let s = {x=1;}; in [ s s ]", "[ { x = 1; } «repeated» ]\n"),
            ("[ (throw \"no\") ]", "[ «error: no» ]\n"),
            ("{ a = { b = throw \"x\"; }.b; }", "{ a = «error: x»; }\n"),
            ("{ \"a b\" = 1; \"in\" = 2; }", "{ \"a b\" = 1; in = 2; }\n"),
            ("{}", "{ }\n"),
            ("[]", "[ ]\n"),
            (
                "{ d = { type = \"derivation\"; drvPath = \"/nix/store/00000000000000000000000000000000-foo.drv\"; }; }",
                "{ d = «derivation /nix/store/00000000000000000000000000000000-foo.drv»; }\n",
            ),
            ("[ { type = \"derivation\"; } ]", "[ «derivation ???» ]\n"),
            (":t map", "the built-in function 'map'\n"),
            (":t {}", "a set\n"),
        ];
        for (input, want) in cases {
            assert_eq!(out(input), want, "input: {input}");
        }
    }

    #[test]
    fn errors_bindings_and_continuation() {
        let r = run(&[
            "x = 1",
            "y = x + 1",
            "x = 10",
            "x + y",
            "let a = 1;",
            "in a",
            "1 + \"x\"",
        ]);
        assert_eq!(r[3].0, "12\n");
        assert_eq!(r[4], (String::new(), String::new()));
        assert_eq!(r[5].0, "1\n");
        assert!(
            r[6].1
                .starts_with("error: cannot add a string to an integer"),
            "{}",
            r[6].1
        );
        let r =
            run(&["{ drv = { type = \"derivation\"; drvPath = \"/nix/store/abc-foo.drv\"; }; }"]);
        assert!(r[0]
            .1
            .contains("path '/nix/store/abc-foo.drv' is not in the Nix store"));
        let r = run(&[":p", ":t", ":foo", ":st maybe", ":doc (x: x)"]);
        assert_eq!(r[0].1, "error: command ':p' needs an argument\n");
        assert_eq!(r[2].1, "error: unknown command ':foo'\n");
        assert_eq!(r[3].1, "error: unexpected argument 'maybe' to :st\n");
        assert_eq!(r[4].1, "error: value does not have documentation\n");
    }

    #[test]
    fn doc_of_every_builtin() {
        let bump = bumpalo::Bump::new();
        let ev = Evaluator::builder(&bump)
            .builtins(&ferrix_primops::Config::default())
            .build();
        let s = Session::new(
            ev,
            &Options::default(),
            &NoBuilder,
            false,
            "/nix/store".into(),
        );
        // Every function declared, from the declaration's own text.
        let mut n = 0;
        for b in ferrix_primops::tables().iter().flat_map(|t| t.iter()) {
            let ferrix_primops::Item::Function(op) = &b.item else {
                continue;
            };
            let mut sink = Sink::default();
            s.process(
                &format!(":doc builtins.{}", print::attr_name(op.name)),
                &mut sink,
            );
            let text = String::from_utf8_lossy(&sink.out);
            let (usage, body) = ferrix_primops::docs::split_usage(op.name, op.doc);
            let synopsis = format!("Synopsis: builtins.{} {}", op.name, usage.unwrap());
            let first = body.lines().next().unwrap();
            assert!(
                text.starts_with(synopsis.trim_end()) && text.contains(first),
                "{}: {text}{}",
                op.name,
                String::from_utf8_lossy(&sink.err)
            );
            n += 1;
        }
        // `derivation` is a Nix function over `derivationStrict`, not a primop.
        assert_eq!(n, 98);
    }

    #[test]
    fn completion() {
        let bump = bumpalo::Bump::new();
        let ev = Evaluator::builder(&bump)
            .builtins(&ferrix_primops::Config::default())
            .build();
        let s = Session::new(
            ev,
            &Options::default(),
            &NoBuilder,
            false,
            "/nix/store".into(),
        );
        s.process(
            "pkgs = { hello = 1; help = 2; \"x y\" = 3; }",
            &mut Sink::default(),
        );
        assert_eq!(
            s.complete("builtins.toS", 12),
            (9, vec!["toString".to_string()])
        );
        assert_eq!(
            s.complete("1 + pkgs.hel", 12),
            (9, vec!["hello".into(), "help".into()])
        );
        assert_eq!(s.complete("pkgs.x", 6).1, vec!["\"x y\"".to_string()]);
        assert_eq!(s.complete("pk", 2), (0, vec!["pkgs".to_string()]));
        assert_eq!(s.complete(":do", 3), (0, vec![":doc".to_string()]));
        assert!(s.complete("nosuch.a", 8).1.is_empty());
    }
}
