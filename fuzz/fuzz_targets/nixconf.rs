//! `nix.conf` text: any bytes are applied or refused with Nix's errors, never a panic.
#![no_main]

use ferrix_store::settings::{Origin, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut s = Settings::default();
    // `include` lines name files relative to a directory with none in it.
    let _ = s.read_text(&text, "fuzz", std::path::Path::new("/nonexistent-fuzz"), Origin::User, 0);
    let _ = s.to_string();
});
