//! Unpacking of downloaded archives: tar (plain, gzip, xz, bzip2, zstd) and zip. The
//! format is recognised from the content, as libarchive does for Nix, not from the name.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum UnpackError {
    #[error("{what}: {reason}")]
    Io { what: String, reason: String },
    #[error("failed to extract archive ({0})")]
    Format(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> UnpackError {
    let what = what.into();
    move |e| UnpackError::Io {
        what,
        reason: ferrix_store::io_reason(&e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gzip,
    Xz,
    Bzip2,
    Zstd,
    Zip,
    Tar,
}

fn sniff(head: &[u8]) -> Kind {
    if head.starts_with(&[0x1f, 0x8b]) {
        Kind::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Kind::Xz
    } else if head.starts_with(b"BZh") {
        Kind::Bzip2
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Kind::Zstd
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Kind::Zip
    } else {
        Kind::Tar
    }
}

/// Unpacks the archive `src` into the existing directory `dest`. Returns the
/// modification time recorded for the single top-level directory, when the archive
/// records one.
pub fn unpack_archive(src: &Path, dest: &Path) -> Result<Option<u64>, UnpackError> {
    let what = format!("opening '{}'", src.display());
    let mut f = File::open(src).map_err(io_err(what.clone()))?;
    let mut head = [0u8; 8];
    let n = read_up_to(&mut f, &mut head).map_err(io_err(what.clone()))?;
    f.seek(SeekFrom::Start(0)).map_err(io_err(what))?;
    match sniff(&head[..n]) {
        Kind::Zip => unpack_zip(f, dest),
        Kind::Tar => unpack_tar(BufReader::new(f), dest),
        Kind::Gzip => unpack_tar(flate2::read::MultiGzDecoder::new(BufReader::new(f)), dest),
        Kind::Bzip2 => unpack_tar(bzip2::read::MultiBzDecoder::new(BufReader::new(f)), dest),
        Kind::Zstd => {
            let d = zstd::stream::read::Decoder::new(f)
                .map_err(|e| UnpackError::Format(e.to_string()))?;
            unpack_tar(d, dest)
        }
        Kind::Xz => {
            // lzma-rs decodes into a writer; the tar goes through a temporary file so
            // that nothing is held whole in memory.
            let mut tmp = tempfile::tempfile().map_err(io_err("creating a temporary file"))?;
            lzma_rs::xz_decompress(&mut BufReader::new(f), &mut tmp)
                .map_err(|e| UnpackError::Format(format!("xz: {e}")))?;
            tmp.seek(SeekFrom::Start(0))
                .map_err(io_err("reading a temporary file"))?;
            unpack_tar(BufReader::new(tmp), dest)
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Whether `p` is a single normal component (the top-level directory itself).
fn is_top_level(p: &Path) -> bool {
    let mut c = p.components().filter(|c| !matches!(c, Component::CurDir));
    matches!(c.next(), Some(Component::Normal(_))) && c.next().is_none()
}

/// Lets the owner write into and list a directory that the archive made read-only, so
/// that later entries can go in (a NAR keeps no directory permissions anyway).
fn make_writable(p: &Path) {
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if m.is_dir() {
            let mut perm = m.permissions();
            perm.set_mode(perm.mode() | 0o700);
            let _ = std::fs::set_permissions(p, perm);
        }
    }
}

/// Unpacks an uncompressed tar stream (such as `git archive` writes) into `dest`.
pub fn unpack_tar_stream(r: impl Read, dest: &Path) -> Result<Option<u64>, UnpackError> {
    unpack_tar(r, dest)
}

fn unpack_tar(r: impl Read, dest: &Path) -> Result<Option<u64>, UnpackError> {
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    ar.set_unpack_xattrs(false);
    let fmt = |e: io::Error| UnpackError::Format(e.to_string());
    let mut top_mtime = None;
    for entry in ar.entries().map_err(fmt)? {
        let mut entry = entry.map_err(fmt)?;
        let path = entry.path().map_err(fmt)?.into_owned();
        let is_dir = entry.header().entry_type().is_dir();
        if is_dir && is_top_level(&path) {
            top_mtime = entry.header().mtime().ok();
        }
        // An entry that would land outside `dest` fails the whole unpacking, as
        // libarchive's `SECURE_NODOTDOT` does for Nix.
        if !entry.unpack_in(dest).map_err(fmt)? {
            return Err(UnpackError::Format("Path contains '..'".into()));
        }
        if is_dir {
            make_writable(&dest.join(&path));
        }
    }
    Ok(top_mtime)
}

fn unpack_zip(f: File, dest: &Path) -> Result<Option<u64>, UnpackError> {
    let fmt = |e: zip::result::ZipError| UnpackError::Format(e.to_string());
    let mut z = zip::ZipArchive::new(BufReader::new(f)).map_err(fmt)?;
    z.extract(dest).map_err(fmt)?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o555);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        b.append_data(&mut h, "top/", io::empty()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(3);
        h.set_mtime(1);
        b.append_data(&mut h, "top/run", &b"hi\n"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn tar_gz_and_zstd() {
        use std::io::Write;
        let tar = sample_tar();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for data in [tar.clone(), gz, zst] {
            let d = tempfile::tempdir().unwrap();
            let src = d.path().join("a");
            std::fs::write(&src, &data).unwrap();
            let out = d.path().join("out");
            std::fs::create_dir(&out).unwrap();
            let mtime = unpack_archive(&src, &out).unwrap();
            assert_eq!(mtime, Some(1_600_000_000));
            let f = out.join("top/run");
            assert_eq!(std::fs::read(&f).unwrap(), b"hi\n");
            assert!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o100 != 0);
        }
    }

    #[test]
    fn dot_dot_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(1);
        // `append_data` refuses `..`, so the name goes into the header directly.
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"top/../x\0");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a.tar");
        std::fs::write(&src, data).unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let e = unpack_archive(&src, &out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to extract archive (Path contains '..')"
        );
        assert!(!d.path().join("x").exists());
    }

    #[test]
    fn garbage_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a");
        std::fs::write(&src, [0x1f, 0x8b, 1, 2, 3]).unwrap();
        assert!(matches!(
            unpack_archive(&src, d.path()),
            Err(UnpackError::Format(_))
        ));
    }
}
