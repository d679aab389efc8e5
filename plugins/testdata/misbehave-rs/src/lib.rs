//! A test plugin for Ferrix's failure handling: its primops panic or fail on purpose.

use ferrix_plugin_sdk::{bail, plugin, Ctx, Result};

fn panics(_ctx: &Ctx, what: &str) -> Result<i64> {
    panic!("deliberate panic: {what}");
}

fn fails(_ctx: &Ctx, what: &str) -> Result<i64> {
    bail!("deliberate failure: {what}");
}

fn double(_ctx: &Ctx, n: i64) -> Result<i64> {
    Ok(n * 2)
}

// The work of builtins.add on integers and of builtins.stringLength, for the call-cost
// benchmark (bench/plugins/run).
fn add(_ctx: &Ctx, a: i64, b: i64) -> Result<i64> {
    match a.checked_add(b) {
        Some(n) => Ok(n),
        None => bail!("integer overflow in adding {a} and {b}"),
    }
}

fn string_length(_ctx: &Ctx, s: &[u8]) -> Result<usize> {
    Ok(s.len())
}

plugin! {
    name: "misbehave",
    primops: [
        /// Panics.
        "rsPanics" => panics(what),
        /// Returns an error.
        "rsFails" => fails(what),
        /// Doubles an integer (to show the plugin works otherwise).
        "rsDouble" => double(n),
        /// The sum of two integers.
        "rsAdd" => add(a, b),
        /// The length of a string in bytes.
        "rsStringLength" => string_length(s),
    ],
}
