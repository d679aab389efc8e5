use crate::ast::*;
use crate::print::{print, Style};
use crate::*;

/// Some of Nix's global names: the parser has no list of its own, the evaluation's set-up
/// gives it one (made from the builtins' declarations in `ferrix-primops`).
const GLOBALS: &[&str] = &[
    "__div",
    "__findFile",
    "__lessThan",
    "__mul",
    "__nixPath",
    "__sub",
    "builtins",
    "false",
    "import",
    "map",
    "null",
    "toString",
    "true",
];

fn env() -> (Interner, Globals) {
    base_environment(GLOBALS.iter().copied())
}

/// Parses `src` with globals for all the names it uses freely: round trips are about the
/// syntax, not about which names are global.
fn parse_open(src: &[u8]) -> Option<(Interner, Globals, Expr)> {
    let mut names: Vec<String> = GLOBALS.iter().map(|s| s.to_string()).collect();
    loop {
        let (mut symbols, globals) = base_environment(names.iter().map(String::as_str));
        match parse(src, &info(), &mut symbols, &globals) {
            Ok(e) => return Some((symbols, globals, e)),
            Err(d) => match d.kind {
                actions::ErrorKind::UndefinedVariable(v) if !names.contains(&v) => names.push(v),
                _ => return None,
            },
        }
    }
}

fn info() -> SourceInfo<'static> {
    SourceInfo {
        origin: Origin::String,
        base_dir: b"/base",
        home: b"/home/u",
    }
}

fn show(src: &str, style: Style) -> Result<String, String> {
    let (mut symbols, globals) = env();
    match parse(src.as_bytes(), &info(), &mut symbols, &globals) {
        Ok(e) => Ok(String::from_utf8_lossy(&print(&symbols, &e, style)).into_owned()),
        Err(d) => Err(d.message.clone()),
    }
}

fn nix(src: &str) -> String {
    show(src, Style::Nix).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn rt(src: &str) -> String {
    show(src, Style::RoundTrip).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str) -> String {
    show(src, Style::Nix).expect_err(src)
}

#[test]
fn precedence_matches_nix() {
    assert_eq!(nix("x: !x + 1 * 2"), "(x: (! (x + (__mul 1 2))))");
    assert_eq!(nix("x: -x - 1"), "(x: (__sub (__sub 0 x) 1))");
    assert_eq!(nix("a: a ? b ? c"), "(a: ((((a) ? b)) ? c))");
    assert_eq!(nix("a: -a ? b"), "(a: (((__sub 0 a)) ? b))");
    assert_eq!(nix("a: !a ? b"), "(a: (! ((a) ? b)))");
    assert_eq!(nix("a: a -> a -> a"), "(a: (a -> (a -> a)))");
    assert_eq!(nix("a: a // a // a"), "(a: (a // (a // a)))");
    assert_eq!(nix("a: a ++ a ++ a"), "(a: (a ++ (a ++ a)))");
    assert_eq!(nix("a: a - a - a"), "(a: (__sub (__sub a a) a))");
    assert_eq!(nix("a: a || a && a"), "(a: (a || (a && a)))");
    assert_eq!(nix("a: a == a < a"), "(a: (a == (__lessThan a a)))");
    assert_eq!(nix("a: a <= a"), "(a: (! (__lessThan a a)))");
    assert_eq!(nix("a: !a // a"), "(a: ((! a) // a))");
    assert_eq!(
        nix("a: a * !a + a == a"),
        "(a: ((__mul a (! (a + a))) == a))"
    );
    assert_eq!(nix("f: f -1"), "(f: (__sub f 1))");
    assert_eq!(
        nix("f: a: c: f a.b or c a"),
        "(f: (a: (c: (f (a).b or (c) a))))"
    );
}

#[test]
fn non_associative_operators_are_syntax_errors() {
    assert_eq!(err("x: x == x == x"), "syntax error, unexpected EQ");
    assert_eq!(err("x: x < x > x"), "syntax error, unexpected '>'");
    assert_eq!(err("x: x != x == !x"), "syntax error, unexpected EQ");
}

#[test]
fn desugarings() {
    assert_eq!(
        nix("<nixpkgs/lib>"),
        "(__findFile __nixPath \"nixpkgs/lib\")"
    );
    assert_eq!(nix("let { body = 1; }"), "(rec { body = 1; }).body");
    assert_eq!(nix("{ a.b = 1; a.c = 2; }"), "{ a = { b = 1; c = 2; }; }");
    assert_eq!(nix("with {}; map or"), "(with { }; (map or))");
    // A rebound `__sub` is called, as Nix does.
    assert_eq!(
        nix("let __sub = 1; in 2 - 1"),
        "(let __sub = 1; in (__sub 2 1))"
    );
    assert_eq!(
        rt("let __sub = 1; in 2 - 1"),
        "(let __sub = 1; in (__sub 2 1))"
    );
    assert_eq!(rt("2 - 1"), "(2 - 1)");
    assert_eq!(nix("./a/${\"x\"}/b"), "(/base/a/ + \"x\" + \"/b\")");
    assert_eq!(nix("~/a"), "/home/u/a");
    // Nix leaves `~` paths as written.
    assert_eq!(nix("~/./a/../b"), "/home/u/./a/../b");
    assert_eq!(rt("~/./a/../b"), "~/./a/../b");
    assert_eq!(nix("../../../a"), "/a");
}

#[test]
fn scope_errors() {
    assert_eq!(err("x: y"), "undefined variable 'y'");
    assert_eq!(err("map or"), "undefined variable 'or'");
    assert_eq!(err("rec { a = b; }"), "undefined variable 'b'");
    assert_eq!(err("{ a = 1; b = a; }"), "undefined variable 'a'");
    // Under `with`, unknown names are resolved at run time.
    assert!(show("with {}; y", Style::Nix).is_ok());
    // `inherit` reads the enclosing scope, even in a rec set; `inherit (e)` reads the set's.
    assert_eq!(err("rec { inherit a; b = 1; }"), "undefined variable 'a'");
    assert!(show("rec { x = { a = 1; }; inherit (x) a; }", Style::Nix).is_ok());
    assert_eq!(
        err("{ a = 1; a = 2; }"),
        "attribute 'a' already defined at (string):1:3"
    );
    assert_eq!(err("{ a, a }: a"), "duplicate formal function argument 'a'");
    assert_eq!(
        err("let ${\"a\" + \"\"} = 1; in 1"),
        "dynamic attributes not allowed in let"
    );
}

#[test]
fn the_global_scope_is_the_one_given() {
    let parse_with = |names: &[&str], src: &str| {
        let (mut symbols, globals) = base_environment(names.iter().copied());
        parse(src.as_bytes(), &info(), &mut symbols, &globals).map_err(|d| d.message)
    };
    assert!(parse_with(&["frob"], "frob 1").is_ok());
    assert_eq!(
        parse_with(&["map"], "frob 1").unwrap_err(),
        "undefined variable 'frob'"
    );
    assert_eq!(
        parse_with(&[], "map").unwrap_err(),
        "undefined variable 'map'"
    );
}

#[test]
fn scopes_follow_the_documented_layout() {
    let (mut symbols, globals) = env();
    let [a, b, args, x, y, z] =
        ["a", "b", "args", "x", "y", "z"].map(|n| symbols.intern(n.as_bytes()));
    let map = symbols.intern(b"map");
    let mut scopes = Scopes::new(&globals);
    let mut formals = [b, a];
    formals.sort();
    // `{ b, a }@args: …`: the `@` argument is slot 0, then the formals by symbol.
    scopes.push_lambda(Some(args), formals);
    let index = |n| formals.iter().position(|&f| f == n).unwrap() as u32 + 1;
    assert_eq!(
        scopes.lookup(a),
        Some(Binding::Local {
            up: 0,
            index: index(a)
        })
    );
    assert_eq!(
        scopes.lookup(b),
        Some(Binding::Local {
            up: 0,
            index: index(b)
        })
    );
    assert_eq!(
        scopes.lookup(args),
        Some(Binding::Local { up: 0, index: 0 })
    );
    assert_eq!(scopes.lookup(map), globals.slot(map).map(Binding::Global));
    assert_eq!(scopes.lookup(x), None, "undefined");
    // `with …; let y = …; in …`: a `with` is a level that binds no name; a name nothing
    // binds is looked up in the innermost `with`; a local shadows a global.
    scopes.push_with();
    scopes.push_names([y]);
    assert_eq!(scopes.lookup(y), Some(Binding::Local { up: 0, index: 0 }));
    assert_eq!(
        scopes.lookup(args),
        Some(Binding::Local { up: 2, index: 0 })
    );
    assert_eq!(scopes.lookup(x), Some(Binding::With { up: 1 }));
    assert_eq!(scopes.lookup(map), globals.slot(map).map(Binding::Global));
    scopes.push_names([map]);
    assert_eq!(scopes.lookup(map), Some(Binding::Local { up: 0, index: 0 }));
    // A plain `z: …` has its argument alone, at slot 0.
    scopes.push_lambda(Some(z), []);
    assert_eq!(scopes.lookup(z), Some(Binding::Local { up: 0, index: 0 }));
    scopes.pop();
    scopes.pop();
    scopes.pop();
    scopes.pop();
    assert_eq!(
        scopes.lookup(x),
        None,
        "closing the `with` closes its dynamic scope"
    );
    scopes.pop();
    assert_eq!(scopes.lookup(a), None);
    // The parser reports what `lookup` finds undefined, `with` scopes included.
    assert!(parse(b"with x; 1", &info(), &mut symbols, &globals).is_err());
    assert!(parse(
        b"x: with x; let y = 1; in [ y z ]",
        &info(),
        &mut symbols,
        &globals
    )
    .is_ok());
    assert!(parse(b"x: let y = 1; in [ y z ]", &info(), &mut symbols, &globals).is_err());
}

#[test]
fn error_positions_and_snippets() {
    let (mut symbols, globals) = env();
    let d = parse(
        b"let\n  a = 1;\n  b = x;\n  c = 3;\nin a\n",
        &info(),
        &mut symbols,
        &globals,
    )
    .unwrap_err();
    assert_eq!(
        String::from_utf8(d.render()).unwrap(),
        "error: undefined variable 'x'\n\n       at «string»:3:7:\n\n            2|   a = 1;\n            3|   b = x;\n             |       ^\n            4|   c = 3;"
    );
    let d = parse(b"(1 ", &info(), &mut symbols, &globals).unwrap_err();
    assert_eq!((d.line, d.column), (1, 3));
    assert_eq!(
        d.message,
        "syntax error, unexpected end of file, expecting ')'"
    );
    // After a whole string, the end of the input is placed at its closing quote, as Nix
    // does for the last of its three tokens.
    let d = parse(b"{ a = \"bc\"", &info(), &mut symbols, &globals).unwrap_err();
    assert_eq!((d.line, d.column), (1, 10));
    assert_eq!(
        d.message,
        "syntax error, unexpected end of file, expecting ';'"
    );
    // When the input ends right after a path, Nix 2.8 reports the start of the lexeme
    // before the path's last token (whitespace and comments count), not the path's own.
    for (src, column) in [
        (&b"[ ./a"[..], 2),
        (b"[./a", 1),
        (b"[   ./a/b", 2),
        (b"{ a = ./b", 6),
        (b"[ ./a${x}/b", 9),
        (b"[ ./a${ x }", 10),
        (b"[ ./a${\"s\"}", 10),
        (b"[ /* c */./a", 3),
        (b"[ # c\n~/a", 6),
        // With anything after the path, the last lexeme as usual.
        (b"[ ./a ", 6),
        (b"[ <a>", 3),
    ] {
        let d = parse(src, &info(), &mut symbols, &globals).unwrap_err();
        let text = String::from_utf8_lossy(src);
        assert_eq!((d.line, d.column), (1, column), "{text}");
        assert!(
            d.message.contains("unexpected end of file"),
            "{text}: {}",
            d.message
        );
    }
    // Where `"` may come, the whole-string token is not listed.
    let d = parse(b"x.", &info(), &mut symbols, &globals).unwrap_err();
    assert!(d.message.ends_with(" or '\"'"), "{}", d.message);
    assert!(!d.message.contains("PLAIN"), "{}", d.message);
    let d = parse(b"{ inherit x; }", &info(), &mut symbols, &globals).unwrap_err();
    assert_eq!(
        (d.line, d.column),
        (1, 2),
        "Nix places inherited names after the brace"
    );
}

/// The round-trip style parses back to the same text, which pins the same tree.
fn assert_round_trip(src: &[u8]) {
    let Some((mut symbols, globals, e)) = parse_open(src) else {
        return;
    };
    let once = print(&symbols, &e, Style::RoundTrip);
    // `../../${x}` next to the root is the path `//` plus `x`, which has no literal form.
    if once.windows(3).any(|w| w == b"//$") {
        return;
    }
    let again = parse(&once, &info(), &mut symbols, &globals).unwrap_or_else(|d| {
        panic!(
            "{} does not parse back: {d}",
            String::from_utf8_lossy(&once)
        )
    });
    assert_eq!(
        String::from_utf8_lossy(&once),
        String::from_utf8_lossy(&print(&symbols, &again, Style::RoundTrip))
    );
}

/// Round trip down to the tree: apart from spans, the trees are equal.
fn assert_same_tree(src: &str) {
    let (mut symbols, globals) = env();
    let e = parse(src.as_bytes(), &info(), &mut symbols, &globals).unwrap();
    let once = print(&symbols, &e, Style::RoundTrip);
    let again = parse(&once, &info(), &mut symbols, &globals).unwrap();
    assert_eq!(
        strip_spans(&e),
        strip_spans(&again),
        "{}",
        String::from_utf8_lossy(&once)
    );
}

fn strip_spans(e: &Expr) -> String {
    let s = format!("{e:?}");
    // Spans and positions vary with layout; everything else must agree.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').map_or(rest.len(), |j| i + j + 1);
        rest = &rest[j..];
    }
    out.push_str(rest);
    // Interpolation parts carry the offset of their `${`.
    let mut clean = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("Expr(") {
        clean.push_str(&rest[..i + 5]);
        rest = &rest[i + 5..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(", ") {
            rest = &rest[digits + 2..];
        }
    }
    clean.push_str(rest);
    // So does a function's start.
    let mut done = String::with_capacity(clean.len());
    let mut rest = clean.as_str();
    while let Some(i) = rest.find("Lambda { start: ") {
        done.push_str(&rest[..i + 16]);
        rest = &rest[i + 16..];
        rest = &rest[rest.bytes().take_while(u8::is_ascii_digit).count()..];
    }
    done.push_str(rest);
    done
}

#[test]
fn round_trip_of_tricky_forms() {
    for src in [
        "\"${\"${\"a\"}\"}\"",
        "x: x.${\"a\" + \"\"}.\"b${x}\"",
        "''\n  a\n    ${\"b\"}\n  ''",
        "x: ./a/${x}/b.nix",
        "x: ~/${x}",
        "~/./a/../b",
        "[ 1.5 1.e100 0.0 .5e-3 ]",
        "{ \"let\" = 1; or = 2; \"a b\" = 3; }",
        "x: -x - -1",
        "{ a, b ? a, ... }@c: assert a; b",
        "let inherit (builtins) map; a = 1; in map",
        "rec { a = 1; inherit (a) b; \"${toString a}\" = 2; }",
        "x: x ? a.${x}.\"b\"",
        "let __lessThan = a: b: true; in [ (1 < 2) (1 <= 2) (1 > 2) (1 >= 2) (-1) ]",
        "https://example.org/x?y=1",
        "__curPos",
    ] {
        assert_round_trip(src.as_bytes());
        assert_same_tree(src);
    }
}

#[test]
fn round_trip_of_the_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/parse/ok");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "nix") {
            let src = std::fs::read(&p).unwrap();
            if !src.contains(&0) {
                assert_round_trip(&src);
                n += 1;
            }
        }
    }
    assert!(n > 100, "corpus not found at {dir}");
}

#[test]
fn deep_nesting_neither_overflows_nor_fails() {
    let (mut symbols, globals) = env();
    let src = format!("{}1{}", "[".repeat(200_000), "]".repeat(200_000));
    assert!(parse(src.as_bytes(), &info(), &mut symbols, &globals).is_ok());
    let src = format!("1{}", " + 1".repeat(300_000));
    let e = parse(src.as_bytes(), &info(), &mut symbols, &globals).unwrap();
    assert!(print(&symbols, &e, Style::RoundTrip).len() > 300_000);
}

/// Operator chains written without spaces used to lex in quadratic time (the path and URI
/// patterns scanned to the end of the chain at every token: 2.1 s for 80,000 terms in a
/// release build, minutes for 200,000 in a debug one). The lexer's own test counts the
/// scans; this one checks the whole parse under a bound a linear parse meets many times over.
#[test]
fn long_chains_without_spaces_parse_quickly() {
    let (mut symbols, globals) = env();
    let n = 200_000;
    let chains = [
        vec!["1"; n].join("+"),
        format!("x: x.{}", vec!["a"; n].join(".")),
        format!("{}+z:u", vec!["1.5e3"; n / 2].join("+")),
    ];
    for src in &chains {
        let start = std::time::Instant::now();
        assert!(parse(src.as_bytes(), &info(), &mut symbols, &globals).is_ok());
        let took = start.elapsed();
        assert!(
            took < std::time::Duration::from_secs(30),
            "{took:?} for {} bytes",
            src.len()
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_bytes_never_panic(s in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        assert_round_trip(&s);
    }

    #[test]
    fn nix_like_text_round_trips(s in "[a-z{}()\\[\\];:.=?!<>+*/ ,\"$'@0-9-]{0,80}") {
        assert_round_trip(s.as_bytes());
    }
}

/// Syntax trees live as long as the evaluation; these sizes are a tenth of its memory.
#[test]
fn syntax_tree_sizes() {
    use crate::ast::{AttrEntry, Formal};
    assert_eq!(std::mem::size_of::<Expr>(), 32);
    assert_eq!(std::mem::size_of::<Formal>(), 48);
    assert_eq!(std::mem::size_of::<AttrEntry>(), 48);
}

/// `\n`, `\r\n` and a lone `\r` each end a line.
#[test]
fn line_index_handles_every_line_end() {
    let lines = crate::LineIndex::new(b"a\nbc\r\nd\re\r\n\nf");
    let at = |off| lines.line_col(off);
    assert_eq!(at(0), (1, 1));
    assert_eq!(at(2), (2, 1));
    assert_eq!(at(3), (2, 2));
    assert_eq!(at(6), (3, 1));
    assert_eq!(at(8), (4, 1));
    assert_eq!(at(11), (5, 1));
    assert_eq!(at(12), (6, 1));
}

/// Where bison takes default reductions before it finds an error, Nix 2.8 lists the tokens
/// of a later state than lalrpop's; and it lists them in its grammar's symbol order.
#[test]
fn expected_tokens_as_bison_lists_them() {
    let (mut symbols, globals) = env();
    for (src, message) in [
        // A token that cannot follow an expression that is complete before it.
        (&b"a b )"[..], "unexpected ')', expecting end of file"),
        (b"x: x )", "unexpected ')', expecting end of file"),
        (
            b"let a = 1; in a ;",
            "unexpected ';', expecting end of file",
        ),
        (
            b"if a then b else c )",
            "unexpected ')', expecting end of file",
        ),
        (b"{ a = 1; } }", "unexpected '}', expecting end of file"),
        (b"./a )", "unexpected ')', expecting end of file"),
        (b"1 ,", "unexpected ',', expecting end of file"),
        // After `{ }` where a function may start, the function's reading.
        (b"{ } ;", "unexpected ';', expecting ':' or '@'"),
        (b"x: { /* c */ } )", "unexpected ')', expecting ':' or '@'"),
        (b"( { } ;", "unexpected ';', expecting ':' or '@'"),
        (b"if a then { } ;", "unexpected ';', expecting ':' or '@'"),
        // Where it may not, the set's.
        (b"f { } )", "unexpected ')', expecting end of file"),
        (b"rec { } )", "unexpected ')', expecting end of file"),
        (b"[ { } ;", "unexpected ';'"),
        // Not complete before the token: nothing is listed.
        (b"assert a; )", "unexpected ')'"),
        (b"a: )", "unexpected ')'"),
        (b")", "unexpected ')'"),
        // After an operand, what the construct around it expects next.
        (b"let a = 1 in a", "unexpected IN, expecting ';'"),
        (b"assert true in 1", "unexpected IN, expecting ';'"),
        (b"( a in", "unexpected IN, expecting ')'"),
        (b"f (a b in", "unexpected IN, expecting ')'"),
        (b"if a in", "unexpected IN, expecting THEN"),
        (b"if a ]", "unexpected ']', expecting THEN"),
        (b"if a then b ...", "unexpected ELLIPSIS, expecting ELSE"),
        (b"{ a = 1 ]", "unexpected ']', expecting ';'"),
        (b"with a ...", "unexpected ELLIPSIS, expecting ';'"),
        // Where more elements or names may come, nothing.
        (b"[ a in", "unexpected IN"),
        (b"{ inherit a in", "unexpected IN"),
        // Inside formals, only their closing brace.
        (b"{ a ? 1 in", "unexpected IN, expecting '}'"),
        (b"{ a ? 1 ;", "unexpected ';', expecting '}'"),
        (b"{ a , ;", "unexpected ';', expecting '}'"),
        (b"{ a, b ;", "unexpected ';', expecting '}'"),
        (b"{ a, b", "unexpected end of file, expecting '}'"),
        // `{ ID` fits neither a binding nor a formal: the binding's.
        (b"{ a ;", "unexpected ';', expecting '.' or '='"),
        (b"x: { a )", "unexpected ')', expecting '.' or '='"),
        (b"{ a b = 1; }", "unexpected ID, expecting '.' or '='"),
        (b"{ a", "unexpected end of file, expecting '.' or '='"),
        // The end inside a string: only its closing quote.
        (b"\"abc", "unexpected end of file, expecting '\"'"),
        (b"\"", "unexpected end of file, expecting '\"'"),
        (b"\"${x}abc", "unexpected end of file, expecting '\"'"),
        // Bison's order.
        (
            b"''abc",
            "unexpected end of file, expecting IND_STR or DOLLAR_CURLY or IND_STRING_CLOSE",
        ),
        (
            b"x.",
            "unexpected end of file, expecting ID or OR_KW or DOLLAR_CURLY or '\"'",
        ),
    ] {
        let text = String::from_utf8_lossy(src);
        let d = parse(src, &info(), &mut symbols, &globals).unwrap_err();
        assert_eq!(d.message, format!("syntax error, {message}"), "{text}");
    }
    // The parse of the text before the token adds no symbols of its own.
    let before = symbols.len();
    let d = parse(b"newName1 newName2 )", &info(), &mut symbols, &globals).unwrap_err();
    assert!(
        d.message.ends_with("expecting end of file"),
        "{}",
        d.message
    );
    assert_eq!(symbols.len(), before + 2);
}
