//! NAR, the Nix archive: a canonical serialisation of a file, symlink or directory tree.
//!
//! Every string is a little-endian u64 length, the bytes, and zero padding to 8 bytes.
//! Directory entries are in byte order of their names, so one tree has one NAR.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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

/// The suffix `use-case-hack` appends to names that collide case-insensitively.
pub const CASE_HACK_SUFFIX: &str = "~nix~case~hack~";

/// Serialises the tree at `path` into `out`. `filter` sees every path below the root and
/// leaves out those it refuses (with everything under them).
pub fn dump(
    path: &Path,
    out: &mut dyn Write,
    filter: &mut dyn FnMut(&Path) -> io::Result<bool>,
) -> io::Result<()> {
    dump_with(path, out, filter, false)
}

/// [`dump`], stripping `~nix~case~hack~N` suffixes from names when `case_hack` is set (the
/// `use-case-hack` setting).
pub fn dump_with(
    path: &Path,
    out: &mut dyn Write,
    filter: &mut dyn FnMut(&Path) -> io::Result<bool>,
    case_hack: bool,
) -> io::Result<()> {
    let mut w = NarWriter::new(out);
    w.str(MAGIC)?;
    dump_node(path, &mut w, filter, case_hack)
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
    case_hack: bool,
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
        // (name in the archive, name on disk)
        let mut names: Vec<(Vec<u8>, OsString)> = Vec::new();
        for e in fs::read_dir(path).map_err(|e| with_path(e, "opening directory", path))? {
            let on_disk = e?.file_name();
            let mut name = on_disk.as_bytes().to_vec();
            if case_hack {
                if let Some(i) = find(&name, CASE_HACK_SUFFIX.as_bytes()) {
                    name.truncate(i);
                }
            }
            names.push((name, on_disk));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for pair in names.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(io::Error::other(format!(
                    "file name collision in between '{}' and '{}'",
                    path.join(&pair[0].1).display(),
                    path.join(&pair[1].1).display()
                )));
            }
        }
        for (name, on_disk) in names {
            let child = path.join(&on_disk);
            if !filter(&child)? {
                continue;
            }
            w.str(b"entry")?;
            w.str(b"(")?;
            w.str(b"name")?;
            w.str(&name)?;
            w.str(b"node")?;
            dump_node(&child, w, filter, case_hack)?;
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} '{}': {}", path.display(), crate::io_reason(&e)),
    )
}

// ---------------------------------------------------------------------------------------
// Parsing and restoring

/// What a NAR parser reports, node by node, in archive order. Paths are relative to the
/// root of the archive (empty for the root itself), with case-hack suffixes already added.
pub trait NarVisitor {
    fn directory(&mut self, path: &Path) -> io::Result<()>;
    /// A regular file; `contents` yields its `size` bytes. Whatever the visitor leaves unread
    /// is skipped.
    fn file(
        &mut self,
        path: &Path,
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()>;
    fn symlink(&mut self, path: &Path, target: &OsStr) -> io::Result<()>;
    /// After the last entry of a directory.
    fn end_directory(&mut self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
}

/// A visitor that only checks the archive.
pub struct NullVisitor;

impl NarVisitor for NullVisitor {
    fn directory(&mut self, _: &Path) -> io::Result<()> {
        Ok(())
    }
    fn file(&mut self, _: &Path, _: bool, _: u64, _: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
    fn symlink(&mut self, _: &Path, _: &OsStr) -> io::Result<()> {
        Ok(())
    }
}

/// The contents of a NAR that holds a single regular file, or `None` for any other archive.
pub fn regular_contents(nar: &[u8]) -> Option<Vec<u8>> {
    struct One(Option<Vec<u8>>, bool);
    impl NarVisitor for One {
        fn directory(&mut self, _: &Path) -> io::Result<()> {
            self.1 = true;
            Ok(())
        }
        fn file(&mut self, p: &Path, _: bool, _: u64, c: &mut dyn Read) -> io::Result<()> {
            if p.as_os_str().is_empty() {
                let mut v = Vec::new();
                c.read_to_end(&mut v)?;
                self.0 = Some(v);
            }
            Ok(())
        }
        fn symlink(&mut self, _: &Path, _: &OsStr) -> io::Result<()> {
            self.1 = true;
            Ok(())
        }
    }
    let mut v = One(None, false);
    let mut r = nar;
    parse(&mut r, &mut v, ParseOptions::default()).ok()?;
    if v.1 {
        None
    } else {
        v.0
    }
}

/// How to read an archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// `use-case-hack`: rename entries whose names collide case-insensitively with an earlier
    /// entry of the same directory by appending `~nix~case~hack~N`.
    pub case_hack: bool,
}

/// The deepest directory nesting accepted (a path that deep would exceed `PATH_MAX` anyway).
const MAX_DEPTH: usize = 2048;
/// Longest file name (`NAME_MAX`).
const MAX_NAME: u64 = 255;
/// Longest symlink target (`PATH_MAX - 1`).
const MAX_TARGET: u64 = 4095;

fn bad(msg: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad archive: {msg}"))
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end-of-file")
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Parser<'r> {
    r: &'r mut dyn Read,
    case_hack: bool,
}

impl Parser<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.r.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                eof()
            } else {
                e
            }
        })
    }

    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn padding(&mut self, len: u64) -> io::Result<()> {
        let n = ((8 - len % 8) % 8) as usize;
        let mut b = [0u8; 8];
        self.fill(&mut b[..n])?;
        if b[..n].iter().any(|&x| x != 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "non-zero padding",
            ));
        }
        Ok(())
    }

    /// A string of at most `max` bytes; `what` names it in the error for a longer one.
    fn string(&mut self, max: u64, what: &str) -> io::Result<Vec<u8>> {
        let len = self.u64()?;
        if len > max {
            return Err(bad(format!("{what} is too long ({len} bytes)")));
        }
        let mut v = vec![0u8; len as usize];
        self.fill(&mut v)?;
        self.padding(len)?;
        Ok(v)
    }

    fn tag(&mut self) -> io::Result<Vec<u8>> {
        self.string(64, "tag")
    }

    fn expect(&mut self, want: &[u8]) -> io::Result<()> {
        let got = self.tag()?;
        if got == want {
            Ok(())
        } else if want == b"(" {
            Err(bad("expected open tag"))
        } else if want == b")" {
            Err(bad("expected close tag"))
        } else {
            Err(bad(format!(
                "expected tag '{}', got '{}'",
                show(want),
                show(&got)
            )))
        }
    }

    fn node(&mut self, path: &mut PathBuf, v: &mut dyn NarVisitor, depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(bad("directories are nested too deeply"));
        }
        self.expect(b"(")?;
        let first = self.tag()?;
        if first != b"type" {
            return Err(bad(format!("unknown field {}", show(&first))));
        }
        let t = self.tag()?;
        match &t[..] {
            b"regular" => {
                let mut field = self.tag()?;
                let mut exec = false;
                if field == b"executable" {
                    if !self.string(64, "executable marker")?.is_empty() {
                        return Err(bad("executable marker has non-empty value"));
                    }
                    exec = true;
                    field = self.tag()?;
                }
                if field != b"contents" {
                    return Err(bad(format!("unknown field {}", show(&field))));
                }
                let size = self.u64()?;
                let mut take = (&mut *self.r).take(size);
                v.file(path, exec, size, &mut take)?;
                io::copy(&mut take, &mut io::sink())?;
                if take.limit() != 0 {
                    return Err(eof());
                }
                self.padding(size)?;
                self.expect(b")")
            }
            b"symlink" => {
                self.expect(b"target")?;
                let target = self.string(MAX_TARGET, "symlink target")?;
                if target.is_empty() || target.contains(&0) {
                    return Err(bad(format!("invalid symlink target '{}'", show(&target))));
                }
                v.symlink(path, OsStr::from_bytes(&target))?;
                self.expect(b")")
            }
            b"directory" => {
                v.directory(path)?;
                let mut prev: Option<Vec<u8>> = None;
                let mut seen: std::collections::HashMap<Vec<u8>, u32> =
                    std::collections::HashMap::new();
                loop {
                    let f = self.tag()?;
                    if f == b")" {
                        break;
                    }
                    if f != b"entry" {
                        return Err(bad(format!("unknown field {}", show(&f))));
                    }
                    self.expect(b"(")?;
                    self.expect(b"name")?;
                    let name = self.string(MAX_NAME, "file name")?;
                    if name.is_empty()
                        || name == b"."
                        || name == b".."
                        || name.contains(&b'/')
                        || name.contains(&0)
                    {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("NAR contains invalid file name '{}'", show(&name)),
                        ));
                    }
                    if prev.as_ref().is_some_and(|p| name <= *p) {
                        return Err(bad(format!(
                            "NAR directory is not sorted ('{}' after '{}')",
                            show(&name),
                            show(prev.as_deref().unwrap_or_default())
                        )));
                    }
                    let mut on_disk = name.clone();
                    if self.case_hack {
                        let key = name.to_ascii_lowercase();
                        match seen.get_mut(&key) {
                            Some(n) => {
                                *n += 1;
                                on_disk.extend_from_slice(CASE_HACK_SUFFIX.as_bytes());
                                on_disk.extend_from_slice(n.to_string().as_bytes());
                            }
                            None => {
                                seen.insert(key, 0);
                            }
                        }
                    }
                    prev = Some(name);
                    self.expect(b"node")?;
                    path.push(OsStr::from_bytes(&on_disk));
                    let r = self.node(path, v, depth + 1);
                    path.pop();
                    r?;
                    self.expect(b")")?;
                }
                v.end_directory(path)
            }
            other => Err(bad(format!("unknown file type {}", show(other)))),
        }
    }
}

/// Reads one archive from `r`, reporting its nodes to `v`. Stops right after the archive;
/// the caller decides whether more input may follow (see [`expect_end`]).
pub fn parse(r: &mut dyn Read, v: &mut dyn NarVisitor, opts: ParseOptions) -> io::Result<()> {
    let mut p = Parser {
        r,
        case_hack: opts.case_hack,
    };
    let magic = p.string(64, "magic").map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            bad("input doesn't look like a Nix archive")
        } else {
            e
        }
    })?;
    if magic != MAGIC {
        return Err(bad("input doesn't look like a Nix archive"));
    }
    p.node(&mut PathBuf::new(), v, 0)
}

/// Fails unless `r` is at its end.
pub fn expect_end(r: &mut dyn Read) -> io::Result<()> {
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(bad("trailing data after the archive")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Called with the kind of the root node before it is created.
type RootCheck = Box<dyn FnMut(&str) -> io::Result<()>>;

/// A visitor that creates what the archive describes under `root`, which must not exist.
pub struct Restorer {
    root: PathBuf,
    /// `fsync` every file and directory once written.
    pub fsync: bool,
    /// Called with the kind of the root node before it is created (`"directory"`, `"file"`
    /// or `"symlink"`).
    on_root: Option<RootCheck>,
}

impl Restorer {
    pub fn new(root: &Path, fsync: bool) -> Restorer {
        Restorer {
            root: root.to_path_buf(),
            fsync,
            on_root: None,
        }
    }

    fn target(&mut self, rel: &Path, kind: &str) -> io::Result<PathBuf> {
        if rel.as_os_str().is_empty() {
            if let Some(f) = self.on_root.as_mut() {
                f(kind)?;
            }
            Ok(self.root.clone())
        } else {
            Ok(self.root.join(rel))
        }
    }
}

fn sync_dir(p: &Path) -> io::Result<()> {
    fs::File::open(p)?.sync_all()
}

impl NarVisitor for Restorer {
    fn directory(&mut self, rel: &Path) -> io::Result<()> {
        let p = self.target(rel, "directory")?;
        fs::DirBuilder::new()
            .mode(0o777)
            .create(&p)
            .map_err(|e| with_path(e, "creating directory", &p))
    }

    fn file(&mut self, rel: &Path, exec: bool, _size: u64, data: &mut dyn Read) -> io::Result<()> {
        let p = self.target(rel, "file")?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if exec { 0o777 } else { 0o666 })
            .open(&p)
            .map_err(|e| with_path(e, "creating file", &p))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            f.write_all(&buf[..n])
                .map_err(|e| with_path(e, "writing to file", &p))?;
        }
        if self.fsync {
            f.sync_all().map_err(|e| with_path(e, "syncing file", &p))?;
        }
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, target: &OsStr) -> io::Result<()> {
        let p = self.target(rel, "symlink")?;
        std::os::unix::fs::symlink(target, &p).map_err(|e| with_path(e, "creating symlink", &p))
    }

    fn end_directory(&mut self, rel: &Path) -> io::Result<()> {
        if self.fsync {
            sync_dir(&self.root.join(rel))?;
        }
        Ok(())
    }
}

/// How to restore an archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    pub case_hack: bool,
    /// `fsync` what was written before it is moved into place.
    pub fsync: bool,
    /// Refuse input after the end of the archive.
    pub expect_end: bool,
}

/// A name for a temporary sibling of `target` that nobody else uses.
pub fn temp_sibling(target: &Path, what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parent.join(format!(".ferrix-{what}-{}-{n}-{nanos}", std::process::id()))
}

/// Removes a file or a tree, making directories writable first as needed.
pub fn remove_tree(p: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        if meta.permissions().mode() & 0o700 != 0o700 {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755))?;
        }
        for e in fs::read_dir(p)? {
            remove_tree(&e?.path())?;
        }
        fs::remove_dir(p)
    } else {
        fs::remove_file(p)
    }
}

/// Moves `from` to `to`, failing if `to` exists.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from_raw_os_error(nix::libc::EEXIST));
            }
            fs::rename(from, to)
        }
        Err(e) => Err(io::Error::from_raw_os_error(e as i32)),
    }
}

/// Restores the archive read from `r` at `target`. The tree is built in a temporary sibling
/// and renamed into place once complete, so a failure leaves nothing behind.
pub fn restore(r: &mut dyn Read, target: &Path, opts: RestoreOptions) -> io::Result<()> {
    let tmp = temp_sibling(target, "restore");
    let mut rest = Restorer::new(&tmp, opts.fsync);
    let tgt = target.to_path_buf();
    let kind_seen = std::rc::Rc::new(std::cell::Cell::new(""));
    let ks = kind_seen.clone();
    rest.on_root = Some(Box::new(move |kind: &str| {
        let kind: &'static str = match kind {
            "directory" => "directory",
            "symlink" => "symlink",
            _ => "file",
        };
        ks.set(kind);
        if fs::symlink_metadata(&tgt).is_ok() {
            return Err(with_path(
                io::Error::from_raw_os_error(nix::libc::EEXIST),
                &format!("creating {kind}"),
                &tgt,
            ));
        }
        Ok(())
    }));
    let result = (|| {
        parse(
            r,
            &mut rest,
            ParseOptions {
                case_hack: opts.case_hack,
            },
        )?;
        if opts.expect_end {
            expect_end(r)?;
        }
        rename_no_replace(&tmp, target)
            .map_err(|e| with_path(e, &format!("creating {}", kind_seen.get()), target))?;
        if opts.fsync {
            if let Some(parent) = target.parent() {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                sync_dir(parent)?;
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = remove_tree(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
        out.resize(out.len() + (8 - b.len() % 8) % 8, 0);
    }

    fn nar(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        s(&mut v, MAGIC);
        for p in parts {
            s(&mut v, p);
        }
        v
    }

    fn restore_err(data: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let e = restore(
            &mut &data[..],
            &out,
            RestoreOptions {
                expect_end: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(!out.exists(), "partial output left behind");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temp left behind"
        );
        e.to_string()
    }

    fn entry<'a>(name: &'a [u8], file: &'a [u8]) -> Vec<&'a [u8]> {
        vec![
            b"entry",
            b"(",
            b"name",
            name,
            b"node",
            b"(",
            b"type",
            b"regular",
            b"contents",
            file,
            b")",
            b")",
        ]
    }

    #[test]
    fn refuses_corrupt_archives() {
        assert_eq!(
            restore_err(b"\x0d\0\0\0\0\0\0\0nix-archive-2\0\0\0"),
            "bad archive: input doesn't look like a Nix archive"
        );
        let good = nar(&[b"(", b"type", b"regular", b"contents", b"hello", b")"]);
        for cut in [3, 20, 50, good.len() - 1] {
            assert_eq!(restore_err(&good[..cut]), "unexpected end-of-file");
        }
        let mut trailing = good.clone();
        trailing.push(1);
        assert_eq!(
            restore_err(&trailing),
            "bad archive: trailing data after the archive"
        );
        let mut badpad = good.clone();
        let i = badpad.len() - 24 + 5; // first padding byte after "hello"
        badpad[i] = 1;
        assert_eq!(restore_err(&badpad), "non-zero padding");
        let dir = |entries: Vec<Vec<&'static [u8]>>| {
            let mut parts: Vec<&[u8]> = vec![b"(", b"type", b"directory"];
            for e in entries {
                parts.extend(e);
            }
            parts.push(b")");
            nar(&parts)
        };
        assert!(
            restore_err(&dir(vec![entry(b"b", b"1"), entry(b"a", b"2")])).contains("not sorted")
        );
        assert!(
            restore_err(&dir(vec![entry(b"a", b"1"), entry(b"a", b"2")])).contains("not sorted")
        );
        for name in [&b"a/b"[..], b".", b"..", b""] {
            assert_eq!(
                restore_err(&dir(vec![entry(name, b"1")])),
                format!("NAR contains invalid file name '{}'", show(name))
            );
        }
        assert_eq!(
            restore_err(&nar(&[b"(", b"type", b"fifo", b")"])),
            "bad archive: unknown file type fifo"
        );
        assert_eq!(
            restore_err(&nar(&[b"(", b"type", b"regular", b"foo", b")"])),
            "bad archive: unknown field foo"
        );
        assert_eq!(restore_err(&nar(&[b"x"])), "bad archive: expected open tag");
        assert_eq!(
            restore_err(&nar(&[
                b"(",
                b"type",
                b"regular",
                b"executable",
                b"x",
                b"contents",
                b"",
                b")"
            ])),
            "bad archive: executable marker has non-empty value"
        );
        // A failure deep inside a directory removes what was restored so far.
        let mut parts = entry(b"a", b"1");
        parts.extend([
            &b"entry"[..],
            b"(",
            b"name",
            b"b",
            b"node",
            b"(",
            b"type",
            b"bogus",
        ]);
        let mut v: Vec<&[u8]> = vec![b"(", b"type", b"directory"];
        v.extend(parts);
        assert_eq!(
            restore_err(&nar(&v)),
            "bad archive: unknown file type bogus"
        );
    }

    #[test]
    fn refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let good = nar(&[b"(", b"type", b"directory", b")"]);
        let e = restore(&mut &good[..], &out, RestoreOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("creating directory '{}': File exists", out.display())
        );
    }

    #[test]
    fn case_hack_round_trip() {
        let dir = |names: &[&'static [u8]]| {
            let mut parts: Vec<&[u8]> = vec![b"(", b"type", b"directory"];
            for n in names {
                parts.extend(entry(n, b"x"));
            }
            parts.push(b")");
            nar(&parts)
        };
        let data = dir(&[b"A", b"B", b"a", b"b", b"c"]);
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let opts = RestoreOptions {
            case_hack: true,
            ..Default::default()
        };
        restore(&mut &data[..], &out, opts).unwrap();
        let mut names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["A", "B", "a~nix~case~hack~1", "b~nix~case~hack~1", "c"]
        );
        let mut back = Vec::new();
        dump_with(&out, &mut back, &mut |_| Ok(true), true).unwrap();
        assert_eq!(back, data);
    }

    #[derive(Debug, Clone)]
    enum Tree {
        File(Vec<u8>, bool),
        Link(String),
        Dir(std::collections::BTreeMap<String, Tree>),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            (
                proptest::collection::vec(any::<u8>(), 0..300),
                any::<bool>()
            )
                .prop_map(|(d, x)| Tree::File(d, x)),
            "[a-z./]{1,20}".prop_map(Tree::Link),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            proptest::collection::btree_map("[a-zA-Z0-9_é.-]{1,12}", inner, 0..6).prop_map(|m| {
                Tree::Dir(
                    m.into_iter()
                        .filter(|(k, _)| k != "." && k != "..")
                        .collect(),
                )
            })
        })
    }

    fn make(p: &Path, t: &Tree) {
        match t {
            Tree::File(d, x) => {
                fs::write(p, d).unwrap();
                fs::set_permissions(
                    p,
                    fs::Permissions::from_mode(if *x { 0o755 } else { 0o644 }),
                )
                .unwrap();
            }
            Tree::Link(l) => std::os::unix::fs::symlink(l, p).unwrap(),
            Tree::Dir(m) => {
                fs::create_dir(p).unwrap();
                for (k, v) in m {
                    make(&p.join(k), v);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn dump_restore_round_trip(t in tree()) {
            let tmp = tempfile::tempdir().unwrap();
            let src = tmp.path().join("src");
            make(&src, &t);
            let mut a = Vec::new();
            dump(&src, &mut a, &mut |_| Ok(true)).unwrap();
            let dst = tmp.path().join("dst");
            restore(&mut &a[..], &dst, RestoreOptions { expect_end: true, ..Default::default() }).unwrap();
            let mut b = Vec::new();
            dump(&dst, &mut b, &mut |_| Ok(true)).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
