//! NAR, the Nix archive: a canonical serialisation of a file, symlink or directory tree.
//!
//! Every string is a little-endian u64 length, the bytes, and zero padding to 8 bytes.
//! Directory entries are in byte order of their names, so one tree has one NAR.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub const MAGIC: &[u8] = b"nix-archive-1";

/// Writes NAR strings with their framing.
pub struct NarWriter<W: Write> {
    out: W,
}

impl<W: Write> NarWriter<W> {
    pub fn new(out: W) -> Self {
        NarWriter { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    pub fn str(&mut self, s: &[u8]) -> io::Result<()> {
        self.out.write_all(&(s.len() as u64).to_le_bytes())?;
        self.out.write_all(s)?;
        self.pad(s.len() as u64)
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let n = (8 - len % 8) % 8;
        self.out.write_all(&[0u8; 8][..n as usize])
    }

    /// A regular file's whole node, streaming `len` bytes from `data`.
    pub fn regular(&mut self, executable: bool, len: u64, data: &mut dyn Read) -> io::Result<()> {
        self.str(b"(")?;
        self.str(b"type")?;
        self.str(b"regular")?;
        if executable {
            self.str(b"executable")?;
            self.str(b"")?;
        }
        self.str(b"contents")?;
        self.out.write_all(&len.to_le_bytes())?;
        let copied = io::copy(&mut data.take(len), &mut self.out)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file changed size while it was being archived",
            ));
        }
        self.pad(len)?;
        self.str(b")")
    }

    pub fn symlink(&mut self, target: &[u8]) -> io::Result<()> {
        for s in [&b"("[..], b"type", b"symlink", b"target", target, b")"] {
            self.str(s)?;
        }
        Ok(())
    }
}

/// Serialises the tree at `path` into `out`. `filter` sees every path below the root and
/// leaves out those it refuses (with everything under them).
pub fn dump(
    path: &Path,
    out: &mut dyn Write,
    filter: &mut dyn FnMut(&Path) -> io::Result<bool>,
) -> io::Result<()> {
    let mut w = NarWriter::new(out);
    w.str(MAGIC)?;
    dump_node(path, &mut w, filter)
}

/// Serialises the bytes of a single regular file, as when adding text or a flat file.
pub fn dump_bytes(data: &[u8], executable: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut w = NarWriter::new(out);
    w.str(MAGIC)?;
    w.regular(executable, data.len() as u64, &mut &data[..])
}

fn dump_node<W: Write>(
    path: &Path,
    w: &mut NarWriter<W>,
    filter: &mut dyn FnMut(&Path) -> io::Result<bool>,
) -> io::Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| with_path(e, "getting status of", path))?;
    let ft = meta.file_type();
    if ft.is_file() {
        let mut f = fs::File::open(path).map_err(|e| with_path(e, "opening file", path))?;
        let exec = meta.permissions().mode() & 0o100 != 0;
        w.regular(exec, meta.len(), &mut f)
    } else if ft.is_symlink() {
        let target =
            fs::read_link(path).map_err(|e| with_path(e, "reading symbolic link", path))?;
        w.symlink(target.as_os_str().as_bytes())
    } else if ft.is_dir() {
        w.str(b"(")?;
        w.str(b"type")?;
        w.str(b"directory")?;
        let mut names = Vec::new();
        for e in fs::read_dir(path).map_err(|e| with_path(e, "opening directory", path))? {
            names.push(e?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let child = path.join(&name);
            if !filter(&child)? {
                continue;
            }
            w.str(b"entry")?;
            w.str(b"(")?;
            w.str(b"name")?;
            w.str(name.as_bytes())?;
            w.str(b"node")?;
            dump_node(&child, w, filter)?;
            w.str(b")")?;
        }
        w.str(b")")
    } else {
        Err(io::Error::other(format!(
            "file '{}' has an unsupported type",
            path.display()
        )))
    }
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} '{}': {}", path.display(), crate::io_reason(&e)),
    )
}
