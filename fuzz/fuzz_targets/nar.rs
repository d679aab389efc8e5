//! NAR decoding: any bytes give an archive or an error, never a panic. An archive that
//! parses is restored into a temporary directory and dumped again, which must give back
//! exactly the bytes it was read from.
#![no_main]

use ferrix_store::nar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    let ok = nar::parse(
        &mut r,
        &mut nar::NullVisitor,
        nar::ParseOptions { case_hack: false },
    )
    .is_ok();
    if !ok {
        return;
    }
    let used = data.len() - r.len();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x");
    let restored = nar::restore(
        &mut &data[..used],
        &target,
        nar::RestoreOptions {
            case_hack: false,
            fsync: false,
            expect_end: true,
        },
    );
    if restored.is_ok() {
        let mut back = Vec::new();
        nar::dump(&target, &mut back, &mut |_| Ok(true)).unwrap();
        assert_eq!(back, &data[..used]);
    }
});
