//! `builtins.fromTOML` against Nix 2.8 (toml11 3.7, TOML 1.0).
//!
//! Every expected output and message below was printed by Nix 2.8.0 (`nix-instantiate --eval
//! --strict -E EXPR`, with `NIX_REMOTE=dummy://`).

mod common;
use common::*;

#[test]
fn from_toml_matches_nix() {
    check_table(TOML_OK, TOML_ERR);
}

/// Documents Nix 2.8 rejects where toml11's wording is not reproduced (the `toml` crate
/// describes the problem in its own words): Ferrix fails too, at the same place, with the
/// same prefix. The third field is Nix's message.
#[test]
fn from_toml_rejects_what_nix_rejects() {
    let mut failures = Vec::new();
    for &(text, nix_message, pos) in TOML_ERR_WORDING {
        let nix_first_line = nix_message.lines().next().unwrap_or("");
        let prefix = "while parsing a TOML string: ";
        assert!(nix_first_line.starts_with(prefix));
        match eval_strict(text) {
            Err((m, p)) if m.starts_with(prefix) && p.as_deref() == pos => {}
            got => failures.push(format!(
                "{text}\n  expected a TOML error at {pos:?}\n  got {got:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `nix-instantiate --eval --strict -E EXPR` printed these with Nix 2.8.0.
const TOML_OK: &[(&str, &str)] = &[
    (
        r#"builtins.fromTOML "a = 9223372036854775808""#,
        r#"{ a = 9223372036854775807; }"#,
    ),
    (
        r#"builtins.fromTOML "a = -9223372036854775809""#,
        r#"{ a = -9223372036854775808; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 99999999999999999999999""#,
        r#"{ a = 9223372036854775807; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 0x7FFFFFFFFFFFFFFF""#,
        r#"{ a = 9223372036854775807; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 0xFFFFFFFFFFFFFFFF""#,
        r#"{ a = 9223372036854775807; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 0o777777777777777777777777""#,
        r#"{ a = 9223372036854775807; }"#,
    ),
    (
        r#"builtins.fromTOML "a = [1.0, 3.0, -0.0, 0.1, 1e1000, -1e1000, 1e-1000, 5e-324, 1.7976931348623157e308]""#,
        r#"{ a = [ 1 3 -0 0.1 1.79769e+308 -1.79769e+308 0 4.94066e-324 1.79769e+308 ]; }"#,
    ),
    (r#"builtins.fromTOML "a = \"\\u0000\"""#, r#"{ a = ""; }"#),
    (
        r#"builtins.fromTOML "a = \"\\U0001F600\"""#,
        r#"{ a = "😀"; }"#,
    ),
    (
        r#"builtins.fromTOML "a = [1, \"a\", [2], {b = 3}]""#,
        r#"{ a = [ 1 "a" [ 2 ] { b = 3; } ]; }"#,
    ),
    (r#"builtins.fromTOML """#, r#"{ }"#),
    (
        r#"builtins.fromTOML "a = \"\"\"\nmulti\nline\"\"\"""#,
        r#"{ a = "multi\nline"; }"#,
    ),
    (
        r#"builtins.fromTOML "a = '''\\nraw\\n'''""#,
        r#"{ a = "\\nraw\\n"; }"#,
    ),
    (
        r#"builtins.fromTOML "a.b = 1\na.c = 2""#,
        r#"{ a = { b = 1; c = 2; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a = true\n[b]\nc = {}""#,
        r#"{ a = true; b = { c = { }; }; }"#,
    ),
    (r#"builtins.fromTOML "a = [ ]""#, r#"{ a = [ ]; }"#),
    (
        r#"builtins.fromTOML "a = [[1],[2.0]]""#,
        r#"{ a = [ [ 1 ] [ 2 ] ]; }"#,
    ),
    (
        r#"builtins.fromTOML "[a.b]\nc = 1\n[a]\nd = 2""#,
        r#"{ a = { b = { c = 1; }; d = 2; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a = [\n  1,\n  2,\n]""#,
        r#"{ a = [ 1 2 ]; }"#,
    ),
    (r#"builtins.fromTOML "a = 1e5""#, r#"{ a = 100000; }"#),
    (r#"builtins.fromTOML "a = 1_000.000_1""#, r#"{ a = 1000; }"#),
    (r#"builtins.fromTOML "a = -0""#, r#"{ a = 0; }"#),
    (r#"builtins.fromTOML "\"\" = 1""#, r#"{ "" = 1; }"#),
    (r#"builtins.fromTOML "'' = 1""#, r#"{ "" = 1; }"#),
    (
        r#"builtins.fromTOML "a.\"\" = 1""#,
        r#"{ a = { "" = 1; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a = \"tab\there\"""#,
        r#"{ a = "tab\there"; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 'lit\\eral'""#,
        r#"{ a = "lit\\eral"; }"#,
    ),
    (
        r#"builtins.fromTOML "key = \"value\" # comment\n# another\n""#,
        r#"{ key = "value"; }"#,
    ),
    (
        r#"builtins.fromTOML "[ table ]\n\n[table.sub]\nk = \"v\"""#,
        r#"{ table = { sub = { k = "v"; }; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a.b.c = 1\na.b.d = 2\n[x]\ny.z = 3""#,
        r#"{ a = { b = { c = 1; d = 2; }; }; x = { y = { z = 3; }; }; }"#,
    ),
    (r#"builtins.fromTOML "a = nan""#, r#"{ a = nan; }"#),
    (
        r#"builtins.fromTOML "a = \"é\\u00e9\"""#,
        r#"{ a = "éé"; }"#,
    ),
    (r#"builtins.fromTOML "﻿a = 1""#, r#"{ a = 1; }"#),
    (
        r#"builtins.fromTOML "a = 1\r\nb = 2\r\n""#,
        r#"{ a = 1; b = 2; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 9_223_372_036_854_775_807""#,
        r#"{ a = 9223372036854775807; }"#,
    ),
    (
        r#"builtins.fromTOML "a = -9_223_372_036_854_775_808""#,
        r#"{ a = -9223372036854775808; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 1.7976931348623159e308""#,
        r#"{ a = 1.79769e+308; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 123456789012345678901234567890.0""#,
        r#"{ a = 1.23457e+29; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 0.1234567890123456789""#,
        r#"{ a = 0.123457; }"#,
    ),
    (
        r#"builtins.fromTOML "a = \"\"\"\\\n   trimmed \\\n   text\"\"\"""#,
        r#"{ a = "trimmed text"; }"#,
    ),
    (r#"builtins.fromTOML "a = '''\\n'''""#, r#"{ a = "\\n"; }"#),
    (
        r#"builtins.fromTOML "a = \"\"\"\"one quote\"\"\"\"""#,
        r#"{ a = "\"one quote\""; }"#,
    ),
    (r#"builtins.fromTOML "a = \"\\\\e\"""#, r#"{ a = "\\e"; }"#),
    (
        r#"builtins.fromTOML "a = \"\"\"\\\\e\"\"\"""#,
        r#"{ a = "\\e"; }"#,
    ),
    (r#"builtins.fromTOML "a = '\\e'""#, r#"{ a = "\\e"; }"#),
    (
        r#"builtins.fromTOML "a = \"\"\"\na\\\n  b\"\"\"\nc = \"\"\"\"\"x\"\"\"\"\"""#,
        r#"{ a = "ab"; c = "\"\"x\"\""; }"#,
    ),
    (
        r#"builtins.fromTOML "a = '''''x'''''""#,
        r#"{ a = "''x''"; }"#,
    ),
    (
        r#"builtins.fromTOML "[a.\"b.c\"]\nd = 1\n[\"x y\".z]\nw = 2""#,
        r#"{ a = { "b.c" = { d = 1; }; }; "x y" = { z = { w = 2; }; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a = { b = \"}\", c = \",\" }""#,
        r#"{ a = { b = "}"; c = ","; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a = [ \"]\", \"[\" ] # ]""#,
        r#"{ a = [ "]" "[" ]; }"#,
    ),
    (
        r#"builtins.fromTOML "[[x]]\n[x.y]\nz = 1""#,
        r#"{ x = [ { y = { z = 1; }; } ]; }"#,
    ),
    (
        r#"builtins.fromTOML "[workspace]\nmembers = [\".\", \"lexer\", \"parser\", \"eval\", \"primops\"]\nresolver = \"2\"\n\n[workspace.package]\nedition = \"2021\"\nversion = \"0.1.0\"\nlicense = \"LGPL-2.1-or-later\"\n\n[workspace.dependencies]\nferrix-lexer = { path = \"lexer\" }\nferrix-parser = { path = \"parser\" }\nferrix-eval = { path = \"eval\" }\nferrix-primops = { path = \"primops\" }\nbumpalo = { version = \"3\", features = [\"collections\"] }\nlogos = \"0.16\"\nlalrpop = \"0.23\"\nlalrpop-util = \"0.23\"\nclap = { version = \"4.6\", features = [\"derive\"] }\nrustc-hash = \"2.1\"\nthiserror = \"2\"\nstacker = \"0.1\"\nproptest = \"1\"\ntempfile = \"3\"\n\n[package]\nname = \"ferrix\"\nversion.workspace = true\nedition.workspace = true\nlicense.workspace = true\ndefault-run = \"ferrix\"\n\n[dependencies]\nferrix-parser.workspace = true\nferrix-eval.workspace = true\nferrix-primops.workspace = true\nbumpalo.workspace = true\nclap.workspace = true\nstacker.workspace = true\n\n[dev-dependencies]\ntempfile.workspace = true\nproptest.workspace = true\n\n[profile.release]\ndebug = \"line-tables-only\"\ncodegen-units = 4\nlto = \"thin\"\n""#,
        r#"{ dependencies = { bumpalo = { workspace = true; }; clap = { workspace = true; }; ferrix-eval = { workspace = true; }; ferrix-parser = { workspace = true; }; ferrix-primops = { workspace = true; }; stacker = { workspace = true; }; }; dev-dependencies = { proptest = { workspace = true; }; tempfile = { workspace = true; }; }; package = { default-run = "ferrix"; edition = { workspace = true; }; license = { workspace = true; }; name = "ferrix"; version = { workspace = true; }; }; profile = { release = { codegen-units = 4; debug = "line-tables-only"; lto = "thin"; }; }; workspace = { dependencies = { bumpalo = { features = [ "collections" ]; version = "3"; }; clap = { features = [ "derive" ]; version = "4.6"; }; ferrix-eval = { path = "eval"; }; ferrix-lexer = { path = "lexer"; }; ferrix-parser = { path = "parser"; }; ferrix-primops = { path = "primops"; }; lalrpop = "0.23"; lalrpop-util = "0.23"; logos = "0.16"; proptest = "1"; rustc-hash = "2.1"; stacker = "0.1"; tempfile = "3"; thiserror = "2"; }; members = [ "." "lexer" "parser" "eval" "primops" ]; package = { edition = "2021"; license = "LGPL-2.1-or-later"; version = "0.1.0"; }; resolver = "2"; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a = { b = 1, c = [\n1,\n2] }""#,
        r#"{ a = { b = 1; c = [ 1 2 ]; }; }"#,
    ),
    (
        r#"builtins.fromTOML "a = { b = \"\"\"\nx\"\"\" }""#,
        r#"{ a = { b = "x"; }; }"#,
    ),
    (r#"builtins.fromTOML "a = {}""#, r#"{ a = { }; }"#),
    (
        r#"builtins.fromTOML "a = \"\\U0001F600\\u00e9\\t\"""#,
        r#"{ a = "😀é\t"; }"#,
    ),
    (
        r#"builtins.fromTOML "a = [\n  { b = 1 },\n  { c = 2 },\n]""#,
        r#"{ a = [ { b = 1; } { c = 2; } ]; }"#,
    ),
    (
        r#"builtins.fromTOML "a = 'lit\\\\e'""#,
        r#"{ a = "lit\\\\e"; }"#,
    ),
    (
        r#"builtins.toJSON (builtins.fromTOML "a = [inf, -inf, nan, -nan, +nan, 1e1000, -1e1000]")"#,
        r#""{\"a\":[inf,-inf,nan,-nan,nan,1.79769e+308,-1.79769e+308]}""#,
    ),
    (
        r#"builtins.typeOf (builtins.fromTOML "a = 1.0").a"#,
        r#""float""#,
    ),
];

/// Nix 2.8.0 failed on these with this message, at this position (if any).
const TOML_ERR: &[(&str, &str, Option<&str>)] = &[
    (
        r#"builtins.fromTOML "a = 1979-05-27T07:32:00Z""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1979-05-27""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 07:32:00""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1, }""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table
 --> fromTOML
   |
 1 | a = { b = 1, }
   |              ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1,\n c = 2 }""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | a = { b = 1,
   |             ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\\e\"""#,
        r#"while parsing a TOML string: [error] toml::parse_basic_string: the next token is not a valid string
 --> fromTOML
   |
 1 | a = "\e"
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\\x41\"""#,
        r#"while parsing a TOML string: [error] toml::parse_basic_string: the next token is not a valid string
 --> fromTOML
   |
 1 | a = "\x41"
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 0x""#,
        r#"while parsing a TOML string: [error] toml::parse_hexadecimal_integer
 --> fromTOML
   |
 1 | a = 0x
   |     ^--- the next token is not an integer"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1979-05-27T07:32:00.999999-07:00""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = [1979-05-27]""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "b = 1\na = {x = 1979-05-27}""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1979-05-27 07:32:00\nb = 1""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = [1979-05-27 07:32:00, 1]""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "x = { a = 1979-05-27 07:32:00 }""#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\"\"x\\ey\"\"\"""#,
        r#"while parsing a TOML string: [error] toml::parse_ml_basic_string: the next token is not a valid multiline string
 --> fromTOML
   |
 1 | a = """x\ey"""
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "\"k\\e\" = 1""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | "k\e" = 1
   | ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1\n}""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: missing curly brace `}`
 --> fromTOML
   |
 1 | a = { b = 1
   |            ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = {\nb = 1 }""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | a = {
   |      ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = {b=1,}""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table
 --> fromTOML
   |
 1 | a = {b=1,}
   |          ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = [{ b = 1, }]""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table
 --> fromTOML
   |
 1 | a = [{ b = 1, }]
   |               ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "x = 1\na = { b = 1 , c = 2 ,}""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table
 --> fromTOML
   |
 2 | a = { b = 1 , c = 2 ,}
   |                      ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\\x41\" # c""#,
        r#"while parsing a TOML string: [error] toml::parse_basic_string: the next token is not a valid string
 --> fromTOML
   |
 1 | a = "\x41" # c
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1, # c\n}""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | a = { b = 1, # c
   |              ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = {\n}""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | a = {
   |      ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "[a]\n  x = { y = { z = 1, }, }""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table
 --> fromTOML
   |
 2 |   x = { y = { z = 1, }, }
   |                      ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\"\"\\\n  x\\e\"\"\"""#,
        r#"while parsing a TOML string: [error] toml::parse_ml_basic_string: the next token is not a valid multiline string
 --> fromTOML
   |
 1 | a = """\
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b =\n 1 }""#,
        r#"while parsing a TOML string: [error] toml::parse_key_value_pair: missing value after key-value separator '='
 --> fromTOML
   |
 1 | a = { b =
   |          ^--- expected value, but got nothing"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b\n = 1 }""#,
        r#"while parsing a TOML string: [error] toml::parse_key_value_pair: missing key-value separator `=`
 --> fromTOML
   |
 1 | a = { b
   |        ^--- should be `=`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1 # c\n}""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: missing curly brace `}`
 --> fromTOML
   |
 1 | a = { b = 1 # c
   |             ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1,\n}""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | a = { b = 1,
   |             ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = [1,\n2]\n}""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: missing curly brace `}`
 --> fromTOML
   |
 2 | 2]
   |   ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1, c = { d = 2,\n} }""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | a = { b = 1, c = { d = 2,
   |                          ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1, }\nc = \"\\e\"""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table
 --> fromTOML
   |
 1 | a = { b = 1, }
   |              ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "[x.\"k\\e\"]""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | [x."k\e"]
   | ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "x.\"k\\e\" = 1""#,
        r#"while parsing a TOML string: [error] toml::parse_key_value_pair: invalid format for key
 --> fromTOML
   |
 1 | x."k\e" = 1
   |  ^--- invalid character in key
   |
Hint: Did you forget '.' to separate dotted-key?
Hint: Allowed characters for bare key are [0-9a-zA-Z_-]."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = [1, \"\\e\"]""#,
        r#"while parsing a TOML string: [error] toml::parse_array: value having invalid format appeared in an array
 --> fromTOML
   |
 1 | a = [1, "\e"]
   |     ^--- array starts here
 ...
 1 | a = [1, "\e"]
   |         ^--- it is not a valid value."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { \"k\\e\" = 1 }""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | a = { "k\e" = 1 }
   |       ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = { b = 1 ,}""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: trailing comma is not allowed in an inline table
 --> fromTOML
   |
 1 | a = { b = 1 ,}
   |              ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML 1"#,
        r#"value is an integer while a string was expected"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "${builtins.appendContext "a = 1" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }}""#,
        r#"the string 'a = 1' is not allowed to refer to a store path (such as '/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x')"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.tryEval (builtins.fromTOML "a = 1979-05-27")"#,
        r#"while parsing a TOML string: Dates and times are not supported"#,
        Some(r#"«string»:1:19"#),
    ),
];

/// Nix 2.8.0 failed on these with this message, at this position; Ferrix words the
/// message differently (see `from_toml_rejects_what_nix_rejects`).
const TOML_ERR_WORDING: &[(&str, &str, Option<&str>)] = &[
    (
        r#"builtins.fromTOML "a = 1\na = 2""#,
        r#"while parsing a TOML string: [error] toml::insert_value: value ("a") already exists.
 --> fromTOML
   |
 1 | a = 1
   |     ^--- value already exists here
 ...
 2 | a = 2
   |     ^--- value defined twice"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = ""#,
        r#"while parsing a TOML string: [error] toml::parse_key_value_pair: missing value after key-value separator '='
 --> fromTOML
   |
 1 | a =
   |     ^--- expected value, but got nothing"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "x""#,
        r#"while parsing a TOML string: [error] toml::parse_key_value_pair: missing key-value separator `=`
 --> fromTOML
   |
 1 | x
   |  ^--- should be `=`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "[a]\nb = 1\n[a]\nc = 2""#,
        r#"while parsing a TOML string: [error] toml::insert_value: table ("a") already exists.
 --> fromTOML
   |
 1 | [a]
   | ~~~ table already exists here
 ...
 3 | [a]
   | ~~~ table defined twice"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 01""#,
        r#"while parsing a TOML string: [error] bad integer: leading zero
 --> fromTOML
   |
 1 | a = 01
   |     ^--- here
   |
Hint: pass: -42, 1_000, 1_2_3_4_5, 0xC0FFEE, 0b0010, 0o755
Hint: fail: 1__000, 0123"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1__0""#,
        r#"while parsing a TOML string: [error] bad integer: `_` should be surrounded by digits
 --> fromTOML
   |
 1 | a = 1__0
   |      ^--- here
   |
Hint: pass: -42, 1_000, 1_2_3_4_5, 0xC0FFEE, 0b0010, 0o755
Hint: fail: 1__000, 0123"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 0.1e""#,
        r#"while parsing a TOML string: [error] toml::parse_table: invalid line format
 --> fromTOML
   |
 1 | a = 0.1e
   |        ^--- expected newline, but got 'e'."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = {b = 1}\n[a.c]\nd = 1""#,
        r#"while parsing a TOML string: [error] toml::insert_value: inserting to an inline table (a) but inline tables are immutable
 --> fromTOML
   |
 1 | a = {b = 1}
   |     ~~~~~~~ inline tables are immutable
 ...
 2 | [a.c]
   | ~~~~~ inserting this"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1979-05-27T07:32""#,
        r#"while parsing a TOML string: [error] bad time: should be HH:MM:SS.subsec
 --> fromTOML
   |
 1 | a = 1979-05-27T07:32
   |               ^--- HH:MM:SS.subsec
   |
Hint: pass: 1979-05-27T07:32:00, 1979-05-27 07:32:00.999999
Hint: fail: 1979-05-27T7:32:00, 1979-05-27 17:32"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\\q\"""#,
        r#"while parsing a TOML string: [error] toml::parse_basic_string: the next token is not a valid string
 --> fromTOML
   |
 1 | a = "\q"
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1.""#,
        r#"while parsing a TOML string: [error] bad float: invalid format
 --> fromTOML
   |
 1 | a = 1.
   |      ^--- here
   |
Hint: pass: +1.0, -2e-2, 3.141_592_653_589, inf, nan
Hint: fail: .0, 1., _1.0, 1.0_, 1_.0, 1.0__0"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = .1""#,
        r#"while parsing a TOML string: [error] bad float: invalid format
 --> fromTOML
   |
 1 | a = .1
   |     ^--- integer part required before this
   |
Hint: pass: +1.0, -2e-2, 3.141_592_653_589, inf, nan
Hint: fail: .0, 1., _1.0, 1.0_, 1_.0, 1.0__0"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 0b2""#,
        r#"while parsing a TOML string: [error] toml::parse_binary_integer:
 --> fromTOML
   |
 1 | a = 0b2
   |     ^--- the next token is not an integer"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = +0x1""#,
        r#"while parsing a TOML string: [error] toml::parse_table: invalid line format
 --> fromTOML
   |
 1 | a = +0x1
   |       ^--- expected newline, but got 'x'."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 00.1""#,
        r#"while parsing a TOML string: [error] bad integer: leading zero
 --> fromTOML
   |
 1 | a = 00.1
   |     ^--- here
   |
Hint: pass: -42, 1_000, 1_2_3_4_5, 0xC0FFEE, 0b0010, 0o755
Hint: fail: 1__000, 0123"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "[[a]]\nb = 1\n[a]\nc = 1""#,
        r#"while parsing a TOML string: [error] toml::insert_value: array of tables ("a") already exists.
 --> fromTOML
   |
 1 | [[a]]
   | ~~~~~ array of tables defined here
 ...
 3 | [a]
   | ~~~ table conflicts with the previous array of table"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = [1]\n[[a]]\nb = 1""#,
        r#"while parsing a TOML string: [error] toml::insert_value: array of table ("a") collides with existing value
 --> fromTOML
   |
 1 | a = [1]
   |     ~~~ this array value already exists
 ...
 2 | [[a]]
   | ~~~~~ while inserting this array-of-tables"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = true b = 1""#,
        r#"while parsing a TOML string: [error] toml::parse_table: invalid line format
 --> fromTOML
   |
 1 | a = true b = 1
   |          ^--- expected newline, but got 'b'."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"line\nbreak\"""#,
        r#"while parsing a TOML string: [error] toml::parse_basic_string: the next token is not a valid string
 --> fromTOML
   |
 1 | a = "line
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = {}\na.b = 1""#,
        r#"while parsing a TOML string: [error] toml::insert_value: inserting to an inline table (a) but inline tables are immutable
 --> fromTOML
   |
 1 | a = {}
   |     ~~ inline tables are immutable
 ...
 2 | a.b = 1
   |       ^--- inserting this"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = TRUE""#,
        r#"while parsing a TOML string: [error] bad format: unknown value appeared
 --> fromTOML
   |
 1 | a = TRUE
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = [1 2]""#,
        r#"while parsing a TOML string: [error] toml::parse_array: missing array separator `,` after a value
 --> fromTOML
   |
 1 | a = [1 2]
   |     ^--- array starts here
 ...
 1 | a = [1 2]
   |        ^--- should be `,`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "[a""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | [a
   | ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = {b = 1""#,
        r#"while parsing a TOML string: [error] toml::parse_inline_table: missing curly brace `}`
 --> fromTOML
   |
 1 | a = {b = 1
   |           ^--- should be `}`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"unterminated""#,
        r#"while parsing a TOML string: [error] toml::parse_basic_string: the next token is not a valid string
 --> fromTOML
   |
 1 | a = "unterminated
   |     ^--- here"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1\n\n\n  b = 2\n c""#,
        r#"while parsing a TOML string: [error] toml::parse_key_value_pair: missing key-value separator `=`
 --> fromTOML
   |
 5 |  c
   |   ^--- should be `=`"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1e""#,
        r#"while parsing a TOML string: [error] bad float: invalid format
 --> fromTOML
   |
 1 | a = 1e
   |      ^--- here
   |
Hint: pass: +1.0, -2e-2, 3.141_592_653_589, inf, nan
Hint: fail: .0, 1., _1.0, 1.0_, 1_.0, 1.0__0"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1979-13-27""#,
        r#"while parsing a TOML string: [error] toml::parse_date: invalid date: it does not conform RFC3339.
 --> fromTOML
   |
 1 | a = 1979-13-27
   |               ^--- month should be 01-12, day should be 01-28,29,30,31, depending on month/year."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 25:00:00""#,
        r#"while parsing a TOML string: [error] toml::parse_time: invalid time: it does not conform RFC3339.
 --> fromTOML
   |
 1 | a = 25:00:00
   |             ^--- hour should be 00-23, minute should be 00-59, second should be 00-60 (depending on the leap second rules.)"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "é = 1""#,
        r#"while parsing a TOML string: [error] toml::parse_key: an invalid key appeared.
 --> fromTOML
   |
 1 | é = 1
   | ^--- is not a valid key
   |
Hint: bare keys  : non-empty strings composed only of [A-Za-z0-9_-].
Hint: quoted keys: same as "basic strings" or 'literal strings'.
Hint: dotted keys: sequence of bare or quoted keys joined with a dot."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = 1\rb = 2""#,
        r#"while parsing a TOML string: [error] toml::parse_table: invalid line format
 --> fromTOML
   |
 1 | a = 1b = 2
   |      ^--- expected newline, but got '0x0d'."#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\\uD800\"""#,
        r#"while parsing a TOML string: [error] toml::read_utf8_codepoint: codepoints in the range [0xD800, 0xDFFF] are not valid UTF-8.
 --> fromTOML
   |
 1 | a = "\uD800"
   |            ^--- not a valid UTF-8 codepoint"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromTOML "a = \"\\U00110000\"""#,
        r#"while parsing a TOML string: [error] toml::read_utf8_codepoint: input codepoint is too large.
 --> fromTOML
   |
 1 | a = "\U00110000"
   |                ^--- should be in [0x00..0x10FFFF]"#,
        Some(r#"«string»:1:1"#),
    ),
];

/// A small deterministic generator for the robustness test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn any_input_gives_a_value_or_an_error() {
    const PIECES: &[&str] = &[
        "a",
        "b.c",
        " = ",
        "=",
        "\n",
        "[",
        "]",
        "[[",
        "]]",
        "{",
        "}",
        ",",
        "\"",
        "\"\"\"",
        "'",
        "'''",
        "\\",
        "\\e",
        "\\x41",
        "\\u00e9",
        "1",
        "-0x1",
        "0o7",
        "1e1000",
        "nan",
        "-inf",
        "1979-05-27",
        " ",
        "07:32:00",
        "T",
        "#",
        "\t",
        "\r\n",
        "true",
        "é",
        "99999999999999999999",
    ];
    with_evaluator(|ev| {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let mut text = Vec::new();
            for _ in 0..rng.below(16) {
                text.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
            }
            let _ = ferrix_primops::toml::parse_toml(ev, &text);
        }
    });
}
