//! `PrimOp::transient` claims, checked: every builtin that says it does not keep an argument
//! is called with that argument on the caller's stack (a lazy expression, here `id …`), and
//! the debug builds' check after the call (`ferrix_eval`'s `reaches`) panics if the result
//! reaches it. The results are Nix 2.8's.

mod common;
use common::*;

#[test]
fn transient_builtins_keep_only_what_is_inside_their_arguments() {
    let id = |s: &str| format!("let id = x: x; in {s}");
    let cases: &[(&str, &str)] = &[
        (
            "builtins.attrNames (id { a = 1; b = 2; })",
            "[ \"a\" \"b\" ]",
        ),
        ("builtins.attrValues (id { a = [ 1 ]; })", "[ [ 1 ] ]"),
        ("builtins.hasAttr (id \"a\") (id { a = 1; })", "true"),
        ("builtins.isAttrs (id { })", "true"),
        ("builtins.seq (id 1) (id [ 2 ])", "[ 2 ]"),
        ("builtins.typeOf (id 1)", "\"int\""),
        ("builtins.isNull (id null)", "true"),
        ("builtins.isInt (id 1)", "true"),
        ("builtins.isFloat (id 1.5)", "true"),
        ("builtins.isBool (id true)", "true"),
        ("builtins.isString (id \"s\")", "true"),
        ("builtins.isPath (id /a)", "true"),
        ("builtins.isFunction (id id)", "true"),
        ("builtins.isList (id [ ])", "true"),
        ("toString (id [ 1 2 ])", "\"1 2\""),
        ("builtins.length (id [ 1 2 ])", "2"),
        ("builtins.head (id [ [ 1 ] ])", "[ 1 ]"),
        ("builtins.tail (id [ 1 2 3 ])", "[ 2 3 ]"),
        ("builtins.elemAt (id [ 1 [ 2 ] ]) (id 1)", "[ 2 ]"),
        ("builtins.elem (id 1) (id [ 1 ])", "true"),
        ("builtins.filter (id (x: x > 1)) (id [ 1 2 3 ])", "[ 2 3 ]"),
        ("map (id (x: [ x ])) (id [ 1 2 ])", "[ [ 1 ] [ 2 ] ]"),
        ("builtins.concatLists (id [ [ 1 ] [ 2 ] ])", "[ 1 2 ]"),
        ("builtins.concatMap (id (x: [ x x ])) (id [ 1 ])", "[ 1 1 ]"),
        ("builtins.genList (id (x: x * 2)) (id 3)", "[ 0 2 4 ]"),
        ("builtins.any (id (x: x == 2)) (id [ 1 2 ])", "true"),
        ("builtins.all (id (x: x > 0)) (id [ 1 2 ])", "true"),
    ];
    for (expr, want) in cases {
        assert_eq!(eval_strict(&id(expr)).as_deref(), Ok(*want), "{expr}");
    }
}
