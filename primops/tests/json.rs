//! `builtins.toJSON`, `builtins.fromJSON` and `value_to_json` (`nix-instantiate --eval
//! --json`) against Nix 2.8.
//!
//! Every expected output and message below was printed by Nix 2.8.0 (`nix-instantiate --eval
//! --strict -E EXPR`, or `--eval --json` for the lazy printer), with `NIX_REMOTE=dummy://`.

use ferrix_primops::json::value_to_json;

mod common;
use common::*;

#[test]
fn to_json_and_from_json_match_nix() {
    check_table(JSON_OK, JSON_ERR);
}

/// `--eval --json` without `--strict`: what Nix printed before failing, and its error.
fn lazy_json(text: &str) -> (String, Result<(), (String, Option<String>)>) {
    with_evaluator(|ev| {
        let v = ev
            .eval_text(text.as_bytes(), Origin::String, b"/tmp")
            .unwrap_or_else(|e| panic!("{}", e.message));
        let mut out = Vec::new();
        let mut context = Vec::new();
        let r = value_to_json(ev, v, NOWHERE, false, &mut out, &mut context)
            .map_err(|e| (e.message.clone(), e.pos.map(|p| show(ev, p))));
        (String::from_utf8_lossy(&out).into_owned(), r)
    })
}

#[test]
fn lazy_printing_stops_at_thunks() {
    let thunk = |at: &str| {
        Err((
            "cannot convert a thunk to JSON".to_string(),
            Some(at.into()),
        ))
    };
    assert_eq!(
        lazy_json("{ a = 1 + 1; }"),
        ("{\"a\":".into(), thunk("«string»:1:3"))
    );
    assert_eq!(
        lazy_json("{ a = 1; b = x: x; }"),
        ("{\"a\":1,\"b\":".into(), thunk("«string»:1:10"))
    );
    assert_eq!(
        lazy_json("let x = { a = 1 + 1; }; in builtins.seq x.a x"),
        ("{\"a\":2}".into(), Ok(()))
    );
    assert_eq!(lazy_json("[ 1 2 ]"), ("[1,2]".into(), Ok(())));
    assert_eq!(
        lazy_json("x: x"),
        (
            String::new(),
            Err((
                "cannot convert a function to JSON".into(),
                Some("«string»:1:1".into())
            ))
        )
    );
}

#[test]
fn errors_carry_nix_traces() {
    with_evaluator(|ev| {
        // fromJSON's message has no position; the trace says where.
        let e = ev
            .eval_text(b"builtins.fromJSON \"[1,\"", Origin::String, b"/tmp")
            .err()
            .expect("an error");
        assert_eq!(e.pos, None);
        assert_eq!(e.trace.len(), 1);
        assert_eq!(e.trace[0].message, "while decoding a JSON string");
        assert_eq!(
            e.trace[0].pos.map(|p| show(ev, p)).as_deref(),
            Some("«string»:1:1")
        );
        // toJSON of a function: at the function, traced at the attribute.
        let e = ev
            .eval_text(b"builtins.toJSON { a = x: x; }", Origin::String, b"/tmp")
            .err()
            .expect("an error");
        assert_eq!(e.pos.map(|p| show(ev, p)).as_deref(), Some("«string»:1:23"));
        assert_eq!(e.trace[0].message, "message for the trace");
        assert_eq!(
            e.trace[0].pos.map(|p| show(ev, p)).as_deref(),
            Some("«string»:1:19")
        );
    });
}

#[test]
fn to_json_keeps_string_context() {
    with_evaluator(|ev| {
        let v = ev
            .eval_text(
                br#"builtins.toJSON [ (builtins.appendContext "a" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }) ]"#,
                Origin::String,
                b"/tmp",
            )
            .unwrap_or_else(|e| panic!("{}", e.message));
        match v {
            ferrix_eval::value::Value::Str(s) => {
                assert_eq!(s.bytes, b"[\"a\"]");
                assert_eq!(
                    s.context,
                    &[b"/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" as &[u8]]
                );
            }
            _ => panic!("not a string"),
        }
    });
}

#[test]
fn deep_and_cyclic_values_do_not_crash() {
    // Nix 2.8 overflows its stack on a set that contains itself.
    assert_eq!(
        eval_strict("builtins.toJSON (let x = { a = x; }; in x)"),
        Err(("stack overflow (possible infinite recursion)".into(), None))
    );
    // Deeply nested JSON parses without recursion.
    let deep = format!(
        "builtins.fromJSON \"{}{}\"",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    assert!(eval_strict(&format!("builtins.length ({deep})")).is_ok());
}

/// `nix-instantiate --eval --strict -E EXPR` printed these with Nix 2.8.0.
const JSON_OK: &[(&str, &str)] = &[
    (
        r#"builtins.toJSON [0.1 1.0e20 1.5 3.0 1.0e-5 123456789.0 1.0e21 (-0.0) 1.0e16 0.3333333333333 (1.0 / 3) 1.0e-7 100000.0 1.0e100 (5.0e-300 / 1.0e23) 1.7976931348623157e308 1.0e15 1.0e17 123456789012345678.0 0.000001 0.0001 (1.0e308*10) (0-(1.0e308*10)) ((1.0e308*10) - (1.0e308*10))]"#,
        r#""[0.1,1e+20,1.5,3,1e-05,1.23457e+08,1e+21,0,1e+16,0.333333,0.333333,1e-07,100000,1e+100,4.94066e-323,1.79769e+308,1e+15,1e+17,1.23457e+17,1e-06,0.0001,inf,-inf,-nan]""#,
    ),
    (
        r#"let inf = 1.0e308*10; nan = inf - inf; in [ (builtins.toJSON [ (0.0 * -1) nan (0 - nan) (-nan) ]) ]"#,
        r#"[ "[-0,-nan,-nan,-nan]" ]"#,
    ),
    (
        r#"builtins.toJSON "\u0001 \u001f \u007f é \t \n \r \b""#,
        r#""\"u0001 u001f u007f é \\t \\n \\r b\"""#,
    ),
    (
        r#"builtins.toJSON (builtins.fromJSON "\"\\u0001\\u0008\\u000c\\u001f\\u007f\\u0080\"")"#,
        "\"\\\"\\\\u0001\\\\u0008\\\\u000c\\\\u001f\u{7f}\\\"\"",
    ),
    (
        r#"builtins.toJSON { outPath = "foo"; b = 1; }"#,
        r#""\"foo\"""#,
    ),
    (
        r#"builtins.toJSON { __toString = s: "x"; outPath = "y"; }"#,
        r#""\"x\"""#,
    ),
    (
        r#"builtins.toJSON { type = "derivation"; outPath = "y"; }"#,
        r#""\"y\"""#,
    ),
    (r#"builtins.toJSON { outPath = 1; }"#, r#""1""#),
    (
        r#"builtins.toJSON { outPath = { a = 1; }; }"#,
        r#""{\"a\":1}""#,
    ),
    (
        r#"builtins.toJSON { __toString = s: { outPath = "z"; }; }"#,
        r#""\"z\"""#,
    ),
    (
        r#"builtins.toJSON { __toString = s: /foo/bar; }"#,
        r#""\"/foo/bar\"""#,
    ),
    (r#"builtins.toJSON null"#, r#""null""#),
    (
        r#"builtins.toJSON { b = 1; a = 2; "" = 3; "\n" = 4; A = 5; }"#,
        r#""{\"\":3,\"\\n\":4,\"A\":5,\"a\":2,\"b\":1}""#,
    ),
    (
        r#"builtins.toJSON [ true false null 9223372036854775807 (-9223372036854775807 - 1) ]"#,
        r#""[true,false,null,9223372036854775807,-9223372036854775808]""#,
    ),
    (
        r#"builtins.toJSON { "é" = 1; "z" = 2; "a\"b" = 3; }"#,
        r#""{\"a\\\"b\":3,\"z\":2,\"é\":1}""#,
    ),
    (
        r#"builtins.toJSON [ [] {} [[]] { a = {}; } ]"#,
        r#""[[],{},[[]],{\"a\":{}}]""#,
    ),
    (r#"builtins.toJSON """#, r#""\"\"""#),
    (
        r#"builtins.toJSON "/ \\ \" ${"$"}{x}""#,
        r#""\"/ \\\\ \\\" \${x}\"""#,
    ),
    (r#"builtins.toJSON (let x = { a = x; }; in 1)"#, r#""1""#),
    (
        r#"builtins.tryEval (builtins.toJSON { a = throw "boom"; })"#,
        r#"{ success = false; value = false; }"#,
    ),
    (r#"builtins.toJSON 1.0"#, r#""1""#),
    (r#"builtins.toJSON (-1.5)"#, r#""-1.5""#),
    (r#"builtins.toJSON 0.000123456789"#, r#""0.000123457""#),
    (r#"builtins.toJSON 999999.5"#, r#""1e+06""#),
    (r#"builtins.toJSON 9999995.0"#, r#""1e+07""#),
    (r#"builtins.toJSON 0.00001"#, r#""1e-05""#),
    (
        r#"builtins.getContext (builtins.toJSON (builtins.appendContext "a" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }))"#,
        r#"{ "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }"#,
    ),
    (
        r#"builtins.getContext (builtins.toJSON { a = builtins.appendContext "a" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }; b = [ (builtins.appendContext "a" { "/nix/store/dgvhxbnmgh7zisvbd1nvzm277b7vkbj3-z" = { path = true; }; }) ]; })"#,
        r#"{ "/nix/store/dgvhxbnmgh7zisvbd1nvzm277b7vkbj3-z" = { path = true; }; "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }"#,
    ),
    (
        r#"builtins.fromJSON ''{"a\u0000b":1, "a": 2}''"#,
        "{ a = 2; \"a\u{0}b\" = 1; }",
    ),
    (r#"builtins.fromJSON ''1.5e-3''"#, r#"0.0015"#),
    (r#"builtins.fromJSON ''0.0e0''"#, r#"0"#),
    (
        r#"builtins.fromJSON ''1.7976931348623157e308''"#,
        r#"1.79769e+308"#,
    ),
    (r#"builtins.fromJSON ''4.9e-324''"#, r#"4.94066e-324"#),
    (r#"builtins.fromJSON ''1E+2''"#, r#"100"#),
    (r#"builtins.fromJSON ''"\/"''"#, r#""/""#),
    (r#"builtins.fromJSON ''1e30''"#, r#"1e+30"#),
    (r#"builtins.fromJSON ''99999999999999999999''"#, r#"1e+20"#),
    (r#"builtins.fromJSON ''18446744073709551615''"#, r#"-1"#),
    (
        r#"builtins.fromJSON ''18446744073709551616''"#,
        r#"1.84467e+19"#,
    ),
    (
        r#"builtins.fromJSON ''9223372036854775808''"#,
        r#"-9223372036854775808"#,
    ),
    (
        r#"builtins.fromJSON ''-9223372036854775808''"#,
        r#"-9223372036854775808"#,
    ),
    (
        r#"builtins.fromJSON ''-9223372036854775809''"#,
        r#"-9.22337e+18"#,
    ),
    (r#"builtins.fromJSON ''-0''"#, r#"0"#),
    (r#"builtins.fromJSON ''-0.0''"#, r#"-0"#),
    (r#"builtins.fromJSON ''1.0''"#, r#"1"#),
    (r#"builtins.fromJSON ''1e-400''"#, r#"0"#),
    (r#"builtins.fromJSON ''0.1''"#, r#"0.1"#),
    (r#"builtins.fromJSON ''{"a":1,"a":2}''"#, r#"{ a = 2; }"#),
    (
        r#"builtins.fromJSON ''{"b":1,"a":{"c":2},"b":3}''"#,
        r#"{ a = { c = 2; }; b = 3; }"#,
    ),
    (r#"builtins.fromJSON ''"\u0000x"''"#, r#""""#),
    (r#"builtins.fromJSON ''"\ud83d\ude00"''"#, r#""😀""#),
    (r#"builtins.fromJSON "\"a\u0001b\"""#, r#""au0001b""#),
    (r#"builtins.fromJSON "\"a\u001fb\"""#, r#""au001fb""#),
    (r#"builtins.fromJSON "\"\u007f\"""#, r#""u007f""#),
    (r#"builtins.fromJSON "\"\xc3\"""#, r#""xc3""#),
    (r#"builtins.fromJSON "\"\xc3(\"""#, r#""xc3(""#),
    (r#"builtins.fromJSON "\"\xff\"""#, r#""xff""#),
    (r#"builtins.fromJSON "\"\xed\xa0\x80\"""#, r#""xedxa0x80""#),
    (
        r#"builtins.fromJSON "\"\xf4\x90\x80\x80\"""#,
        r#""xf4x90x80x80""#,
    ),
    (
        r#"builtins.fromJSON "\r\n\t [ \r\n 1 \r\n , \r\n 2 ] \r\n ""#,
        r#"[ 1 2 ]"#,
    ),
    (
        r#"builtins.fromJSON "{\"a\":{\"b\":[1,{\"c\":null}],\"d\":[]},\"e\":{}}""#,
        r#"{ a = { b = [ 1 { c = null; } ]; d = [ ]; }; e = { }; }"#,
    ),
    (
        r#"builtins.fromJSON "\"\\u00e9\\u00E9\\u20ac\"""#,
        r#""éé€""#,
    ),
    (r#"builtins.fromJSON "-5""#, r#"-5"#),
    (
        r#"builtins.fromJSON "[-0.5e-3, 5E3, 1e1]""#,
        r#"[ -0.0005 5000 10 ]"#,
    ),
    (r#"builtins.fromJSON "0.30000000000000004""#, r#"0.3"#),
    (
        r#"builtins.fromJSON "12345678901234567890123456789""#,
        r#"1.23457e+28"#,
    ),
    (
        r#"builtins.fromJSON "1.23456789012345678901234567890e-300""#,
        r#"1.23457e-300"#,
    ),
    (
        r#"builtins.fromJSON "[\"\\n\\r\\t\\b\\f\\\"\\\\\"]""#,
        "[ \"\\n\\r\\t\u{8}\u{c}\\\"\\\\\" ]",
    ),
    (
        r#"builtins.toJSON (builtins.fromJSON "\"\\b\\f\"")"#,
        r#""\"\\u0008\\u000c\"""#,
    ),
    (
        r#"builtins.toJSON { a = { b = [ 1 2.5 "x" null true ]; }; c = [ { d = false; } ]; }"#,
        r#""{\"a\":{\"b\":[1,2.5,\"x\",null,true]},\"c\":[{\"d\":false}]}""#,
    ),
    (
        r#"builtins.toJSON { type = "derivation"; outPath = "/nix/store/abc-x"; name = "x"; }"#,
        r#""\"/nix/store/abc-x\"""#,
    ),
    (
        r#"builtins.toJSON [ { outPath = "/a"; } { __toString = self: "s${self.v}"; v = "1"; } ]"#,
        r#""[\"/a\",\"s1\"]""#,
    ),
    (r#"builtins.toJSON { a = 1; } == "{\"a\":1}""#, r#"true"#),
    (
        r#"builtins.fromJSON (builtins.toJSON { a = [ 1 2.5 "x\n\u0001é" null true { b = -3; } ]; })"#,
        r#"{ a = [ 1 2.5 "x\nu0001é" null true { b = -3; } ]; }"#,
    ),
    (
        r#"builtins.fromJSON ''  {"x": [1, 2, 3], "y": null}  ''"#,
        r#"{ x = [ 1 2 3 ]; y = null; }"#,
    ),
    (
        r#"builtins.attrNames (builtins.fromJSON ''{"b":1,"a":2,"c":3,"":4}'')"#,
        r#"[ "" "a" "b" "c" ]"#,
    ),
    (
        r#"builtins.fromJSON ''[[], {}, [[]], {"a":{}}]''"#,
        r#"[ [ ] { } [ [ ] ] { a = { }; } ]"#,
    ),
    (
        r#"builtins.fromJSON ''"\u00e9\u00E9\u20ac\ud834\udd1e"''"#,
        r#""éé€𝄞""#,
    ),
    (
        r#"builtins.toJSON (builtins.fromJSON ''"\u00e9\u00E9\u20ac\ud834\udd1e"'')"#,
        r#""\"éé€𝄞\"""#,
    ),
    (
        r#"builtins.fromJSON "1" + builtins.fromJSON "2.5""#,
        r#"3.5"#,
    ),
    (r#"builtins.typeOf (builtins.fromJSON "1.0")"#, r#""float""#),
    (r#"builtins.typeOf (builtins.fromJSON "1")"#, r#""int""#),
    (r#"builtins.typeOf (builtins.fromJSON "1e2")"#, r#""float""#),
    (
        r#"builtins.typeOf (builtins.fromJSON "99999999999999999999")"#,
        r#""float""#,
    ),
    (
        r#"builtins.toJSON (builtins.fromJSON "[1e-7, 1e21, 123456.7, 1234567.8]")"#,
        r#""[1e-07,1e+21,123457,1.23457e+06]""#,
    ),
    (r#"builtins.toJSON { "\u0001" = 1; }"#, r#""{\"u0001\":1}""#),
    (
        r#"builtins.toJSON [ "\r\n\t\"\\/" ]"#,
        r#""[\"\\r\\n\\t\\\"\\\\/\"]""#,
    ),
    (
        r#"builtins.toJSON (builtins.head [ { a = 1; } ])"#,
        r#""{\"a\":1}""#,
    ),
    (
        r#"builtins.toJSON (builtins.map (x: x * 2) [ 1 2 3 ])"#,
        r#""[2,4,6]""#,
    ),
    (
        r#"builtins.toJSON { a = builtins.genList (x: x) 3; }"#,
        r#""{\"a\":[0,1,2]}""#,
    ),
    (
        r#"builtins.toJSON [ 0.5 (-0.25) 1.0e-3 12345.678 1.0e6 1.0e5 ]"#,
        r#""[0.5,-0.25,0.001,12345.7,1e+06,100000]""#,
    ),
];

/// Nix 2.8.0 failed on these with this message, at this position (if any).
const JSON_ERR: &[(&str, &str, Option<&str>)] = &[
    (
        r#"builtins.toJSON (x: x)"#,
        r#"cannot convert a function to JSON"#,
        Some(r#"«string»:1:18"#),
    ),
    (
        r#"builtins.toJSON { a = x: x; }"#,
        r#"cannot convert a function to JSON"#,
        Some(r#"«string»:1:23"#),
    ),
    (
        r#"builtins.toJSON [ 1 (x: x) ]"#,
        r#"cannot convert a function to JSON"#,
        Some(r#"«string»:1:22"#),
    ),
    (
        r#"builtins.toJSON builtins.head"#,
        r#"cannot convert the built-in function 'head' to JSON"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.toJSON [ builtins.map ]"#,
        r#"cannot convert the built-in function 'map' to JSON"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.toJSON { a = builtins.map builtins.head; }"#,
        r#"cannot convert the partially applied built-in function 'map' to JSON"#,
        Some(r#"«string»:1:19"#),
    ),
    (
        r#"builtins.toJSON { outPath = x: x; }"#,
        r#"cannot convert a function to JSON"#,
        Some(r#"«string»:1:29"#),
    ),
    (
        r#"builtins.toJSON { __toString = s: 1; }"#,
        r#"cannot coerce an integer to a string"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.toJSON { __toString = 1; }"#,
        r#"attempt to call something which is not a function but an integer"#,
        Some(r#"«string»:1:1"#),
    ),
    (r#"builtins.toJSON { a = throw "boom"; }"#, r#"boom"#, None),
    (
        r#"builtins.toJSON { a = abort "boom"; }"#,
        r#"evaluation aborted with the following error message: 'boom'"#,
        None,
    ),
    (
        r#"builtins.toJSON (let x = { a = x; }; in x)"#,
        r#"stack overflow (possible infinite recursion)"#,
        None,
    ),
    (
        r#"builtins.toJSON (let x = { a = x; }; in x)"#,
        r#"stack overflow (possible infinite recursion)"#,
        None,
    ),
    (
        r#"builtins.fromJSON "${builtins.appendContext "1" { "/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x" = { path = true; }; }}""#,
        r#"the string '1' is not allowed to refer to a store path (such as '/nix/store/lfngsssysp6h1v4ccqg23c52s9sjl779-x')"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromJSON 1"#,
        r#"value is an integer while a string was expected"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromJSON ''[1,nul]''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 7: syntax error while parsing value - invalid literal; last read: '1,nul]'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''[tru]''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while parsing value - invalid literal; last read: '[tru]'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''[1,
 nul]''"#,
        r#"[json.exception.parse_error.101] parse error at line 2, column 5: syntax error while parsing value - invalid literal; last read: '1,<U+000A> nul]'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{"a":1,
"b":}''"#,
        r#"[json.exception.parse_error.101] parse error at line 2, column 5: syntax error while parsing value - unexpected '}'; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''
''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''
x''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: 'x'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''1 
 
 x''"#,
        r#"[json.exception.parse_error.101] parse error at line 3, column 2: syntax error while parsing value - invalid literal; last read: '1 <U+000A> <U+000A> x'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\u00zz"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while parsing value - invalid string: '\u' must be followed by 4 hex digits; last read: '"\u00z'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\ud800\u0041"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 13: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF; last read: '"\ud800\u0041'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\ud800\uZ"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 10: syntax error while parsing value - invalid string: '\u' must be followed by 4 hex digits; last read: '"\ud800\uZ'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\ud800\''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 9: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF; last read: '"\ud800\'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{"a":1,}''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing object key - unexpected '}'; expected string literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{"a":1 "b"}''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 10: syntax error while parsing object - unexpected string literal; expected '}'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''[1}''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing array - unexpected '}'; expected ']'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{"a":1]''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 7: syntax error while parsing object - unexpected ']'; expected '}'"#,
        None,
    ),
    (
        r#"builtins.fromJSON '']''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected ']'; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''}''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected '}'; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON '':''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected ':'; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON '',''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected ','; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''1e''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid number; expected '+', '-', or digit after exponent; last read: '1e'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''1e+''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid number; expected digit after exponent sign; last read: '1e+'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''-01''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - unexpected number literal; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''00''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - unexpected number literal; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''2e308''"#,
        r#"[json.exception.out_of_range.406] number overflow parsing '2e308'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''-1e400''"#,
        r#"[json.exception.out_of_range.406] number overflow parsing '-1e400'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''1e400''"#,
        r#"[json.exception.out_of_range.406] number overflow parsing '1e400'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''01''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - unexpected number literal; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''1.''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid number; expected digit after '.'; last read: '1.'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''.5''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: '.'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''+1''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: '+'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''-''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - invalid number; expected digit after '-'; last read: '-'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''-a''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - invalid number; expected digit after '-'; last read: '-a'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''[1,]''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - unexpected ']'; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''  ''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''nul''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid literal; last read: 'nul'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''true false''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 10: syntax error while parsing value - unexpected false literal; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''[1 2]''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing array - unexpected number literal; expected ']'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{"a" 1}''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while parsing object separator - unexpected number literal; expected ':'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{1:2}''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing object key - unexpected number literal; expected string literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"abc''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while parsing value - invalid string: missing closing quote; last read: '"abc'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\x"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid string: forbidden character after backslash; last read: '"\x'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\ud83d"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF; last read: '"\ud83d"'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\ude00"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 7: syntax error while parsing value - invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF; last read: '"\ude00'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\ud83dx"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF; last read: '"\ud83dx'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''"\uZZZZ"''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid string: '\u' must be followed by 4 hex digits; last read: '"\uZ'"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''[''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing object key - unexpected end of input; expected string literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''{"a":''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON ''True''"#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: 'T'"#,
        None,
    ),
    (
        "builtins.fromJSON ''\"a\u{9}b\"''",
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid string: control character U+0009 (HT) must be escaped to \u0009 or \t; last read: '"a<U+0009>'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\xef\xbb\xbf[1]""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: 'x'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\xef\xbb[1]""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: 'x'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\xef""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: 'x'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "[1]\xef\xbb\xbf""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid literal; last read: '1]x'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 201: syntax error while parsing value - unexpected ']'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "// comment\n1""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while parsing value - invalid literal; last read: '/'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "1 // comment""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid literal; last read: '1 /'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "[1,2""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while parsing array - unexpected end of input; expected ']'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "[1,2,""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON "{\"a\":1,""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing object key - unexpected end of input; expected string literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON "{\"a\":1,\"b\"""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 11: syntax error while parsing object separator - unexpected end of input; expected ':'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "1 2""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - unexpected number literal; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "[] []""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - unexpected '['; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "{} x""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid literal; last read: '{} x'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\n\n   tx""#,
        r#"[json.exception.parse_error.101] parse error at line 3, column 5: syntax error while parsing value - invalid literal; last read: '<U+000A><U+000A>   tx'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "fals""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while parsing value - invalid literal; last read: 'fals'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "nulL""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid literal; last read: 'nulL'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\"\\u12\"""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while parsing value - invalid string: '\u' must be followed by 4 hex digits; last read: '"\u12"'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\"\\""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while parsing value - invalid string: forbidden character after backslash; last read: '"\'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\"\\u""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid string: '\u' must be followed by 4 hex digits; last read: '"\u'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "123abc""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing value - invalid literal; last read: '123a'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON ./."#,
        r#"value is a path while a string was expected"#,
        Some(r#"«string»:1:1"#),
    ),
    (
        r#"builtins.fromJSON "{\"a\":1}{""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing value - unexpected '{'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "[1,2,3]]""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 8: syntax error while parsing value - unexpected ']'; expected end of input"#,
        None,
    ),
    (
        r#"builtins.fromJSON "{\"a\":{\"b\":[1,2,{\"c\":[}]}}""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 22: syntax error while parsing value - unexpected '}'; expected '[', '{', or a literal"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\"\\u00\"""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while parsing value - invalid string: '\u' must be followed by 4 hex digits; last read: '"\u00"'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\"\\ud800\\udbff\"""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 13: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF; last read: '"\ud800\udbff'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "\"\\uDFFF\"""#,
        r#"[json.exception.parse_error.101] parse error at line 1, column 7: syntax error while parsing value - invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF; last read: '"\uDFFF'"#,
        None,
    ),
    (
        r#"builtins.fromJSON "[\"a\",\n\"b\"\n,\n\"c\\q\"]""#,
        r#"[json.exception.parse_error.101] parse error at line 4, column 4: syntax error while parsing value - invalid string: forbidden character after backslash; last read: '"c\q'"#,
        None,
    ),
];

/// A small deterministic generator for the robustness tests.
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
        "[",
        "]",
        "{",
        "}",
        ":",
        ",",
        "\"",
        "\\",
        "\\u",
        "d83d",
        "\\ude00",
        "0",
        "-",
        "1e",
        "+",
        ".",
        "5",
        "99999999999999999999",
        "true",
        "nul",
        " ",
        "\n",
        "\t",
        "\u{1}",
        "é",
        "\u{feff}",
        "a",
        "\"k\"",
        "1.5e308",
        "e-400",
    ];
    with_evaluator(|ev| {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let mut text = Vec::new();
            for _ in 0..rng.below(12) {
                text.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
            }
            if rng.below(4) == 0 {
                text.push(rng.below(256) as u8);
            }
            let _ = ferrix_primops::json::parse_json(ev, &text);
        }
    });
}
