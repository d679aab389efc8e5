//! The `nix-store --serve` server: after the greeting, any bytes a client may send are
//! served or end the session with an error, never a panic, against a chroot store kept
//! for the whole run (with `--write`, so that the writing commands run too; builds fail
//! for want of a builder).
#![no_main]

use ferrix_store::{open_store, StoreOptions};
use ferrix_wire::serve::{SERVE_MAGIC_1, SERVE_VERSION};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Box<dyn ferrix_store::Store + Send + Sync>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&StoreOptions {
            store_uri: Some(dir.path().display().to_string()),
            fsync: false,
            ..StoreOptions::default()
        })
        .unwrap();
        Fixture { _dir: dir, store }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // The greeting comes first; the fuzzer's bytes are the session after it.
    let mut input = Vec::with_capacity(16 + data.len());
    input.extend_from_slice(&SERVE_MAGIC_1.to_le_bytes());
    input.extend_from_slice(&u64::from(SERVE_VERSION.0).to_le_bytes());
    input.extend_from_slice(data);
    let mut apply = |_: &ferrix_wire::serve::ServeBuildSettings| Ok(());
    let mut warn = |_: String| {};
    let mut host = ferrix_daemon::serve::ServeHost {
        write: true,
        apply_build_settings: &mut apply,
        warn: &mut warn,
    };
    let _ = ferrix_daemon::serve::serve(&input[..], std::io::sink(), &*f.store, &mut host);
});
