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

plugin! {
    name: "misbehave",
    primops: [
        /// Panics.
        "rsPanics" => panics(what),
        /// Returns an error.
        "rsFails" => fails(what),
        /// Doubles an integer (to show the plugin works otherwise).
        "rsDouble" => double(n),
    ],
}
