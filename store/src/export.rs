//! Nix's export format (`nix-store --export` / `--import`): for each path, in dependency
//! order, the word 1, its NAR, the magic `0x4558494e`, the path, its references, its deriver
//! and a 0 (no signature); a 0 word ends the stream. Numbers are little-endian u64 and
//! strings are framed as in NAR.

use crate::db::PathInfo;
use crate::nar;
use crate::path::StorePath;
use crate::store::{Store, StoreError};
use crate::{Hash, HashAlgo};
use std::collections::BTreeSet;
use std::io::{self, Read, Write};

pub const EXPORT_MAGIC: u64 = 0x4558494e;

fn io_err(e: io::Error) -> StoreError {
    e.into()
}

pub fn write_u64(out: &mut dyn Write, n: u64) -> Result<(), StoreError> {
    out.write_all(&n.to_le_bytes()).map_err(io_err)
}

pub fn write_string(out: &mut dyn Write, s: &[u8]) -> Result<(), StoreError> {
    write_u64(out, s.len() as u64)?;
    out.write_all(s).map_err(io_err)?;
    out.write_all(&[0u8; 8][..(8 - s.len() % 8) % 8])
        .map_err(io_err)
}

pub fn read_u64(r: &mut dyn Read) -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            StoreError::Other("unexpected end-of-file".into())
        } else {
            io_err(e)
        }
    })?;
    Ok(u64::from_le_bytes(b))
}

pub fn read_string(r: &mut dyn Read, max: u64) -> Result<Vec<u8>, StoreError> {
    let len = read_u64(r)?;
    if len > max {
        return Err(StoreError::Other(format!(
            "string of {len} bytes is too long"
        )));
    }
    let mut v = vec![0u8; len as usize];
    r.read_exact(&mut v)
        .map_err(|_| StoreError::Other("unexpected end-of-file".into()))?;
    let mut pad = [0u8; 8];
    let n = ((8 - len % 8) % 8) as usize;
    r.read_exact(&mut pad[..n])
        .map_err(|_| StoreError::Other("unexpected end-of-file".into()))?;
    if pad[..n].iter().any(|&b| b != 0) {
        return Err(StoreError::Other("non-zero padding".into()));
    }
    Ok(v)
}

struct Tee<'a> {
    out: &'a mut dyn Write,
    hasher: crate::hash::Hasher,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes `paths` (each must be valid) in export format, references before referrers.
pub fn export_paths(
    store: &dyn Store,
    paths: &BTreeSet<StorePath>,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let mut sorted = crate::store::topo_sort(store, paths)?;
    sorted.reverse();
    for p in sorted {
        write_u64(out, 1)?;
        let info = store.query_path_info(&p)?;
        let mut tee = Tee {
            out: &mut *out,
            hasher: crate::hash::Hasher::new(HashAlgo::Sha256),
        };
        store.nar_from_path(&p, &mut tee)?;
        let got = tee.hasher.finish();
        if got != info.nar_hash {
            return Err(StoreError::Other(format!(
                "hash of path '{}' has changed from '{}' to '{}'!",
                store.dir().display(&p),
                info.nar_hash.encode(crate::hash::Encoding::Nix32, true),
                got.encode(crate::hash::Encoding::Nix32, true)
            )));
        }
        write_u64(out, EXPORT_MAGIC)?;
        write_string(out, store.dir().display(&p).as_bytes())?;
        write_u64(out, info.references.len() as u64)?;
        for r in &info.references {
            write_string(out, store.dir().display(r).as_bytes())?;
        }
        let deriver = info
            .deriver
            .as_ref()
            .map(|d| store.dir().display(d))
            .unwrap_or_default();
        write_string(out, deriver.as_bytes())?;
        write_u64(out, 0)?;
    }
    write_u64(out, 0)?;
    out.flush().map_err(io_err)
}

/// Reads an export stream and adds every path in it (without checking signatures, as
/// `nix-store --import` does); returns them in stream order. `on_path` sees each path once
/// it is imported.
pub fn import_paths(
    store: &dyn Store,
    input: &mut dyn Read,
    on_path: &mut dyn FnMut(&StorePath),
) -> Result<Vec<StorePath>, StoreError> {
    import_paths_checked(store, input, false, on_path)
}

/// [`import_paths`], requiring signatures when `check_sigs` (a daemon's untrusted client).
pub fn import_paths_checked(
    store: &dyn Store,
    input: &mut dyn Read,
    check_sigs: bool,
    on_path: &mut dyn FnMut(&StorePath),
) -> Result<Vec<StorePath>, StoreError> {
    let mut done = Vec::new();
    let dir = store.dir().clone();
    let parse = |b: Vec<u8>| -> Result<StorePath, StoreError> {
        Ok(dir.parse(&String::from_utf8_lossy(&b))?)
    };
    loop {
        match read_u64(input)? {
            0 => break,
            1 => {}
            _ => {
                return Err(StoreError::Other(
                    "input doesn't look like something created by 'nix-store --export'".into(),
                ))
            }
        }
        // The archive comes before its metadata: keep it (checked) until that is read.
        let mut nar = Vec::new();
        let mut hr = crate::local::HashingReader::new(&mut *input);
        {
            let mut keep = KeepReader {
                inner: &mut hr,
                kept: &mut nar,
            };
            nar::parse(
                &mut keep,
                &mut nar::NullVisitor,
                nar::ParseOptions::default(),
            )
            .map_err(|e| StoreError::Other(e.to_string()))?;
        }
        let (nar_hash, nar_size, _) = hr.finish();
        if read_u64(input)? != EXPORT_MAGIC {
            return Err(StoreError::Other(
                "Nix archive cannot be imported; wrong format".into(),
            ));
        }
        let path = parse(read_string(input, 4096)?)?;
        let n = read_u64(input)?;
        let mut references = BTreeSet::new();
        for _ in 0..n {
            references.insert(parse(read_string(input, 4096)?)?);
        }
        let deriver = read_string(input, 4096)?;
        let deriver = if deriver.is_empty() {
            None
        } else {
            Some(parse(deriver)?)
        };
        if read_u64(input)? == 1 {
            read_string(input, 65536)?;
        }
        let mut info = PathInfo::new(path, nar_hash, nar_size);
        info.references = references;
        info.deriver = deriver;
        store.add_nar(&info, &mut &nar[..], false, check_sigs)?;
        on_path(&info.path);
        done.push(info.path);
    }
    Ok(done)
}

/// A reader that keeps a copy of what it reads.
struct KeepReader<'a, R: Read> {
    inner: R,
    kept: &'a mut Vec<u8>,
}

impl<R: Read> Read for KeepReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// A NAR hash as `nix-store -q --hash` prints it.
pub fn print_nar_hash(h: &Hash) -> String {
    h.encode(crate::hash::Encoding::Nix32, true)
}
