//! Scanning bytes for references: which of a set of candidate store paths have their
//! 32-character hash part somewhere in the data. Works on a stream, in chunks of any size.

use crate::nix32;
use crate::path::{StorePath, HASH_CHARS};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};

/// Whether a byte can occur in a hash part.
fn is_hash_char(b: u8) -> bool {
    nix32::is_nix32(&[b])
}

/// Collects the candidates whose hash parts appear in everything written to it.
pub struct RefScanner {
    /// Hash part → candidate, for those not found yet.
    pending: HashMap<[u8; HASH_CHARS], StorePath>,
    found: BTreeSet<StorePath>,
    /// The last bytes of the previous chunk (fewer than a hash part), so that matches
    /// across chunk boundaries are seen.
    tail: Vec<u8>,
}

impl RefScanner {
    pub fn new<'a>(candidates: impl IntoIterator<Item = &'a StorePath>) -> RefScanner {
        let mut pending = HashMap::new();
        for c in candidates {
            let mut key = [0u8; HASH_CHARS];
            key.copy_from_slice(c.hash_part().as_bytes());
            pending.insert(key, c.clone());
        }
        RefScanner {
            pending,
            found: BTreeSet::new(),
            tail: Vec::new(),
        }
    }

    /// Scans `data`, which directly follows everything scanned before.
    pub fn update(&mut self, data: &[u8]) {
        if self.pending.is_empty() {
            return;
        }
        if self.tail.is_empty() {
            self.scan(data);
        } else {
            // The boundary region: the old tail and up to a hash part of new data.
            let mut joined = self.tail.clone();
            joined.extend_from_slice(&data[..data.len().min(HASH_CHARS - 1)]);
            self.scan(&joined);
            if data.len() >= HASH_CHARS - 1 {
                self.scan(data);
            }
        }
        // Keep the last bytes of the stream: a hash part may start there.
        if data.len() >= HASH_CHARS - 1 {
            self.tail.clear();
            self.tail
                .extend_from_slice(&data[data.len() - (HASH_CHARS - 1)..]);
        } else {
            self.tail.extend_from_slice(data);
            let excess = self.tail.len().saturating_sub(HASH_CHARS - 1);
            self.tail.drain(..excess);
        }
    }

    /// Finds every window of hash-part characters; skips past any byte that cannot be part
    /// of one.
    fn scan(&mut self, s: &[u8]) {
        let mut i = 0;
        while i + HASH_CHARS <= s.len() {
            // Check from the end of the window: a bad byte at j lets us skip past it.
            match (0..HASH_CHARS).rev().find(|&j| !is_hash_char(s[i + j])) {
                Some(j) => i += j + 1,
                None => {
                    let mut key = [0u8; HASH_CHARS];
                    key.copy_from_slice(&s[i..i + HASH_CHARS]);
                    if let Some(p) = self.pending.remove(&key) {
                        self.found.insert(p);
                        if self.pending.is_empty() {
                            return;
                        }
                    }
                    i += 1;
                }
            }
        }
    }

    pub fn found(&self) -> &BTreeSet<StorePath> {
        &self.found
    }

    pub fn into_found(self) -> BTreeSet<StorePath> {
        self.found
    }
}

impl Write for RefScanner {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The candidates that the NAR serialisation of the tree at `path` refers to.
pub fn scan_path(
    path: &std::path::Path,
    candidates: &BTreeSet<StorePath>,
) -> io::Result<BTreeSet<StorePath>> {
    let mut s = RefScanner::new(candidates);
    crate::nar::dump(path, &mut s, &mut |_| Ok(true))?;
    Ok(s.into_found())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(h: &str) -> StorePath {
        StorePath::from_base_name(&format!("{h}-x")).unwrap()
    }

    #[test]
    fn finds_across_chunks() {
        let a = p("ivlnvab4q9c7wbsvbfsvgaa15j9p6206");
        let b = p("631i03090lma9fvg7y5hqq1lyxf146kp");
        let c = p("00000000000000000000000000000000");
        let data = format!("xx/nix/store/{}-foo\0zzz{}", a.hash_part(), b.hash_part());
        for chunk in 1..data.len() + 1 {
            let mut s = RefScanner::new([&a, &b, &c]);
            for piece in data.as_bytes().chunks(chunk) {
                s.update(piece);
            }
            assert_eq!(s.found(), &[a.clone(), b.clone()].into(), "chunk {chunk}");
        }
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(prefix in "[a-z0-9/ ]{0,80}", suffix in "[a-z0-9 ]{0,80}", cut in 1usize..40) {
            let a = p("ivlnvab4q9c7wbsvbfsvgaa15j9p6206");
            let data = format!("{prefix}{}{suffix}", a.hash_part());
            let mut s = RefScanner::new([&a]);
            for piece in data.as_bytes().chunks(cut) {
                s.update(piece);
            }
            prop_assert!(s.found().contains(&a));
        }
    }
}
