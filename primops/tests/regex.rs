//! `builtins.match` and `builtins.split` against Nix 2.8.
//!
//! Every expected value below was printed by Nix 2.8.0 (`nix-instantiate --eval --strict` of
//! the same expression, or the first line of its error). The regular expressions are those of
//! libstdc++'s `std::regex` in `extended` mode, which is what Nix 2.8 runs; see
//! `primops/src/regex.rs`.

use ferrix_eval::{Evaluator, Pos};
use ferrix_parser::Origin;
use ferrix_primops::WithBuiltins;

const NOWHERE: Pos = Pos::NONE;

/// Evaluates an expression strictly: its printed value, or `error: ` and the message.
fn eval(text: &str) -> Vec<u8> {
    eval_bytes(text.as_bytes())
}

fn eval_bytes(text: &[u8]) -> Vec<u8> {
    let bump = bumpalo::Bump::new();
    let ev = Evaluator::builder(&bump)
        .builtins(&ferrix_primops::Config::from_env(&[]))
        .build();
    let result = ev
        .eval_text(text, Origin::String, b"/")
        .and_then(|v| ev.force_deep(v, NOWHERE).map(|()| v));
    match result {
        Ok(v) => {
            let mut out = Vec::new();
            ev.print_value(v, &mut out);
            out
        }
        Err(e) => format!("error: {}", e.message).into_bytes(),
    }
}

/// Checks every case and reports all the mismatches at once.
fn check(cases: &[(&str, &[u8])]) {
    let mut failures = Vec::new();
    for &(expr, expected) in cases {
        let got = eval(expr);
        if got != expected {
            failures.push(format!(
                "{expr}\n    expected: {}\n    got:      {}",
                String::from_utf8_lossy(expected),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Deeply nested groups: Nix 2.8 compiles 30 000 levels (60 000 states).
#[test]
fn deep_nesting() {
    let n = 30_000;
    let re = format!("{}a{}", "(".repeat(n), ")".repeat(n));
    let expr = format!(r#"builtins.length (builtins.match "{re}" "a")"#);
    assert_eq!(eval(&expr), b"30000");
}

/// A long input: Nix 2.8 matches 20 000 bytes.
#[test]
fn long_input() {
    let expr = r#"let s = builtins.concatStringsSep "" (builtins.genList (x: "ab") 10000);
        in builtins.stringLength (builtins.head (builtins.match "((a|b)*)" s))"#;
    assert_eq!(eval(expr), b"20000");
}

/// A deliberate difference: Nix 2.8's recursive matcher dies with "stack overflow" on a few
/// hundred thousand bytes; Ferrix's runs on an explicit stack and finishes.
#[test]
fn very_long_input_does_not_overflow() {
    let expr = r#"let s = builtins.concatStringsSep "" (builtins.genList (x: "ab") 500000);
        in builtins.stringLength (builtins.head (builtins.match "((a|b)*)" s))"#;
    assert_eq!(eval(expr), b"1000000");
}

/// Every byte against the character classes, `.`, `[^a]`, an equivalence class and ranges
/// across the signed boundary.
#[test]
fn byte_classes() {
    let mut chars = Vec::new();
    for b in 1..=255u8 {
        let lit: &[u8] = match b {
            b'"' => b"\"\\\"\" ",
            b'\\' => b"\"\\\\\" ",
            b'$' => b"\"\\$\" ",
            b'\n' => b"\"\\n\" ",
            b'\r' => b"\"\\r\" ",
            b'\t' => b"\"\\t\" ",
            _ => {
                chars.push(b'"');
                chars.push(b);
                b"\" "
            }
        };
        chars.extend_from_slice(lit);
    }
    let mut expr = b"let cs = [ ".to_vec();
    expr.extend_from_slice(&chars);
    expr.extend_from_slice(
        b"]; f = re: builtins.concatStringsSep \"\" (map (c: if builtins.match re c != null \
          then \"1\" else \"0\") cs); in [ ",
    );
    for class in [
        "alpha", "digit", "alnum", "upper", "lower", "space", "blank", "punct", "print", "graph",
        "cntrl", "xdigit", "w", "d", "s",
    ] {
        expr.extend_from_slice(format!("(f \"[[:{class}:]]\") ").as_bytes());
    }
    expr.extend_from_slice(b"(f \"[^a]\") (f \".\") (f \"[[=e=]]\") (f \"[\x80-\xff]\") ");
    expr.extend_from_slice(b"(f \"[ -~]\") (f \"[\x01-\x7f]\") ]");
    let expected = [
        "000000000000000000000000000000000000000000000000000000000000000011111111111111111111111111000000111111111111111111111111110000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000001111111111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000001111111111000000011111111111111111111111111000000111111111111111111111111110000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000011111111111111111111111111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000111111111111111111111111110000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000001111100000000000000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000001000000000000000000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000001111111111111110000000000111111100000000000000000000000000111111000000000000000000000000001111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000011111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000001111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "111111111111111111111111111111100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000001111111111000000011111100000000000000000000000000111111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000001111111111000000011111111111111111111111111000010111111111111111111111111110000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000001111111111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000001111100000000000000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111011111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111",
        "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111",
        "000000000000000000000000000000000000000000000000000000000000000000001000000000000000000000000000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000011111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111",
        "000000000000000000000000000000011111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    ];
    let expected = format!("[ {} ]", expected.map(|s| format!("\"{s}\"")).join(" "));
    assert_eq!(String::from_utf8_lossy(&eval_bytes(&expr)), expected);
}

/// Where libstdc++'s "first of the longest" search differs from POSIX leftmost-longest
/// (and from leftmost-first engines): which alternative and how many loop iterations win.
#[test]
fn first_longest() {
    check(&[
        (
            r#"builtins.match "(a|ab)(c|bcd)(d*)" "abcd""#,
            br#"[ "a" "bcd" "" ]"#,
        ),
        (
            r#"builtins.match "(a*)(ab)?b*" "aabb""#,
            br#"[ "aa" null ]"#,
        ),
        (r#"builtins.match "(a|ab)(bc|c)" "abc""#, br#"[ "a" "bc" ]"#),
        (
            r#"builtins.match "(ab|a)(bc|c)?" "abc""#,
            br#"[ "ab" "c" ]"#,
        ),
        (
            r#"builtins.match "(a|ab|abc)(.*)" "abcd""#,
            br#"[ "a" "bcd" ]"#,
        ),
        (r#"builtins.match "(.*)(.*)" "ab""#, br#"[ "ab" "" ]"#),
        (r#"builtins.match "(.?)(.*)" "ab""#, br#"[ "a" "b" ]"#),
        (r#"builtins.match "(a+|b+)*" "aabb""#, br#"[ "bb" ]"#),
        (r#"builtins.match "(a|b)*" "ab""#, br#"[ "b" ]"#),
        (r#"builtins.match "((a)|b)*" "ab""#, br#"[ "b" "a" ]"#),
        (r#"builtins.match "((a)|(b))+" "ab""#, br#"[ "b" "a" "b" ]"#),
        (
            r#"builtins.match "((a)|(b)){2}" "ab""#,
            br#"[ "b" "a" "b" ]"#,
        ),
        (r#"builtins.match "(a|b)?(a|b)?" "b""#, br#"[ "b" null ]"#),
        (r#"builtins.match "(a*)*" "aa""#, br#"[ "" ]"#),
        (r#"builtins.match "(a*)+" "aa""#, br#"[ "" ]"#),
        (r#"builtins.match "(a|)+" "aa""#, br#"[ "" ]"#),
        (r#"builtins.match "(|a)+" "aa""#, br#"[ "" ]"#),
        (r#"builtins.match "(a*)*b" "aab""#, br#"[ "" ]"#),
        (r#"builtins.match "x(a*)*" "x""#, br#"[ "" ]"#),
        (r#"builtins.match "(a+)+" "aaa""#, br#"[ "aaa" ]"#),
        (r#"builtins.match "(a?)*" "aaa""#, br#"[ "" ]"#),
        (r#"builtins.match "(a?)+b" "aab""#, br#"[ "" ]"#),
        (r#"builtins.match "(aa|a)*" "aaa""#, br#"[ "a" ]"#),
        (r#"builtins.match "(a|aa)*" "aaa""#, br#"[ "a" ]"#),
        (r#"builtins.match "(a|aa)*(a)" "aaa""#, br#"[ "a" "a" ]"#),
        (r#"builtins.match "(a*)(a*)" "aaa""#, br#"[ "aaa" "" ]"#),
        (r#"builtins.match "(a*?)(a*)" "aaa""#, br#"[ "aaa" "" ]"#),
        (r#"builtins.match "(a{1,2}){2}" "aaa""#, br#"[ "a" ]"#),
        (r#"builtins.match "(a{0,2})(a*)" "aaa""#, br#"[ "aa" "a" ]"#),
        (
            r#"builtins.match "(x|xy)(yz|z)?" "xyz""#,
            br#"[ "x" "yz" ]"#,
        ),
        (r#"builtins.match "(.*)-(.*)" "a-b-c""#, br#"[ "a-b" "c" ]"#),
        (
            r#"builtins.match "([^-]*)-(.*)" "a-b-c""#,
            br#"[ "a" "b-c" ]"#,
        ),
        (
            r#"builtins.split "(a|ab)" "abc""#,
            br#"[ "" [ "ab" ] "c" ]"#,
        ),
        (
            r#"builtins.split "a|ab" "abab""#,
            br#"[ "" [ ] "" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "ab|a" "abab""#,
            br#"[ "" [ ] "" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "(a|ab)(c|bcd)" "xabcdx""#,
            br#"[ "x" [ "a" "bcd" ] "x" ]"#,
        ),
        (
            r#"builtins.split "(a*)(ab)?" "aab""#,
            br#"[ "" [ "aa" null ] "" [ "" null ] "b" [ "" null ] "" ]"#,
        ),
        (
            r#"builtins.split "(b*)(a|ab)" "abab""#,
            br#"[ "" [ "" "ab" ] "" [ "" "ab" ] "" ]"#,
        ),
    ]);
}

/// Groups that take no part in the match are null.
#[test]
fn unmatched_groups() {
    check(&[
        (r#"builtins.match "(a)|(b)" "b""#, br#"[ null "b" ]"#),
        (r#"builtins.match "(a)|(b)" "a""#, br#"[ "a" null ]"#),
        (r#"builtins.match "(a)?b" "b""#, br#"[ null ]"#),
        (r#"builtins.match "((a)b)?c" "c""#, br#"[ null null ]"#),
        (r#"builtins.match "((a)b)?c" "abc""#, br#"[ "ab" "a" ]"#),
        (r#"builtins.match "(a){0}" """#, br#"[ null ]"#),
        (r#"builtins.match "(a){0,1}" """#, br#"[ null ]"#),
        (r#"builtins.match "(a)*" """#, br#"[ null ]"#),
        (r#"builtins.match "(a)*" "aa""#, br#"[ "a" ]"#),
        (r#"builtins.match "()" """#, br#"[ "" ]"#),
        (r#"builtins.match "(()|a)+" "a""#, br#"[ "" "" ]"#),
        (
            r#"builtins.split "(a)|(c)" "abc""#,
            br#"[ "" [ "a" null ] "b" [ null "c" ] "" ]"#,
        ),
        (
            r#"builtins.split "(x)*" "ab""#,
            br#"[ "" [ null ] "a" [ null ] "b" [ null ] "" ]"#,
        ),
        (
            r#"builtins.split "(a)|b" "abc""#,
            br#"[ "" [ "a" ] "" [ null ] "c" ]"#,
        ),
    ]);
}

/// Empty matches in `split`, following `std::sregex_iterator`.
#[test]
fn split_empty_matches() {
    check(&[
        (
            r#"builtins.split "" "abc""#,
            br#"[ "" [ ] "a" [ ] "b" [ ] "c" [ ] "" ]"#,
        ),
        (r#"builtins.split "" """#, br#"[ "" [ ] "" ]"#),
        (
            r#"builtins.split "a*" "baaac""#,
            br#"[ "" [ ] "b" [ ] "" [ ] "c" [ ] "" ]"#,
        ),
        (r#"builtins.split "x*" """#, br#"[ "" [ ] "" ]"#),
        (
            r#"builtins.split "x*" "ab""#,
            br#"[ "" [ ] "a" [ ] "b" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "a?" "aba""#,
            br#"[ "" [ ] "" [ ] "b" [ ] "" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "b*" "abc""#,
            br#"[ "" [ ] "a" [ ] "" [ ] "c" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "(a*)" "aab""#,
            br#"[ "" [ "aa" ] "" [ "" ] "b" [ "" ] "" ]"#,
        ),
        (
            r#"builtins.split "(a*)" "baa""#,
            br#"[ "" [ "" ] "b" [ "aa" ] "" [ "" ] "" ]"#,
        ),
        (r#"builtins.split "$" "abc""#, br#"[ "abc" [ ] "" ]"#),
        (r#"builtins.split "^" "abc""#, br#"[ "" [ ] "abc" ]"#),
        (r#"builtins.split "^a" "aaa""#, br#"[ "" [ ] "aa" ]"#),
        (r#"builtins.split "a$" "aaa""#, br#"[ "aa" [ ] "" ]"#),
        (r#"builtins.split "^|a" "aa""#, br#"[ "" [ ] "" [ ] "" ]"#),
        (
            r#"builtins.split "a|$" "aba""#,
            br#"[ "" [ ] "b" [ ] "" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "()" "ab""#,
            br#"[ "" [ "" ] "a" [ "" ] "b" [ "" ] "" ]"#,
        ),
        (
            r#"builtins.split "(^|,)x" "x,x""#,
            br#"[ "" [ "" ] "" [ "," ] "" ]"#,
        ),
        (
            r#"builtins.split "a*|b" "abc""#,
            br#"[ "" [ ] "" [ ] "" [ ] "c" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "b|a*" "abc""#,
            br#"[ "" [ ] "" [ ] "" [ ] "c" [ ] "" ]"#,
        ),
        (
            r#"builtins.split "(a|)" "bab""#,
            br#"[ "" [ "" ] "b" [ "a" ] "" [ "" ] "b" [ "" ] "" ]"#,
        ),
        (
            r#"builtins.split "[[:space:]]*" "a b""#,
            br#"[ "" [ ] "a" [ ] "" [ ] "b" [ ] "" ]"#,
        ),
    ]);
}

/// `split` on non-empty matches, and Nix's documented examples.
#[test]
fn split_basics() {
    check(&[
        (r#"builtins.split "(a)b" "abc""#, br#"[ "" [ "a" ] "c" ]"#),
        (
            r#"builtins.split "([ac])" "abc""#,
            br#"[ "" [ "a" ] "b" [ "c" ] "" ]"#,
        ),
        (
            r#"builtins.split "(a)|(c)" "abc""#,
            br#"[ "" [ "a" null ] "b" [ null "c" ] "" ]"#,
        ),
        (
            r#"builtins.split "([[:upper:]]+)" "  FOO   ""#,
            br#"[ "  " [ "FOO" ] "   " ]"#,
        ),
        (
            r#"builtins.split "(o+)" "oooofoooo""#,
            br#"[ "" [ "oooo" ] "f" [ "oooo" ] "" ]"#,
        ),
        (
            r#"builtins.split "(b)" "foobarbaz""#,
            br#"[ "foo" [ "b" ] "ar" [ "b" ] "az" ]"#,
        ),
        (r#"builtins.split "fo+" "f""#, br#"[ "f" ]"#),
        (
            r#"builtins.split "[.-]" "1.2-3""#,
            br#"[ "1" [ ] "2" [ ] "3" ]"#,
        ),
        (r#"builtins.split "\n" "a""#, br#"[ "a" ]"#),
        (
            "builtins.split \"\n\" \"a\nb\n\"",
            br#"[ "a" [ ] "b" [ ] "" ]"#,
        ),
        (r#"builtins.split "," ",,""#, br#"[ "" [ ] "" [ ] "" ]"#),
        (
            r#"builtins.split "(,)" "a,b,""#,
            br#"[ "a" [ "," ] "b" [ "," ] "" ]"#,
        ),
        (r#"builtins.split "q" "abc""#, br#"[ "abc" ]"#),
        (r#"builtins.split "abc" "abc""#, br#"[ "" [ ] "" ]"#),
    ]);
}

/// `^` and `$`, also inside groups and loops.
#[test]
fn anchors() {
    check(&[
        (r#"builtins.match "^a$" "a""#, br#"[ ]"#),
        (r#"builtins.match "a^" "a""#, br#"null"#),
        (r#"builtins.match "(^a)" "a""#, br#"[ "a" ]"#),
        (r#"builtins.match "^^a$$" "a""#, br#"[ ]"#),
        (r#"builtins.match "a$b" "ab""#, br#"null"#),
        (r#"builtins.match "(^a|b)+" "ab""#, br#"[ "b" ]"#),
        (r#"builtins.match "(a|^b)+" "ab""#, br#"null"#),
        (r#"builtins.match "(a$|b)+" "ba""#, br#"[ "a" ]"#),
        (r#"builtins.match "$" """#, br#"[ ]"#),
        (r#"builtins.match "^" """#, br#"[ ]"#),
        (r#"builtins.match "^$" """#, br#"[ ]"#),
        (r#"builtins.match "(^)*" """#, br#"[ "" ]"#),
        (r#"builtins.match "($)+" """#, br#"[ "" ]"#),
    ]);
}

/// Bracket expressions in the "C" locale: classes, equivalence classes, collating
/// elements, ranges and the special places of `]`, `-` and `^`.
#[test]
fn bracket_expressions() {
    check(&[
        (r#"builtins.match "[[:alpha:]]+" "aZ""#, br#"[ ]"#),
        (r#"builtins.match "[[:ALPHA:]]+" "aAa""#, br#"[ ]"#),
        (r#"builtins.match "[[:w:]]+" "a_1""#, br#"[ ]"#),
        (r#"builtins.match "[[:W:]]+" "a_1""#, br#"[ ]"#),
        (r#"builtins.match "[[:d:][:s:]]+" " 1""#, br#"[ ]"#),
        (r#"builtins.match "[[:alnum:]]+" "a1Z""#, br#"[ ]"#),
        (r#"builtins.match "[[:punct:]]+" "!-/[`{~""#, br#"[ ]"#),
        (r#"builtins.match "[[:xdigit:]]+" "09afAF""#, br#"[ ]"#),
        (r#"builtins.match "[[:xdigit:]]+" "g""#, br#"null"#),
        (r#"builtins.match "[[:upper:]][[:lower:]]" "Ab""#, br#"[ ]"#),
        (r#"builtins.match "[[:upper:]]" "a""#, br#"null"#),
        (r#"builtins.match "[[:print:]]+" "a b~""#, br#"[ ]"#),
        (r#"builtins.match "[[:graph:]]+" "a b""#, br#"null"#),
        (r#"builtins.match "[[:graph:]]+" "ab~""#, br#"[ ]"#),
        ("builtins.match \"[[:blank:]]+\" \" \t\"", br#"[ ]"#),
        ("builtins.match \"[[:blank:]]+\" \"\n\"", br#"null"#),
        ("builtins.match \"[[:space:]]+\" \" \t\n\r\"", br#"[ ]"#),
        ("builtins.match \"[[:cntrl:]]+\" \"\t\n\"", br#"[ ]"#),
        (r#"builtins.match "[^[:alpha:]]+" "123""#, br#"[ ]"#),
        (r#"builtins.match "[^[:alpha:]]+" "1a3""#, br#"null"#),
        (r#"builtins.match "[[=a=]]+" "aAa""#, br#"[ ]"#),
        (r#"builtins.match "[[=B=]]+" "bB""#, br#"[ ]"#),
        (r#"builtins.match "[[=space=]]+" "  ""#, br#"[ ]"#),
        (r#"builtins.match "[[.hyphen.]]+" "--""#, br#"[ ]"#),
        (r#"builtins.match "[[.space.]]" " ""#, br#"[ ]"#),
        (r#"builtins.match "[[.zero.]]" "0""#, br#"[ ]"#),
        (r#"builtins.match "[[.NUL.]]" " ""#, br#"null"#),
        (r#"builtins.match "[[.a.]-c]+" "abc""#, br#"[ ]"#),
        (r#"builtins.match "[]a]+" "]a""#, br#"[ ]"#),
        (r#"builtins.match "[^]a]+" "bc""#, br#"[ ]"#),
        (r#"builtins.match "[^]a]+" "b]""#, br#"null"#),
        (r#"builtins.match "[a-]+" "a-""#, br#"[ ]"#),
        (r#"builtins.match "[-a]+" "-a""#, br#"[ ]"#),
        (r#"builtins.match "[]-a]+" "]^a""#, br#"[ ]"#),
        (r#"builtins.match "[!--]+" "!-,""#, br#"[ ]"#),
        (r#"builtins.match "[--a]+" "-a0""#, br#"[ ]"#),
        (r#"builtins.match "[a-c]+" "abc""#, br#"[ ]"#),
        (r#"builtins.match "[a-cx-z]+" "bxz""#, br#"[ ]"#),
        (r#"builtins.match "[\\]+" "\\""#, br#"[ ]"#),
        (r#"builtins.match "[\\n]+" "n\\""#, br#"[ ]"#),
        (r#"builtins.match "[.]" "a""#, br#"null"#),
        (r#"builtins.match "[*+?]+" "*+?""#, br#"[ ]"#),
        (r#"builtins.match "[[]" "[""#, br#"[ ]"#),
        (r#"builtins.match "[a[]+" "[a""#, br#"[ ]"#),
        ("builtins.match \"[^a]\" \"\n\"", br#"[ ]"#),
        (r#"builtins.match "[^^]" "^""#, br#"null"#),
        (r#"builtins.match "[a^]+" "^a""#, br#"[ ]"#),
        (r#"builtins.match "[$]" "$""#, br#"[ ]"#),
    ]);
}

/// Malformed bracket expressions.
#[test]
fn bracket_errors() {
    check(&[
        (
            r#"builtins.match "[[.0.]]" "0""#,
            br#"error: invalid regular expression '[[.0.]]'"#,
        ),
        (
            r#"builtins.match "[[:foo:]]" " ""#,
            br#"error: invalid regular expression '[[:foo:]]'"#,
        ),
        (
            r#"builtins.match "[[=foo=]]" " ""#,
            br#"error: invalid regular expression '[[=foo=]]'"#,
        ),
        (
            r#"builtins.match "[[:alpha:]" "a""#,
            br#"error: invalid regular expression '[[:alpha:]'"#,
        ),
        (
            r#"builtins.match "[[:alpha]]" "a""#,
            br#"error: invalid regular expression '[[:alpha]]'"#,
        ),
        (
            r#"builtins.match "[a--]" "a""#,
            br#"error: invalid regular expression '[a--]'"#,
        ),
        (
            r#"builtins.match "[a-z-0]" "a""#,
            br#"error: invalid regular expression '[a-z-0]'"#,
        ),
        (
            r#"builtins.match "[[:alpha:]-c]" "a""#,
            br#"error: invalid regular expression '[[:alpha:]-c]'"#,
        ),
        (
            r#"builtins.match "[[=a=]-c]" "a""#,
            br#"error: invalid regular expression '[[=a=]-c]'"#,
        ),
        (
            r#"builtins.match "[c-a]" "a""#,
            br#"error: invalid regular expression '[c-a]'"#,
        ),
        (
            r#"builtins.match "[a" "a""#,
            br#"error: invalid regular expression '[a'"#,
        ),
        (
            r#"builtins.match "[]" "a""#,
            br#"error: invalid regular expression '[]'"#,
        ),
        (
            r#"builtins.match "[^]" "a""#,
            br#"error: invalid regular expression '[^]'"#,
        ),
        (
            r#"builtins.match "[" """#,
            br#"error: invalid regular expression '['"#,
        ),
        (
            r#"builtins.match "[[" """#,
            br#"error: invalid regular expression '[['"#,
        ),
    ]);
}

/// Strings are bytes and `char` is signed: a multi-byte UTF-8 character is several
/// atoms, and bytes from 0x80 sort below ASCII in ranges.
#[test]
fn bytes() {
    check(&[
        (r#"builtins.match "." "é""#, br#"null"#),
        (r#"builtins.match ".." "é""#, br#"[ ]"#),
        (r#"builtins.match "(.)(.)" "é""#, b"[ \"\xc3\" \"\xa9\" ]"),
        (r#"builtins.match "[é]" "é""#, br#"null"#),
        (r#"builtins.match "[é]+" "é""#, br#"[ ]"#),
        (
            r#"builtins.match "[a-é]+" "b""#,
            b"error: invalid regular expression '[a-\xc3\xa9]+'",
        ),
        (r#"builtins.match "[é-ü]+" "b""#, br#"null"#),
        (r#"builtins.match "[[:alpha:]]+" "é""#, br#"null"#),
        (r#"builtins.match "[[:print:]]+" "é""#, br#"null"#),
        (r#"builtins.match "[^a][^a]" "é""#, br#"[ ]"#),
        (r#"builtins.match "[^[:alpha:]]+" "é""#, br#"[ ]"#),
        (r#"builtins.match "é+" "éé""#, br#"null"#),
        (
            r#"builtins.split "é" "aébéc""#,
            br#"[ "a" [ ] "b" [ ] "c" ]"#,
        ),
        (
            r#"builtins.split "" "é""#,
            b"[ \"\" [ ] \"\xc3\" [ ] \"\xa9\" [ ] \"\" ]",
        ),
    ]);
}

/// Only the special characters may be escaped.
#[test]
fn escapes() {
    check(&[
        (r#"builtins.match "\\." ".""#, br#"[ ]"#),
        (r#"builtins.match "\\." "a""#, br#"null"#),
        (
            r#"builtins.match "\\n" "n""#,
            br#"error: invalid regular expression '\n'"#,
        ),
        (
            r#"builtins.match "\\t" "t""#,
            br#"error: invalid regular expression '\t'"#,
        ),
        (
            r#"builtins.match "\\]" "]""#,
            br#"error: invalid regular expression '\]'"#,
        ),
        (
            r#"builtins.match "\\}" "}""#,
            br#"error: invalid regular expression '\}'"#,
        ),
        (r#"builtins.match "\\{" "{""#, br#"[ ]"#),
        (r#"builtins.match "\\\\" "\\""#, br#"[ ]"#),
        (
            r#"builtins.match "\\" """#,
            br#"error: invalid regular expression '\'"#,
        ),
        (
            r#"builtins.match "a\\" "a""#,
            br#"error: invalid regular expression 'a\'"#,
        ),
        (r#"builtins.match "\\(a\\)" "(a)""#, br#"[ ]"#),
        (r#"builtins.match "a\\|b" "a|b""#, br#"[ ]"#),
        (r#"builtins.match "\\^a\\$" "^a$""#, br#"[ ]"#),
        (r#"builtins.match "\\*\\+\\?" "*+?""#, br#"[ ]"#),
        (r#"builtins.match "\\[a]" "[a]""#, br#"[ ]"#),
        (
            r#"builtins.match "\\1" "1""#,
            br#"error: invalid regular expression '\1'"#,
        ),
        (
            r#"builtins.match "\\-" "-""#,
            br#"error: invalid regular expression '\-'"#,
        ),
    ]);
}

/// Quantifiers, intervals, empty alternatives and stray brackets.
#[test]
fn syntax() {
    check(&[
        (
            r#"builtins.match "*a" "a""#,
            br#"error: invalid regular expression '*a'"#,
        ),
        (
            r#"builtins.match "+a" "a""#,
            br#"error: invalid regular expression '+a'"#,
        ),
        (
            r#"builtins.match "?a" "a""#,
            br#"error: invalid regular expression '?a'"#,
        ),
        (r#"builtins.match "a**" "aa""#, br#"[ ]"#),
        (r#"builtins.match "a*+" "aa""#, br#"[ ]"#),
        (r#"builtins.match "a+*" "aa""#, br#"[ ]"#),
        (r#"builtins.match "a?*" "aa""#, br#"[ ]"#),
        (r#"builtins.match "a+?" "aaa""#, br#"[ ]"#),
        (r#"builtins.match "a*?" "aaa""#, br#"[ ]"#),
        (
            r#"builtins.match "^*" "a""#,
            br#"error: invalid regular expression '^*'"#,
        ),
        (
            r#"builtins.match "$*" "a""#,
            br#"error: invalid regular expression '$*'"#,
        ),
        (
            r#"builtins.match "a|*" "a""#,
            br#"error: invalid regular expression 'a|*'"#,
        ),
        (
            r#"builtins.match "(*)" "a""#,
            br#"error: invalid regular expression '(*)'"#,
        ),
        (
            r#"builtins.match "(+a)" "a""#,
            br#"error: invalid regular expression '(+a)'"#,
        ),
        (r#"builtins.match "()" "aaa""#, br#"null"#),
        (r#"builtins.match "a{1,2}{3}" "aaa""#, br#"[ ]"#),
        (
            r#"builtins.match "x{,3}" "xx""#,
            br#"error: invalid regular expression 'x{,3}'"#,
        ),
        (
            r#"builtins.match "a{2,1}" "a""#,
            br#"error: invalid regular expression 'a{2,1}'"#,
        ),
        (
            r#"builtins.match "a{" "a""#,
            br#"error: invalid regular expression 'a{'"#,
        ),
        (
            r#"builtins.match "a{1" "a""#,
            br#"error: invalid regular expression 'a{1'"#,
        ),
        (
            r#"builtins.match "a{1," "a""#,
            br#"error: invalid regular expression 'a{1,'"#,
        ),
        (
            r#"builtins.match "a{x}" "a""#,
            br#"error: invalid regular expression 'a{x}'"#,
        ),
        (
            r#"builtins.match "a{1,x}" "a""#,
            br#"error: invalid regular expression 'a{1,x}'"#,
        ),
        (
            r#"builtins.match "{" """#,
            br#"error: invalid regular expression '{'"#,
        ),
        (
            r#"builtins.match "{1}" """#,
            br#"error: invalid regular expression '{1}'"#,
        ),
        (r#"builtins.match "}" "}""#, br#"[ ]"#),
        (r#"builtins.match "]" "]""#, br#"[ ]"#),
        (r#"builtins.match "a]" "a]""#, br#"[ ]"#),
        (r#"builtins.match "a}" "a}""#, br#"[ ]"#),
        (r#"builtins.match "a{1}}" "a}""#, br#"[ ]"#),
        (
            r#"builtins.match "a{ 1}" "a""#,
            br#"error: invalid regular expression 'a{ 1}'"#,
        ),
        (r#"builtins.match "(|)" """#, br#"[ "" ]"#),
        (r#"builtins.match "|" """#, br#"[ ]"#),
        (r#"builtins.match "a|" """#, br#"[ ]"#),
        (r#"builtins.match "|a" "a""#, br#"[ ]"#),
        (r#"builtins.match "a||b" "b""#, br#"[ ]"#),
        (
            r#"builtins.match "(a" "a""#,
            br#"error: invalid regular expression '(a'"#,
        ),
        (
            r#"builtins.match "a)" "a""#,
            br#"error: invalid regular expression 'a)'"#,
        ),
        (
            r#"builtins.match ")" """#,
            br#"error: invalid regular expression ')'"#,
        ),
        (
            r#"builtins.match "((a)" "a""#,
            br#"error: invalid regular expression '((a)'"#,
        ),
        (r#"builtins.match "a{0}" """#, br#"[ ]"#),
        (r#"builtins.match "a{0}" "a""#, br#"null"#),
        (r#"builtins.match "a{2,}" "aaa""#, br#"[ ]"#),
        (r#"builtins.match "a{2,}" "a""#, br#"null"#),
        (r#"builtins.match "(ab){1,3}" "abab""#, br#"[ "ab" ]"#),
        (r#"builtins.match "(ab){1,3}" "abababab""#, br#"null"#),
        (r#"builtins.match "a{2}{3}" "aaaaaa""#, br#"[ ]"#),
        (r#"builtins.match "a{3,5}" "aaaa""#, br#"[ ]"#),
        (r#"builtins.match "a{3,5}" "aa""#, br#"null"#),
        (r#"builtins.match "(a|b){2}" "ab""#, br#"[ "b" ]"#),
        (r#"builtins.match "(a){2}" "aa""#, br#"[ "a" ]"#),
        (r#"builtins.match "a{00002}" "aa""#, br#"[ ]"#),
        (r#"builtins.match "a{4294967295}" """#, br#"[ ]"#),
        (r#"builtins.match "a{4294967295}" "a""#, br#"null"#),
        (
            r#"builtins.match "a{2,4294967295}" "aa""#,
            br#"error: invalid regular expression 'a{2,4294967295}'"#,
        ),
        (r#"builtins.match "" """#, br#"[ ]"#),
        (r#"builtins.match "" "a""#, br#"null"#),
        (r#"builtins.match "ab" "abc""#, br#"null"#),
        (r#"builtins.match "abc" "abc""#, br#"[ ]"#),
        (r#"builtins.match "a(b)(c)" "abc""#, br#"[ "b" "c" ]"#),
        ("builtins.match \".*\" \"a\nb\"", br#"[ ]"#),
    ]);
}

/// The limit of 100 000 NFA states, counted as libstdc++ creates them.
#[test]
fn state_limit() {
    check(&[
        (r#"builtins.match "a{99993}" "a""#, br#"null"#),
        (
            r#"builtins.match "a{99994}" "a""#,
            br#"error: memory limit exceeded by regular expression 'a{99994}'"#,
        ),
        (
            r#"builtins.match "a{99999999999}" "a""#,
            br#"error: memory limit exceeded by regular expression 'a{99999999999}'"#,
        ),
        (
            r#"builtins.match "a{0,99990}" "a""#,
            br#"error: memory limit exceeded by regular expression 'a{0,99990}'"#,
        ),
        (
            r#"builtins.match "(a){50000}" "a""#,
            br#"error: memory limit exceeded by regular expression '(a){50000}'"#,
        ),
        (
            r#"builtins.match "(a|b){20000}" "a""#,
            br#"error: memory limit exceeded by regular expression '(a|b){20000}'"#,
        ),
        (r#"builtins.match "(a|b){10000}" "a""#, br#"null"#),
        (
            r#"builtins.match "(a*){20000}" """#,
            br#"error: memory limit exceeded by regular expression '(a*){20000}'"#,
        ),
        (r#"builtins.match "(a|b|c){5000,}" "abc""#, br#"null"#),
    ]);
}

/// Patterns of the kind nixpkgs uses, and one pattern applied to many strings (cached).
#[test]
fn real_world() {
    check(&[
        (
            r#"builtins.match "((.*)/)?([^/]*)\\.(nix|cc)" "/path/to/foobar.nix""#,
            br#"[ "/path/to/" "/path/to" "foobar" "nix" ]"#,
        ),
        (
            r#"builtins.match "((.*)/)?([^/]*)\\.(nix|cc)" "foobar.cc""#,
            br#"[ null null "foobar" "cc" ]"#,
        ),
        (
            r#"builtins.match "([^/]*)/(.*)" "foo/bar/baz""#,
            br#"[ "foo" "bar/baz" ]"#,
        ),
        (
            r#"builtins.match "(.*)\\.tar\\.gz" "x-1.0.tar.gz""#,
            br#"[ "x-1.0" ]"#,
        ),
        (
            r#"builtins.match "[0-9]+\\.[0-9]+.*" "1.2.3""#,
            br#"[ ]"#,
        ),
        (
            r#"builtins.match "^([a-z]+)://(.*)$" "https://example.org/x""#,
            br#"[ "https" "example.org/x" ]"#,
        ),
        (
            r#"builtins.match ".*[.]nix" "a.nix""#,
            br#"[ ]"#,
        ),
        (
            r#"builtins.match "([^-]+)-([0-9].*)" "hello-2.12.1""#,
            br#"[ "hello" "2.12.1" ]"#,
        ),
        (
            r#"builtins.match "(.*)-([0-9][^-]*)" "gtk-3-3.24.0""#,
            br#"[ "gtk-3" "3.24.0" ]"#,
        ),
        (
            r#"builtins.match "[[:space:]]+([^[:space:]]+)[[:space:]]+" "  foo   ""#,
            br#"[ "foo" ]"#,
        ),
        (
            r#"builtins.match "[a-zA-Z0-9_'-]+" "foo'_-9""#,
            br#"[ ]"#,
        ),
        (
            r#"builtins.match "(.*)\\.nix" "foobar.nix""#,
            br#"[ "foobar" ]"#,
        ),
        (
            "builtins.split \"[[:space:]]+|([',.!?])\" \"  Nix Rocks!\n  That's why I use it.\n\"",
            br#"[ "" [ null ] "Nix" [ null ] "Rocks" [ "!" ] "" [ null ] "That" [ "'" ] "s" [ null ] "why" [ null ] "I" [ null ] "use" [ null ] "it" [ "." ] "" [ null ] "" ]"#,
        ),
        (
            r#"builtins.split "(\\$\\{[^}]*})" "a\${b}c\${d}""#,
            br#"[ "a" [ "\${b}" ] "c" [ "\${d}" ] "" ]"#,
        ),
        (
            r#"builtins.split "([^:]+)" "a:b::c""#,
            br#"[ "" [ "a" ] ":" [ "b" ] "::" [ "c" ] "" ]"#,
        ),
        (
            r#"map (builtins.match "([a-z]+)-([0-9]+)") [ "a-1" "bb-22" "c" "d-" "e-5" ]"#,
            br#"[ [ "a" "1" ] [ "bb" "22" ] null null [ "e" "5" ] ]"#,
        ),
        (
            r#"map (builtins.split "(-)") [ "a-1" "b" "-" ]"#,
            br#"[ [ "a" [ "-" ] "1" ] [ "b" ] [ "" [ "-" ] "" ] ]"#,
        ),
    ]);
}

/// Type errors, context in the pattern, and the order in which arguments are forced.
#[test]
fn argument_errors() {
    check(&[
        (
            r#"builtins.match 1 "x""#,
            br#"error: value is an integer while a string was expected"#,
        ),
        (
            r#"builtins.match "x" 1"#,
            br#"error: value is an integer while a string was expected"#,
        ),
        (
            r#"builtins.split "a" null"#,
            br#"error: value is null while a string was expected"#,
        ),
        (
            r#"builtins.split [ ] "a""#,
            br#"error: value is a list while a string was expected"#,
        ),
        (
            r#"builtins.match "a" ./foo"#,
            br#"error: value is a path while a string was expected"#,
        ),
        (
            r#"builtins.match ./foo "a""#,
            br#"error: value is a path while a string was expected"#,
        ),
        (
            r#"builtins.match "a" { }"#,
            br#"error: value is a set while a string was expected"#,
        ),
        (
            r#"builtins.match "(" (throw "bam")"#,
            br#"error: invalid regular expression '('"#,
        ),
        (
            r#"builtins.split "(" (throw "bam")"#,
            br#"error: invalid regular expression '('"#,
        ),
        (
            r#"builtins.match (throw "boom") (throw "bam")"#,
            br#"error: boom"#,
        ),
        (
            r#"builtins.match "a" (throw "bam")"#,
            br#"error: bam"#,
        ),
        (
            r#"builtins.split "[[:nope:]]" "x""#,
            br#"error: invalid regular expression '[[:nope:]]'"#,
        ),
        (
            r#"builtins.match (builtins.appendContext "x" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo" = { path = true; }; }) "x""#,
            br#"error: the string 'x' is not allowed to refer to a store path (such as '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo')"#,
        ),
    ]);
}

/// `split` without a match returns the string itself, context and all; other results
/// have no context.
#[test]
fn context() {
    check(&[
        (
            r#"let s = builtins.appendContext "xy" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo" = { path = true; }; }; in builtins.split "q" s"#,
            br#"[ "xy" ]"#,
        ),
        (
            r#"let s = builtins.appendContext "xy" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo" = { path = true; }; }; in map builtins.hasContext (builtins.split "q" s)"#,
            br#"[ true ]"#,
        ),
        (
            r#"let s = builtins.appendContext "xy" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo" = { path = true; }; }; in map (x: if builtins.isString x then builtins.hasContext x else x) (builtins.split "x" s)"#,
            br#"[ false [ ] false ]"#,
        ),
        (
            r#"let s = builtins.appendContext "xy" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo" = { path = true; }; }; in map builtins.hasContext (builtins.match "(x)(y)" s)"#,
            br#"[ false false ]"#,
        ),
        (
            r#"let s = builtins.appendContext "xy" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo" = { path = true; }; }; in builtins.match "(x)(y)" s"#,
            br#"[ "x" "y" ]"#,
        ),
    ]);
}
