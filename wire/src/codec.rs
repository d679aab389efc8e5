//! The primitive encodings every message is made of.
//!
//! - numbers are 64-bit little-endian words; where Nix reads a word into a narrower type
//!   (`unsigned int`, `time_t`, `uint8_t`) a larger value is refused as Nix refuses it;
//! - booleans are words, 1 for true and 0 for false (any non-zero word reads as true);
//! - byte strings are their length, the bytes, and zeros up to a multiple of 8;
//! - lists and sets of strings are a count followed by the strings; sets are written in
//!   ascending order;
//! - store paths are strings holding the full printed path, `<store dir>/<hash>-<name>`.
//!
//! Readers never trust a length: strings are read in chunks as the data arrives, and
//! collections grow one received element at a time.

use crate::error::{Result, WireError};
use ferrix_store::path::{StoreDir, StorePath};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

/// How much of a string is read per step: the most a reader allocates ahead of the data.
const CHUNK: usize = 64 * 1024;

/// Padding after a string of `len` bytes.
pub(crate) fn padding_len(len: u64) -> usize {
    ((8 - len % 8) % 8) as usize
}

/// Reads `buf.len()` bytes, a short read being [`WireError::Eof`].
pub fn read_exact<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(WireError::from)
}

/// A 64-bit little-endian word.
pub fn read_u64<R: Read + ?Sized>(r: &mut R) -> Result<u64> {
    let mut b = [0u8; 8];
    read_exact(r, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

pub fn write_u64<W: Write + ?Sized>(w: &mut W, n: u64) -> Result<()> {
    w.write_all(&n.to_le_bytes())?;
    Ok(())
}

/// A word Nix reads as `unsigned int` (`readInt`): values above `u32::MAX` are refused.
pub fn read_u32<R: Read + ?Sized>(r: &mut R, what: &'static str) -> Result<u32> {
    let n = read_u64(r)?;
    u32::try_from(n).map_err(|_| WireError::IntegerTooLarge { what, value: n })
}

/// A word Nix reads as `time_t`: a signed count of seconds, written as its two's
/// complement. Words above `i64::MAX` are refused as Nix refuses them.
pub fn read_time<R: Read + ?Sized>(r: &mut R) -> Result<i64> {
    let n = read_u64(r)?;
    i64::try_from(n).map_err(|_| WireError::IntegerTooLarge {
        what: "time_t",
        value: n,
    })
}

pub fn write_time<W: Write + ?Sized>(w: &mut W, t: i64) -> Result<()> {
    write_u64(w, t as u64)
}

/// A boolean: any non-zero word is true.
pub fn read_bool<R: Read + ?Sized>(r: &mut R) -> Result<bool> {
    Ok(read_u64(r)? != 0)
}

pub fn write_bool<W: Write + ?Sized>(w: &mut W, b: bool) -> Result<()> {
    write_u64(w, u64::from(b))
}

/// Reads and checks the zero padding after `len` bytes of string.
pub fn read_padding<R: Read + ?Sized>(r: &mut R, len: u64) -> Result<()> {
    let n = padding_len(len);
    let mut b = [0u8; 8];
    read_exact(r, &mut b[..n])?;
    if b[..n].iter().any(|&x| x != 0) {
        return Err(WireError::NonZeroPadding);
    }
    Ok(())
}

pub fn write_padding<W: Write + ?Sized>(w: &mut W, len: u64) -> Result<()> {
    w.write_all(&[0u8; 8][..padding_len(len)])?;
    Ok(())
}

/// Reads exactly `len` bytes, allocating only as they arrive.
pub(crate) fn read_payload<R: Read + ?Sized>(r: &mut R, len: u64) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    let mut left = len;
    while left > 0 {
        let step = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        let start = v.len();
        v.resize(start + step, 0);
        read_exact(r, &mut v[start..])?;
        left -= step as u64;
    }
    Ok(v)
}

/// A byte string of any length.
pub fn read_bytes<R: Read + ?Sized>(r: &mut R) -> Result<Vec<u8>> {
    let len = read_u64(r)?;
    let v = read_payload(r, len)?;
    read_padding(r, len)?;
    Ok(v)
}

/// A byte string of at most `max` bytes; a longer length is refused before reading on.
pub fn read_bytes_max<R: Read + ?Sized>(r: &mut R, max: u64) -> Result<Vec<u8>> {
    let len = read_u64(r)?;
    if len > max {
        return Err(WireError::StringTooLong { len, max });
    }
    let v = read_payload(r, len)?;
    read_padding(r, len)?;
    Ok(v)
}

pub fn write_bytes<W: Write + ?Sized>(w: &mut W, s: &[u8]) -> Result<()> {
    write_u64(w, s.len() as u64)?;
    w.write_all(s)?;
    write_padding(w, s.len() as u64)
}

/// A string that must be UTF-8 text; `what` names it in the error.
pub fn read_string<R: Read + ?Sized>(r: &mut R, what: &'static str) -> Result<String> {
    String::from_utf8(read_bytes(r)?).map_err(|_| WireError::NotUtf8 { what })
}

pub fn write_string<W: Write + ?Sized>(w: &mut W, s: &str) -> Result<()> {
    write_bytes(w, s.as_bytes())
}

/// A count of following items. Nothing is allocated from it.
pub fn read_count<R: Read + ?Sized>(r: &mut R) -> Result<u64> {
    read_u64(r)
}

/// A list of byte strings.
pub fn read_bytes_list<R: Read + ?Sized>(r: &mut R) -> Result<Vec<Vec<u8>>> {
    let n = read_count(r)?;
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(read_bytes(r)?);
    }
    Ok(v)
}

pub fn write_bytes_list<W, I, S>(w: &mut W, items: I) -> Result<()>
where
    W: Write + ?Sized,
    I: IntoIterator<Item = S>,
    I::IntoIter: ExactSizeIterator,
    S: AsRef<[u8]>,
{
    let it = items.into_iter();
    write_u64(w, it.len() as u64)?;
    for s in it {
        write_bytes(w, s.as_ref())?;
    }
    Ok(())
}

/// A list of UTF-8 strings.
pub fn read_string_list<R: Read + ?Sized>(r: &mut R, what: &'static str) -> Result<Vec<String>> {
    let n = read_count(r)?;
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(read_string(r, what)?);
    }
    Ok(v)
}

/// A set of UTF-8 strings; duplicates collapse.
pub fn read_string_set<R: Read + ?Sized>(
    r: &mut R,
    what: &'static str,
) -> Result<BTreeSet<String>> {
    let n = read_count(r)?;
    let mut v = BTreeSet::new();
    for _ in 0..n {
        v.insert(read_string(r, what)?);
    }
    Ok(v)
}

/// A list or set of UTF-8 strings, in the iterator's order.
pub fn write_string_list<W, I, S>(w: &mut W, items: I) -> Result<()>
where
    W: Write + ?Sized,
    I: IntoIterator<Item = S>,
    I::IntoIter: ExactSizeIterator,
    S: AsRef<str>,
{
    let it = items.into_iter();
    write_u64(w, it.len() as u64)?;
    for s in it {
        write_string(w, s.as_ref())?;
    }
    Ok(())
}

/// A map from UTF-8 strings to UTF-8 strings (count, then key and value pairs); a repeated
/// key keeps its last value.
pub fn read_string_map<R: Read + ?Sized>(
    r: &mut R,
    what: &'static str,
) -> Result<BTreeMap<String, String>> {
    let n = read_count(r)?;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let k = read_string(r, what)?;
        let v = read_string(r, what)?;
        m.insert(k, v);
    }
    Ok(m)
}

pub fn write_string_map<W: Write + ?Sized>(w: &mut W, m: &BTreeMap<String, String>) -> Result<()> {
    write_u64(w, m.len() as u64)?;
    for (k, v) in m {
        write_string(w, k)?;
        write_string(w, v)?;
    }
    Ok(())
}

/// A store path, printed in full and parsed against `dir` as Nix's `parseStorePath` does.
pub fn read_path<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<StorePath> {
    let s = read_string(r, "store path")?;
    Ok(dir.parse_as_nix(&s)?)
}

pub fn write_path<W: Write + ?Sized>(w: &mut W, dir: &StoreDir, p: &StorePath) -> Result<()> {
    write_string(w, &dir.display(p))
}

/// A store path or nothing, the empty string standing for nothing.
pub fn read_opt_path<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<Option<StorePath>> {
    let s = read_string(r, "store path")?;
    if s.is_empty() {
        Ok(None)
    } else {
        Ok(Some(dir.parse_as_nix(&s)?))
    }
}

pub fn write_opt_path<W: Write + ?Sized>(
    w: &mut W,
    dir: &StoreDir,
    p: Option<&StorePath>,
) -> Result<()> {
    match p {
        Some(p) => write_path(w, dir, p),
        None => write_string(w, ""),
    }
}

/// A store path given by its base name `<hash>-<name>` only (as `AddBuildLog` sends it).
pub fn read_base_name<R: Read + ?Sized>(r: &mut R) -> Result<StorePath> {
    let s = read_string(r, "store path")?;
    Ok(StorePath::from_base_name(&s)?)
}

/// A set of store paths; duplicates collapse.
pub fn read_path_set<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<BTreeSet<StorePath>> {
    let n = read_count(r)?;
    let mut s = BTreeSet::new();
    for _ in 0..n {
        s.insert(read_path(r, dir)?);
    }
    Ok(s)
}

/// A list of store paths, in order.
pub fn read_path_list<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<Vec<StorePath>> {
    let n = read_count(r)?;
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(read_path(r, dir)?);
    }
    Ok(v)
}

/// A set or list of store paths, in the iterator's order.
pub fn write_paths<'p, W, I>(w: &mut W, dir: &StoreDir, paths: I) -> Result<()>
where
    W: Write + ?Sized,
    I: IntoIterator<Item = &'p StorePath>,
    I::IntoIter: ExactSizeIterator,
{
    let it = paths.into_iter();
    write_u64(w, it.len() as u64)?;
    for p in it {
        write_path(w, dir, p)?;
    }
    Ok(())
}
