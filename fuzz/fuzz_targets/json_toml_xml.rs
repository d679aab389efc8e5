//! `builtins.fromJSON` and `builtins.fromTOML` on any bytes: a value or an error, never a
//! panic. Every value read is printed again with `toJSON` and `toXML`.
#![no_main]

use bumpalo::Bump;
use ferrix_eval::{Evaluator, Pos};
use ferrix_primops::json::{parse_json, value_to_json};
use ferrix_primops::toml::parse_toml;
use ferrix_primops::xml::value_to_xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bump = Bump::new();
    let ev = Evaluator::builder(&bump).build();
    for v in [parse_json(&ev, data), parse_toml(&ev, data)].into_iter().flatten() {
        let mut out = Vec::new();
        let mut ctx = Vec::new();
        let _ = value_to_json(&ev, v, Pos::NONE, true, &mut out, &mut ctx);
        let mut xml = Vec::new();
        let _ = value_to_xml(&ev, v, true, false, Pos::NONE, &mut xml);
    }
});
