//! `nix-store --import` streams: any bytes are imported or refused with an error, never a
//! panic, into a chroot store kept for the whole run.
#![no_main]

use ferrix_store::{open_store, StoreOptions};
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
    let _ = ferrix_store::export::import_paths(&*f.store, &mut &data[..], &mut |_| {});
});
