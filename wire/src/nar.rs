//! Copying one NAR out of an unframed stream. Some operations send an archive inline,
//! with nothing saying how long it is (`AddToStore` before 1.25, `AddToStoreNar` before
//! 1.21, the `NarFromPath` reply, and each path of `AddMultipleToStore`'s framed stream):
//! the only way to find its end is to parse it.

use crate::error::{Result, WireError};
use ferrix_store::nar::{self, NullVisitor, ParseOptions};
use std::io::{self, Read, Write};

/// Passes what it reads on to a writer, counting it.
struct Tee<'a, R: ?Sized, W: ?Sized> {
    from: &'a mut R,
    to: &'a mut W,
    count: u64,
}

impl<R: Read + ?Sized, W: Write + ?Sized> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.from.read(buf)?;
        self.to.write_all(&buf[..n])?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads exactly one NAR from `r`, checking it as Nix's parser does, and writes the same
/// bytes to `w`. Returns the archive's size. `r` is left right after the archive and is
/// never read past it.
///
/// Small reads are passed on as they are: give a buffered writer when that matters.
pub fn copy_nar<R, W>(r: &mut R, w: &mut W) -> Result<u64>
where
    R: Read + ?Sized,
    W: Write + ?Sized,
{
    let mut tee = Tee {
        from: r,
        to: w,
        count: 0,
    };
    nar::parse(&mut tee, &mut NullVisitor, ParseOptions::default()).map_err(nar_error)?;
    Ok(tee.count)
}

/// Reads one NAR from `r` and discards it, returning its size.
pub fn skip_nar<R: Read + ?Sized>(r: &mut R) -> Result<u64> {
    copy_nar(r, &mut io::sink())
}

fn nar_error(e: io::Error) -> WireError {
    match e.kind() {
        io::ErrorKind::InvalidData => WireError::BadNar(e.to_string()),
        _ => WireError::from(e),
    }
}
