//! The compile step's analysis, checked on its own and through evaluation. Cheap enough for
//! Miri, which then also checks that every scope and argument the analysis lets live on the
//! stack is really gone with it (a wrong fact is a use after free there).

use super::compile;
use crate::ir::{self, AttrName, AttrValue, Expr, ExprKind, Lambda, Part, Slot};
use crate::value::Value;
use crate::{Evaluator, Pos};
use ferrix_parser::{ast, Globals, Interner, Origin, SourceInfo};

/// Nix 2.8's global names, as test data: the corpus files below use them freely. (The
/// evaluation's own list is made from the builtins' declarations in `ferrix-primops`,
/// which this crate cannot depend on.)
const NIX_GLOBALS: &[&str] = &[
    "abort",
    "__add",
    "__addErrorContext",
    "__all",
    "__any",
    "__appendContext",
    "__attrNames",
    "__attrValues",
    "baseNameOf",
    "__bitAnd",
    "__bitOr",
    "__bitXor",
    "builtins",
    "__catAttrs",
    "__ceil",
    "__compareVersions",
    "__concatLists",
    "__concatMap",
    "__concatStringsSep",
    "__currentSystem",
    "__currentTime",
    "__deepSeq",
    "derivation",
    "derivationStrict",
    "dirOf",
    "__div",
    "__elem",
    "__elemAt",
    "false",
    "fetchGit",
    "fetchMercurial",
    "fetchTarball",
    "fetchTree",
    "__fetchurl",
    "__filter",
    "__filterSource",
    "__findFile",
    "__floor",
    "__foldl'",
    "__fromJSON",
    "fromTOML",
    "__functionArgs",
    "__genList",
    "__genericClosure",
    "__getAttr",
    "__getContext",
    "__getEnv",
    "__groupBy",
    "__hasAttr",
    "__hasContext",
    "__hashFile",
    "__hashString",
    "__head",
    "import",
    "__intersectAttrs",
    "__isAttrs",
    "__isBool",
    "__isFloat",
    "__isFunction",
    "__isInt",
    "__isList",
    "isNull",
    "__isPath",
    "__isString",
    "__langVersion",
    "__length",
    "__lessThan",
    "__listToAttrs",
    "map",
    "__mapAttrs",
    "__match",
    "__mul",
    "__nixPath",
    "__nixVersion",
    "null",
    "__parseDrvName",
    "__partition",
    "__path",
    "__pathExists",
    "placeholder",
    "__readDir",
    "__readFile",
    "removeAttrs",
    "__replaceStrings",
    "scopedImport",
    "__seq",
    "__sort",
    "__split",
    "__splitVersion",
    "__storeDir",
    "__storePath",
    "__stringLength",
    "__sub",
    "__substring",
    "__tail",
    "throw",
    "__toFile",
    "__toJSON",
    "__toPath",
    "toString",
    "__toXML",
    "__trace",
    "true",
    "__tryEval",
    "__typeOf",
    "__unsafeDiscardOutputDependency",
    "__unsafeDiscardStringContext",
    "__unsafeGetAttrPos",
    "__zipAttrsWith",
];

fn environment() -> (Interner, Globals) {
    ferrix_parser::base_environment(NIX_GLOBALS.iter().copied())
}

fn parse(src: &str, symbols: &mut Interner, globals: &Globals) -> ast::Expr {
    let info = SourceInfo {
        origin: Origin::String,
        base_dir: b"/",
        home: b"/home",
    };
    ferrix_parser::parse(src.as_bytes(), &info, symbols, globals)
        .unwrap_or_else(|d| panic!("{src}: {}", d.message))
}

fn lambda(e: &Expr) -> &Lambda {
    match &e.kind {
        ExprKind::Lambda(l) => l,
        _ => panic!("not a function"),
    }
}

/// Calls `check` with each of the functions `sources`, compiled together as the items of
/// one list (one parse: Miri takes seconds for each).
fn each_function(sources: &[&str], mut check: impl FnMut(&str, &Lambda)) {
    let (mut symbols, globals) = environment();
    let list: Vec<String> = sources.iter().map(|s| format!("({s})")).collect();
    let e = parse(&format!("[ {} ]", list.join(" ")), &mut symbols, &globals);
    let e = compile(e, &globals, 0, &[]).unwrap();
    let ExprKind::List(items) = &e.kind else {
        panic!("not a list")
    };
    assert_eq!(items.len(), sources.len());
    for (src, item) in sources.iter().zip(items.iter()) {
        check(src, lambda(item));
    }
}

#[test]
fn which_functions_keep_their_scope() {
    // Strict code over literals and variables keeps nothing.
    let keeps_nothing = [
        "x: x > 1000000",
        "x: if x < 0 then -x - 1 else x",
        "x: builtins.add x 1",
        "x: x.a.b or (x.c + 1)",
        "x: \"${x}-suffix\" + toString x",
        "{ a, b }: a ++ [ b 1 \"s\" ]",
        "{ a, b ? 2 }: a + b",
        "x: map x x",
        "x: x ? ${x}",
        "x: assert x; x",
        // A variable and a number: lazily they need only the variable's thunk.
        "x: x (x + 1)",
        "x: [ (x - 1) (2 * x) (x == 0) (x / 7) ]",
        // A plain set of such values.
        "x: { a = x; b = 1; c = x + 1; inherit x; inherit (x) d; }",
    ];
    each_function(&keeps_nothing, |src, l| assert!(!l.keeps_scope, "{src}"));
    // Closures, sets, nested scopes, lazy arguments and non-literal defaults keep it.
    let keeps = [
        "x: y: x",
        "x: { a = x.b; }",
        "x: rec { a = x; }",
        "x: { inherit (x.y) a; }",
        "x: { ${x} = x + x; }",
        "x: with x; { inherit a; }",
        "x: let y = x; in y",
        "x: with x; a",
        "x: x (x + x)",
        "x: x (x / 0)",
        "x: x (2 / x)",
        "x: [ (x.a + 1) ]",
        "{ a ? b, b }: a",
        "{ a ? \"s\" }: a",
        "x: (y: y) x",
        "x: map x [ x ]",
        "x: with x; [ a ]",
        "x: x.${toString (y: y)}",
        "x: assert x; y: x",
        "x: if x then y: x else x",
    ];
    each_function(&keeps, |src, l| assert!(l.keeps_scope, "{src}"));
}

/// `(arg_escapes, outer_arg_escapes)` of the function `x: y: …`'s inner function, and
/// `arg_escapes` of the outer one when it is `x: …` alone.
fn escapes(l: &Lambda) -> (bool, bool) {
    match &l.body.kind {
        ExprKind::Lambda(inner) => (inner.arg_escapes, inner.outer_arg_escapes),
        _ => (l.arg_escapes, true),
    }
}

#[test]
fn which_functions_keep_their_argument() {
    // Used only strictly: the argument's thunk may live on the stack.
    let strict = [
        "i: i * i + 1",
        "i: if i < 0 then -i else i",
        "i: i.a or i.b",
    ];
    each_function(&strict, |src, l| assert!(!escapes(l).0, "{src}"));
    // (`i: y: i` returns the value of `i`, not its thunk.)
    let strict = [
        "acc: x: acc + x",
        "acc: x: if acc then 1 else acc.y",
        "i: y: i",
    ];
    each_function(&strict, |src, l| assert!(!escapes(l).1, "{src}"));
    // Stored lazily, directly or inside a lazy value, or a scope is kept.
    let stored = [
        "i: [ i ]",
        "i: map i i",
        "i: map (i + 1) i",
        "i: { inherit i; }",
        "i: { a = i; }",
        "i: { inherit (i) a; }",
        "{ i }: i",
        "i: let j = i; in j",
    ];
    each_function(&stored, |src, l| assert!(escapes(l).0, "{src}"));
    let stored = [
        "acc: x: [ acc ]",
        "acc: x: map acc x",
        "acc: x: acc ++ [ (acc - 1) ]",
        "i: y: [ i ]",
        "i: y: z: i",
    ];
    each_function(&stored, |src, l| assert!(escapes(l).1, "{src}"));
}

/// Evaluates `src` fully and prints it as Nix does.
fn eval(ev: &Evaluator<'_>, src: &str) -> String {
    let code = ev.parse(src.as_bytes(), Origin::String, b"/").unwrap();
    let v = ev.eval_code(code).unwrap();
    show(ev, v)
}

fn show<'a>(ev: &Evaluator<'a>, v: Value<'a>) -> String {
    ev.force_deep(v, Pos::NONE).unwrap();
    let mut out = Vec::new();
    ev.print_value(v, &mut out);
    String::from_utf8(out).unwrap()
}

/// The probe and its relatives: closures and lazy values that capture an outer
/// function's argument make the analysis keep the scope (or the argument), and evaluating
/// them gives the captured value, through every call path (one and two arguments at once,
/// partial application, arguments that are values).
#[test]
fn closures_that_capture_an_outer_argument_keep_it() {
    let capturing = [
        // (function, arguments, result)
        ("x: y: x", "42 0", "42"),
        ("x: y: z: x", "1 2 3", "1"),
        ("x: y: z: [ x y z ]", "1 2 3", "[ 1 2 3 ]"),
        ("x: with { a = x; }; y: a", "7 0", "7"),
        ("x: with { }; y: x", "7 0", "7"),
        ("x: rec { a = x; b = a; }", "5", "{ a = 5; b = 5; }"),
        ("x: let a = x; in y: a", "3 0", "3"),
        (
            "x: { a = x.b; c = y: x.b; }",
            "{ b = 4; }",
            "{ a = 4; c = <LAMBDA>; }",
        ),
        ("x: [ (x.b) (y: x) ]", "{ b = 4; }", "[ 4 <LAMBDA> ]"),
        ("x: (y: y) x", "6", "6"),
        ("{ a, b ? a }: b", "{ a = 8; }", "8"),
    ];
    let functions: Vec<&str> = capturing.iter().map(|c| c.0).collect();
    each_function(&functions, |src, l| assert!(l.keeps_scope, "{src}"));
    let bump = bumpalo::Bump::new();
    let ev = Evaluator::builder(&bump).build();
    // All the calls in one list, which is one parse.
    let calls: Vec<String> = capturing
        .iter()
        .map(|(f, args, _)| format!("(({f}) {args})"))
        .collect();
    let wants: Vec<&str> = capturing.iter().map(|c| c.2).collect();
    assert_eq!(
        eval(&ev, &format!("[ {} ]", calls.join(" "))),
        format!("[ {} ]", wants.join(" "))
    );
    let cases = [
        // Partial application: the closure outlives the call that made it.
        ("let f = x: y: x; g = f 42; in [ (g 0) (g 1) ]", "[ 42 42 ]"),
        ("let f = x: y: x + y; in (x: x) (f 1) 2", "3"),
        (
            "let k = x: y: x; fs = [ (k 1) (k 2) ]; in fs",
            "[ <LAMBDA> <LAMBDA> ]",
        ),
        (
            "let k = x: y: x; a = k 1; b = k 2; in [ (a 0) (b 0) ]",
            "[ 1 2 ]",
        ),
        // An argument stored lazily, without its scope.
        ("(i: { a = i; }) (1 + 1)", "{ a = 2; }"),
        ("(i: [ i (i + 1) ]) 2", "[ 2 3 ]"),
        ("(acc: x: [ acc x ]) 1 2", "[ 1 2 ]"),
        ("(x: { inherit (x) b; }) { b = 9; }", "{ b = 9; }"),
    ];
    let srcs: Vec<String> = cases.iter().map(|(src, _)| format!("({src})")).collect();
    let wants: Vec<&str> = cases.iter().map(|c| c.1).collect();
    assert_eq!(
        eval(&ev, &format!("[ {} ]", srcs.join(" "))),
        format!("[ {} ]", wants.join(" "))
    );
}

/// `call_value` and `call2_value` put an argument that already is a value on the stack
/// when the analysis allows it (`genList`, `foldl'`); a function that keeps it must get it
/// in the arena, or the result would read a dead stack slot.
#[test]
fn arguments_given_as_values_survive_when_kept() {
    let bump = bumpalo::Bump::new();
    let ev = Evaluator::builder(&bump).build();
    let one = [
        ("i: [ i ]", "[ 5 ]"),
        ("i: { a = i; }", "{ a = 5; }"),
        ("i: y: i", "<LAMBDA>"),
        ("i: i * i + 1", "26"),
    ];
    let two = [
        ("acc: x: [ acc ]", "[ 5 ]"),
        ("acc: x: { a = acc; b = x; }", "{ a = 5; b = 2; }"),
        ("acc: x: z: acc", "<LAMBDA>"),
        ("acc: x: acc + x", "7"),
    ];
    // The functions, from one parse.
    let all: Vec<String> = one
        .iter()
        .chain(&two)
        .map(|(f, _)| format!("({f})"))
        .collect();
    let src = format!("[ {} ]", all.join(" "));
    let code = ev.parse(src.as_bytes(), Origin::String, b"/").unwrap();
    let Value::List(functions) = ev.eval_code(code).unwrap() else {
        panic!("not a list")
    };
    let function = |i: usize| ev.force(functions.items[i], Pos::NONE).unwrap();
    for (i, (f, want)) in one.iter().enumerate() {
        let v = ev
            .call_value(function(i), Value::Int(5), Pos::NONE)
            .unwrap();
        assert_eq!(show(&ev, v), *want, "{f}");
    }
    let y = ev.alloc_thunk(Value::Int(2));
    for (i, (f, want)) in two.iter().enumerate() {
        let f2 = function(one.len() + i);
        let v = ev.call2_value(f2, Value::Int(5), y, Pos::NONE).unwrap();
        assert_eq!(show(&ev, v), *want, "{f}");
    }
    // Results that were lambdas still see their argument once called.
    let v = ev
        .call_value(function(2), Value::Int(5), Pos::NONE)
        .unwrap();
    let v = ev.call_value(v, Value::Null, Pos::NONE).unwrap();
    assert_eq!(show(&ev, v), "5");
    let f2 = function(one.len() + 2);
    let v = ev.call2_value(f2, Value::Int(5), y, Pos::NONE).unwrap();
    let v = ev.call_value(v, Value::Null, Pos::NONE).unwrap();
    assert_eq!(show(&ev, v), "5");
}

/// Slots as the compile step numbers them, including scopes of names, `@` arguments,
/// `with`, `inherit` and globals.
#[test]
fn slots_follow_the_scopes_the_evaluator_builds() {
    let (mut symbols, globals) = environment();
    let s = |symbols: &mut Interner, n: &str| symbols.intern(n.as_bytes());
    let (a, b, z) = (
        s(&mut symbols, "a"),
        s(&mut symbols, "b"),
        s(&mut symbols, "z"),
    );
    let src = "{ b, a } @ args: let z = a; in with args; [ b args z q map ]";
    let e = parse(src, &mut symbols, &globals);
    let e = compile(e, &globals, 100, &[]).unwrap();
    let mut slots = Vec::new();
    collect_ir(&e, &mut slots);
    let map = globals.slot(symbols.intern(b"map")).unwrap();
    // `args` is slot 0, then the formals sorted by symbol.
    let (ia, ib) = if a < b { (1, 2) } else { (2, 1) };
    assert_eq!(
        slots,
        vec![
            Slot::Local { up: 1, index: ia }, // z = a, in the let's scope
            Slot::Local { up: 1, index: 0 },  // with args
            Slot::Local { up: 2, index: ib }, // b
            Slot::Local { up: 2, index: 0 },  // args
            Slot::Local { up: 1, index: 0 },  // z
            Slot::With { up: 0 },             // q
            Slot::Global(map),
        ]
    );
    // Positions are absolute: the file's base is added.
    assert_eq!(lambda(&e).start, 100);
    // A scope of names around the code: its slots are those names, in order.
    let mut names = [z, a];
    names.sort();
    let in_scope = |src: &str, symbols: &mut Interner| {
        let info = SourceInfo {
            origin: Origin::String,
            base_dir: b"/",
            home: b"/home",
        };
        ferrix_parser::parse_in_scope(src.as_bytes(), &info, symbols, &globals, &names).unwrap()
    };
    let e = compile(in_scope("[ z a ]", &mut symbols), &globals, 0, &names).unwrap();
    let mut slots = Vec::new();
    collect_ir(&e, &mut slots);
    let index = |n| names.iter().position(|&x| x == n).unwrap() as u32;
    assert_eq!(
        slots,
        vec![
            Slot::Local {
                up: 0,
                index: index(z)
            },
            Slot::Local {
                up: 0,
                index: index(a)
            },
        ]
    );
    // A name the compile step cannot find (here: the parser was told of a scope the code
    // is not compiled in) is an error, not a slot.
    let err = compile(in_scope("[ a.b z ]", &mut symbols), &globals, 0, &[]).unwrap_err();
    assert_eq!((err.name, err.offset), (a, 2));
}

/// The variables of an evaluator's compiled code, in tree order.
fn collect_ir(e: &Expr, out: &mut Vec<Slot>) {
    let path = |p: &[AttrName], out: &mut Vec<Slot>| {
        for n in p {
            if let AttrName::Dynamic(d) = n {
                collect_ir(&d.expr, out);
            }
        }
    };
    let attrs = |a: &ir::Attrs, out: &mut Vec<Slot>| {
        for en in a.entries.iter() {
            match &en.value {
                AttrValue::Plain(x) => collect_ir(x, out),
                AttrValue::Inherit(v, _) => out.push(v.slot()),
                AttrValue::InheritFrom { .. } => {}
            }
        }
        for d in a.dynamic().iter() {
            collect_ir(&d.name, out);
            collect_ir(&d.value, out);
        }
        a.inherit_sources().iter().for_each(|x| collect_ir(x, out));
    };
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::ShortStr(_)
        | ExprKind::Path(_)
        | ExprKind::HomePath(_)
        | ExprKind::CurPos => {}
        ExprKind::Var(v) => out.push(v.slot()),
        ExprKind::Select(s) => {
            collect_ir(&s.expr, out);
            path(&s.path, out);
            s.default.iter().for_each(|d| collect_ir(d, out));
        }
        ExprKind::HasAttr(h) => {
            collect_ir(&h.expr, out);
            path(&h.path, out);
        }
        ExprKind::Attrs(a) => attrs(a, out),
        ExprKind::List(items) => items.iter().for_each(|x| collect_ir(x, out)),
        ExprKind::Lambda(l) => {
            for f in l.formals.iter().flat_map(|f| f.entries.iter()) {
                f.default.iter().for_each(|d| collect_ir(d, out));
            }
            collect_ir(&l.body, out);
        }
        ExprKind::Call(c) => {
            collect_ir(&c.func, out);
            c.args.iter().for_each(|x| collect_ir(x, out));
        }
        ExprKind::Let(l) => {
            attrs(&l.0, out);
            collect_ir(&l.1, out);
        }
        ExprKind::With(b) => b.iter().for_each(|x| collect_ir(x, out)),
        ExprKind::If(b) => b.iter().for_each(|x| collect_ir(x, out)),
        ExprKind::Assert(a) => {
            collect_ir(&a.cond, out);
            collect_ir(&a.body, out);
        }
        ExprKind::Not(x) | ExprKind::Neg(x) => collect_ir(x, out),
        ExprKind::Binary(_, b) => b.iter().for_each(|x| collect_ir(x, out)),
        ExprKind::Interpolate(i) => {
            for p in i.1.iter() {
                if let Part::Expr(_, x) = p {
                    collect_ir(x, out);
                }
            }
        }
    }
}

/// What the parser's check and the compile step say of `src`: both walk it with the
/// parser's [`ferrix_parser::Scopes`], so they must open the same scopes at the same places.
/// The parser's verdict (`None` when it accepts, else the undefined name's offset) must be
/// the compile step's on the same tree left unchecked. Returns how many variables compiled.
fn walks_agree(src: &[u8], symbols: &mut Interner, globals: &Globals) -> Option<usize> {
    let info = SourceInfo {
        origin: Origin::String,
        base_dir: b"/",
        home: b"/home",
    };
    let unchecked = ferrix_parser::parse_unresolved(src, &info, symbols).ok()?;
    let by_parser = match ferrix_parser::parse(src, &info, symbols, globals) {
        Ok(_) => None,
        Err(d) => match &d.kind {
            ferrix_parser::actions::ErrorKind::UndefinedVariable(name) => Some(name.clone()),
            _ => return None,
        },
    };
    let by_compile = compile(unchecked, globals, 0, &[]);
    let text = String::from_utf8_lossy(src);
    match (by_parser, by_compile) {
        (None, Ok(e)) => {
            let mut vars = Vec::new();
            collect_ir(&e, &mut vars);
            Some(vars.len())
        }
        (Some(name), Err(u)) => {
            assert_eq!(symbols.display(u.name).to_string(), name, "{text}");
            Some(0)
        }
        (p, c) => panic!(
            "{text}: the parser says {p:?}, the compile step {:?}",
            c.err()
        ),
    }
}

#[test]
fn the_parser_and_the_compile_step_check_alike() {
    let (mut symbols, globals) = environment();
    for src in [
        "{ b, a } @ args: let z = a; in with args; [ b args z q map ]",
        "rec { a = b; b = { inherit a; c = a; }; d = let b = 1; in b; }",
        "let __sub = a: b: 0; in [ (1 - 2) (-3) (x: x * 2) ]",
        "let inherit (builtins) map; f = { x ? y, y ? 1, ... } @ s: s; in with f { }; [ x y ]",
        "x: with x; with { y = 1; }; { ${y} = z; inherit y z; } ? ${x}",
        "let a = 1; in rec { a = 2; b = a; }.b",
    ] {
        assert!(walks_agree(src.as_bytes(), &mut symbols, &globals).unwrap() > 0);
    }
    for src in [
        "{ a ? b }: a",
        "let x = { inherit y; }; in x",
        "rec { a = 1; } // { b = a; }",
        "x: { ${y} = x; }",
        "let f = x: x; in f y",
    ] {
        assert_eq!(
            walks_agree(src.as_bytes(), &mut symbols, &globals),
            Some(0),
            "{src}"
        );
    }
}

/// The same over every Nix file of the repository's evaluation and parser tests.
#[test]
#[cfg_attr(miri, ignore)]
fn the_parser_and_the_compile_step_check_the_test_files_alike() {
    let (mut symbols, globals) = environment();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests");
    let mut files = 0;
    let mut vars = 0;
    for dir in ["eval/ok", "eval/fail", "parse/ok", "parse/fail"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "nix") {
                let text = std::fs::read(&path).unwrap();
                if let Some(n) = walks_agree(&text, &mut symbols, &globals) {
                    files += 1;
                    vars += n;
                }
            }
        }
    }
    assert!(
        files > 100 && vars > 1000,
        "{files} files, {vars} variables"
    );
}
