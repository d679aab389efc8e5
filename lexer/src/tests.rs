use super::*;

fn toks(s: &str) -> Vec<Token<'_>> {
    Lexer::new(s.as_bytes())
        .map(|r| r.map(|(_, t, _)| t).unwrap_or(Token::Invalid))
        .collect()
}

#[test]
fn numbers_follow_flex_longest_match() {
    use Token::*;
    assert_eq!(toks("1"), [Int(1)]);
    assert_eq!(toks("1.5"), [Float(1.5)]);
    assert_eq!(toks(".5"), [Float(0.5)]);
    assert_eq!(toks("1.e3"), [Float(1000.0)]);
    assert_eq!(toks("2.5E-3"), [Float(0.0025)]);
    // `1e3` is the integer 1 applied to the variable e3.
    assert_eq!(toks("1e3"), [Int(1), Id(b"e3")]);
    // `01.5` is 1 then .5.
    assert_eq!(toks("01.5"), [Int(1), Float(0.5)]);
    // A slash makes it a path.
    assert_eq!(toks("1/2"), [Path(b"1/2"), PathEnd]);
}

#[test]
fn out_of_range_numbers_are_errors() {
    let e = Lexer::new(b"9223372036854775808")
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.message, "invalid integer '9223372036854775808'");
    let e = Lexer::new(b"1.0e400").next().unwrap().unwrap_err();
    assert_eq!(e.message, "invalid float '1.0e400'");
    let e = Lexer::new(b"1.0e-310").next().unwrap().unwrap_err();
    assert_eq!(e.message, "invalid float '1.0e-310'");
    assert_eq!(toks("9223372036854775807"), [Token::Int(i64::MAX)]);
    assert_eq!(toks("0.0"), [Token::Float(0.0)]);
}

#[test]
fn identifiers_keywords_and_operators() {
    use Token::*;
    assert_eq!(toks("a'-b_c"), [Id(b"a'-b_c")]);
    assert_eq!(toks("iff if"), [Id(b"iff"), If]);
    // `a->b` is the identifier `a-` compared with b.
    assert_eq!(toks("a->b"), [Id(b"a-"), Gt, Id(b"b")]);
    assert_eq!(toks("a -> b"), [Id(b"a"), Impl, Id(b"b")]);
    assert_eq!(toks("a//b"), [Id(b"a"), Update, Id(b"b")]);
    assert_eq!(toks("a/ b"), [Id(b"a"), Slash, Id(b"b")]);
    assert_eq!(
        toks("== != <= >= && || ++ ..."),
        [Eq, Neq, Leq, Geq, And, Or, Concat, Ellipsis]
    );
    assert_eq!(toks("x: x"), [Id(b"x"), Colon, Id(b"x")]);
    // flex hands over one byte at a time: `%`, then the two bytes of `é`.
    assert_eq!(toks("% é"), [Invalid, Invalid, Invalid]);
}

#[test]
fn strings_and_interpolation_nest() {
    use Token::*;
    assert_eq!(
        toks(r#""a${ "b${c}" }d""#),
        [
            Quote,
            Str(b"a"),
            DollarCurly,
            Quote,
            Str(b"b"),
            DollarCurly,
            Id(b"c"),
            RBrace,
            Quote,
            RBrace,
            Str(b"d"),
            Quote
        ]
    );
    // `$$` pairs up, so `$${` is literal text.
    assert_eq!(toks(r#""$${x}""#), [Quote, Str(b"$${x}"), Quote]);
    // A `$` right before the closing quote is text.
    assert_eq!(toks(r#""a$""#), [Quote, Str(b"a$"), Quote]);
    assert_eq!(toks(r#""\"\${""#), [Quote, Str(br#"\"\${"#), Quote]);
    assert_eq!(unescape_str(br#"a\n\t\r\\\"\$\q"#), b"a\n\t\r\\\"$q");
    assert_eq!(unescape_str(b"a\r\nb\rc"), b"a\nb\nc");
    // Braces inside an interpolation keep their own nesting.
    assert_eq!(
        toks(r#""${ { a = 1; } }""#).len(),
        ["\"", "${", "{", "a", "=", "1", ";", "}", "}", "\""].len()
    );
}

#[test]
fn plain_strings_are_one_token() {
    use Token::*;
    assert_eq!(
        toks(r#"x "abc" "" "a b""#),
        [Id(b"x"), PlainStr(b"abc"), PlainStr(b""), PlainStr(b"a b")]
    );
    // Its span covers both quotes.
    let spans: Vec<_> = Lexer::new(br#"{ "ab" }"#)
        .map(|r| r.map(|(l, _, r)| (l, r)).unwrap())
        .collect();
    assert_eq!(spans, [(0, 1), (2, 6), (7, 8)]);
    // An escape, a `$` or a missing closing quote leave the body to the string mode.
    assert_eq!(toks(r#""a\nb""#), [Quote, Str(br#"a\nb"#), Quote]);
    assert_eq!(toks(r#""a$b""#), [Quote, Str(b"a$b"), Quote]);
    assert_eq!(toks(r#""abc"#), [Quote, Str(b"abc")]);
}

#[test]
fn indented_strings() {
    use IndPart::*;
    use Token::*;
    assert_eq!(
        toks("''\n  a ''$ ''' ''\\n ' $ ${x}''"),
        [
            IndStringOpen,
            IndStr(Text(b"  a ")),
            IndStr(Escaped(b"$")),
            IndStr(Text(b" ")),
            IndStr(Escaped(b"''")),
            IndStr(Text(b" ")),
            IndStr(Escaped(b"\n")),
            // `$ ` is plain text: only `${` and a `$` before `'` are special.
            IndStr(Text(b" ' $ ")),
            DollarCurly,
            Id(b"x"),
            RBrace,
            IndStringClose
        ]
    );
}

#[test]
fn paths() {
    use Token::*;
    assert_eq!(toks("./a"), [Path(b"./a"), PathEnd]);
    assert_eq!(toks("../a.nix"), [Path(b"../a.nix"), PathEnd]);
    assert_eq!(toks("/a/b"), [Path(b"/a/b"), PathEnd]);
    assert_eq!(toks("~/a"), [HomePath(b"~/a"), PathEnd]);
    assert_eq!(toks("a/b"), [Path(b"a/b"), PathEnd]);
    assert_eq!(toks("<a/b>"), [SearchPath(b"<a/b>")]);
    assert_eq!(
        toks("./a/${x}/b.nix"),
        [
            Path(b"./a/"),
            DollarCurly,
            Id(b"x"),
            RBrace,
            PathStr(b"/b.nix"),
            PathEnd
        ]
    );
    assert_eq!(
        toks("~/${x}"),
        [HomePath(b"~/"), DollarCurly, Id(b"x"), RBrace, PathEnd]
    );
    assert_eq!(toks("./a)"), [Path(b"./a"), PathEnd, RParen]);
    let errs: Vec<_> = Lexer::new(b"./a/ x").collect();
    assert_eq!(
        errs[1].as_ref().unwrap_err().message,
        "path has a trailing slash"
    );
    assert_eq!(errs[1].as_ref().unwrap_err().offset, 4);
}

#[test]
fn uris_and_comments() {
    use Token::*;
    assert_eq!(
        toks("https://example.org/x?y=1"),
        [Uri(b"https://example.org/x?y=1")]
    );
    assert_eq!(toks("a # c\n/* x\n */ b"), [Id(b"a"), Id(b"b")]);
    // An unterminated block comment is just a slash and a star.
    assert_eq!(toks("/* a"), [Slash, Star, Id(b"a")]);
}

#[test]
fn eof_offset_is_the_last_lexeme() {
    let mut l = Lexer::new(b"(1 ");
    while let Some(Ok(_)) = l.next() {}
    assert_eq!(l.eof_offset(), 2);
    let mut l = Lexer::new(b"\"abc");
    while let Some(Ok(_)) = l.next() {}
    assert_eq!(l.eof_offset(), 1);
    let mut l = Lexer::new(b"");
    while let Some(Ok(_)) = l.next() {}
    assert_eq!(l.eof_offset(), 0);
}

proptest::proptest! {
    #[test]
    fn never_panics_and_always_advances(s in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let mut last_end = 0;
        for r in Lexer::new(&s) {
            match r {
                Ok((a, _, b)) => { proptest::prop_assert!(a <= b && b <= s.len()); last_end = b; }
                Err(e) => { proptest::prop_assert!(e.offset <= s.len()); }
            }
        }
        proptest::prop_assert!(last_end <= s.len());
    }
}

/// Every token with its span (and errors), lexed with or without the path-free shortcut.
fn spanned(s: &[u8], shortcut: bool) -> Vec<Result<(usize, Token<'_>, usize), LexError>> {
    let mut l = Lexer::new(s);
    l.plain_shortcut = shortcut;
    l.collect()
}

proptest::proptest! {
    // The shortcut that keeps `1+1+…` linear (`Lexer::plain_until`) must change no token:
    // inputs over the bytes where paths, URIs, numbers and identifiers meet.
    #[test]
    fn plain_shortcut_changes_no_token(s in proptest::collection::vec(
        proptest::sample::select(b"aez_019.+-/:$'{}~< >\"#*\n".to_vec()), 0..60)) {
        proptest::prop_assert_eq!(spanned(&s, true), spanned(&s, false));
    }
}

#[test]
fn plain_shortcut_matches_on_path_and_uri_edges() {
    for s in [
        "1+1+1",
        "1+1+1/2",
        "1+1+1/ 2",
        "1+1/${x}",
        "a+b:c",
        "_a+b:c",
        "a_b+c:d",
        "1.5e3+a:x",
        "a.b.c.d",
        "a//b",
        "x->y",
        "a-b-c:",
        "a:",
        "1+1:",
        "...",
        "1..2",
        "a'b+c",
        "if+in",
        "_+_+_:x",
        "x+y/",
        "x+y/${",
        "./a+b",
        "a+b/c+d",
        "e1.5",
        ".5e-3+a:b",
    ] {
        assert_eq!(
            spanned(s.as_bytes(), true),
            spanned(s.as_bytes(), false),
            "{s}"
        );
    }
}

/// On a long chain of path characters, only a bounded number of tokens go through the full
/// token set (whose path and URI patterns may scan to the end of the chain); the rest take
/// the path-free set, whose scans end with the token. Lexing is thus linear; it was
/// quadratic (0.56 s for 40,000 terms of `1+1+…`, 2.1 s for 80,000).
#[test]
fn long_operator_chains_lex_in_linear_time() {
    for (unit, sep) in [
        ("1", "+"),
        ("a", "."),
        ("x", "-"),
        ("1.5e3", "+"),
        ("ab", "+"),
    ] {
        for tail in ["", " ", "/ 2", ":", "_:x", "+z:x", "/x", "+z"] {
            let n = 20_000;
            let mut s = String::with_capacity(n * (unit.len() + 1) + 8);
            for i in 0..n {
                if i > 0 {
                    s.push_str(sep);
                }
                s.push_str(unit);
            }
            s.push_str(tail);
            let mut l = Lexer::new(s.as_bytes());
            let count = l.by_ref().count();
            assert!(count > 0);
            assert!(
                l.full_lexes <= 4,
                "{unit}{sep}…{tail:?}: {} full lexes",
                l.full_lexes
            );
        }
    }
}
