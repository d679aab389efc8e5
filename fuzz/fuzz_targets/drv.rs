//! `.drv` files: any bytes parse to a derivation or give an error, never a panic. A parsed
//! derivation prints back to text that parses to the same derivation, and Nix's checks on
//! it give a verdict, never a panic.
#![no_main]

use ferrix_store::derivation::Derivation;
use ferrix_store::hash::Hash;
use ferrix_store::path::{StoreDir, StorePath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(d) = Derivation::parse(data) else {
        return;
    };
    let text = d.unparse(false);
    let again = Derivation::parse(&text).expect("printed derivation parses");
    assert_eq!(again.unparse(false), text);
    let dir = StoreDir::new("/nix/store");
    let path = StorePath::from_base_name("00000000000000000000000000000000-fuzz.drv").unwrap();
    let _ = ferrix_store::drv_check::check(&dir, &path, &d, &mut |p| Ok(Hash::sha256(p)));
});
