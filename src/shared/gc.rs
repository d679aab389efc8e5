//! What garbage collection prints: Nix 2.8's closing line, shared by `nix-store --gc` and
//! `nix-collect-garbage`.

use ferrix_store::store::GcResult;
use ferrix_store::StoreError;
use std::io::{self, BufWriter, Write};

/// Nix's closing line of a collection, `N store paths deleted, X MiB freed` (also after an
/// error, with what was done until then).
pub fn print_freed_line(r: &Result<GcResult, StoreError>) {
    let _ = print_freed(r);
}

/// [`print_freed_line`], with the error of writing it (nothing deleted when `r` failed).
pub fn print_freed(r: &Result<GcResult, StoreError>) -> io::Result<()> {
    let (n, bytes) = match r {
        Ok(g) => (g.paths.len(), g.bytes_freed),
        Err(_) => (0, 0),
    };
    let mut o = BufWriter::new(io::stdout().lock());
    writeln!(
        o,
        "{n} store paths deleted, {:.2} MiB freed",
        bytes as f64 / (1024.0 * 1024.0)
    )?;
    o.flush()?;
    Ok(())
}
