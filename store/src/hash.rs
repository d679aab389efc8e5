//! Hashes as Nix writes them: MD5, SHA-1, SHA-256 and SHA-512, in base 16, Nix32, base 64
//! and SRI form, with the parsing rules of Nix 2.8 (the encoding follows from the length).

use crate::nix32;
use sha2::Digest;
use std::fmt;

/// A hash algorithm Nix knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// The algorithm of a name as Nix spells it (lower case).
    pub fn parse(name: &str) -> Option<HashAlgo> {
        match name {
            "md5" => Some(HashAlgo::Md5),
            "sha1" => Some(HashAlgo::Sha1),
            "sha256" => Some(HashAlgo::Sha256),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A running hash of one of Nix's algorithms.
#[derive(Clone)]
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Self {
        match algo {
            HashAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Hash {
        let (algo, bytes) = match self {
            Hasher::Md5(h) => (HashAlgo::Md5, h.finalize().to_vec()),
            Hasher::Sha1(h) => (HashAlgo::Sha1, h.finalize().to_vec()),
            Hasher::Sha256(h) => (HashAlgo::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (HashAlgo::Sha512, h.finalize().to_vec()),
        };
        Hash { algo, bytes }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A digest together with its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    pub algo: HashAlgo,
    pub bytes: Vec<u8>,
}

/// The ways Nix writes a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Base16,
    Nix32,
    Base64,
    Sri,
}

/// Why a hash text was refused; the messages are Nix 2.8's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("unknown hash algorithm '{0}'")]
    UnknownAlgo(String),
    #[error("hash '{0}' does not include a type, nor is the type otherwise known from context")]
    NoType(String),
    #[error("hash '{0}' should have type '{1}'")]
    WrongType(String, HashAlgo),
    #[error("invalid base-16 hash '{0}'")]
    BadBase16(String),
    #[error("invalid base-32 hash '{0}'")]
    BadNix32(String),
    #[error("invalid base-64 hash '{0}'")]
    BadBase64(String),
    #[error("hash '{0}' has wrong length for hash type '{1}'")]
    WrongLength(String, HashAlgo),
    #[error("invalid SRI hash '{0}'")]
    BadSri(String),
    /// Nix 2.8's message leaves the character out (its formatting drops it).
    #[error("invalid character in Base64 string: ''")]
    Base64Char,
}

impl Hash {
    /// The digest of `data` in one go.
    pub fn of(algo: HashAlgo, data: &[u8]) -> Hash {
        let mut h = Hasher::new(algo);
        h.update(data);
        h.finish()
    }

    pub fn sha256(data: &[u8]) -> Hash {
        Hash::of(HashAlgo::Sha256, data)
    }

    /// The all-zero hash Nix substitutes for an empty `outputHash`.
    pub fn zero(algo: HashAlgo) -> Hash {
        Hash {
            algo,
            bytes: vec![0; algo.size()],
        }
    }

    pub fn to_base16(&self) -> String {
        base16(&self.bytes)
    }

    pub fn to_nix32(&self) -> String {
        nix32::encode(&self.bytes)
    }

    pub fn to_base64(&self) -> String {
        base64_encode(&self.bytes)
    }

    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, self.to_base64())
    }

    /// The hash in an encoding, with `algo:` in front when `prefix` is set (SRI always has
    /// its own prefix).
    pub fn encode(&self, enc: Encoding, prefix: bool) -> String {
        let body = match enc {
            Encoding::Base16 => self.to_base16(),
            Encoding::Nix32 => self.to_nix32(),
            Encoding::Base64 => self.to_base64(),
            Encoding::Sri => return self.to_sri(),
        };
        if prefix {
            format!("{}:{}", self.algo, body)
        } else {
            body
        }
    }

    /// Parses `text` in any of Nix's forms: `algo:digest`, `algo-base64` (SRI), or a bare
    /// digest when `algo` says which algorithm it is. A type in the text must agree with
    /// `algo` when both are given.
    pub fn parse_any(text: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        let (found, body, sri) = if let Some((name, rest)) = text.split_once(':') {
            let a = HashAlgo::parse(name).ok_or_else(|| HashError::UnknownAlgo(name.into()))?;
            (Some(a), rest, false)
        } else if let Some((name, rest)) = text.split_once('-') {
            match HashAlgo::parse(name) {
                Some(a) => (Some(a), rest, true),
                None => (None, text, false),
            }
        } else {
            (None, text, false)
        };
        let algo = match (found, algo) {
            (Some(f), Some(want)) if f != want => {
                return Err(HashError::WrongType(text.into(), want))
            }
            (Some(f), _) => f,
            (None, Some(want)) => want,
            (None, None) => return Err(HashError::NoType(text.into())),
        };
        if sri {
            // Nix 2.8 quotes just the base-64 part for both bad encodings and bad lengths.
            return match base64_decode(body.as_bytes()) {
                Some(bytes) if bytes.len() == algo.size() => Ok(Hash { algo, bytes }),
                Some(_) => Err(HashError::BadSri(body.into())),
                None => Err(HashError::Base64Char),
            };
        }
        Hash::parse_body(text, body, algo)
    }

    /// A bare digest of a known algorithm; its length decides the encoding.
    pub fn parse_body(whole: &str, body: &str, algo: HashAlgo) -> Result<Hash, HashError> {
        let n = algo.size();
        let bytes = if body.len() == 2 * n {
            parse_base16(body.as_bytes()).ok_or_else(|| HashError::BadBase16(whole.into()))?
        } else if body.len() == nix32::encoded_len(n) {
            nix32::decode(body.as_bytes(), n).ok_or_else(|| HashError::BadNix32(whole.into()))?
        } else if body.len() == n.div_ceil(3) * 4 {
            let b = base64_decode(body.as_bytes()).ok_or(HashError::Base64Char)?;
            if b.len() != n {
                return Err(HashError::BadBase64(whole.into()));
            }
            b
        } else {
            return Err(HashError::WrongLength(whole.into(), algo));
        };
        Ok(Hash { algo, bytes })
    }

    /// The first `size` bytes of the digest XOR-folded, as Nix shortens hashes for store
    /// paths and `nix-hash --truncate`.
    pub fn fold(&self, size: usize) -> Vec<u8> {
        let mut out = vec![0u8; size];
        for (i, &b) in self.bytes.iter().enumerate() {
            out[i % size] ^= b;
        }
        out
    }
}

/// Lower-case base 16.
pub fn base16(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

fn parse_base16(text: &[u8]) -> Option<Vec<u8>> {
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(*p.get(1)?)?))
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base 64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                s.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Standard base 64 as Nix 2.8 decodes it: padding optional, decoding stops at the first
/// `=` (what follows is ignored, as nixpkgs' SRI hashes ending in `=s` or `===` need), and
/// newlines are skipped. `None`: a character outside the alphabet came first.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        if c == b'=' {
            break;
        }
        if c == b'\n' {
            continue;
        }
        let v = B64.iter().position(|&d| d == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ABC256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn encodings_of_abc() {
        let h = Hash::sha256(b"abc");
        assert_eq!(h.to_base16(), ABC256);
        // Values from `nix-hash --type sha256 --to-base32` and `nix hash to-sri` of Nix 2.8.
        assert_eq!(
            h.to_nix32(),
            "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
        );
        assert_eq!(
            h.to_sri(),
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn parses_every_form() {
        let h = Hash::sha256(b"abc");
        for text in [
            format!("sha256:{ABC256}"),
            "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s".into(),
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=".into(),
            "sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=".into(),
        ] {
            assert_eq!(Hash::parse_any(&text, None).as_ref(), Ok(&h), "{text}");
        }
        assert_eq!(Hash::parse_any(ABC256, Some(HashAlgo::Sha256)), Ok(h));
    }

    #[test]
    fn refuses_bad_hashes() {
        assert_eq!(
            Hash::parse_any(ABC256, None),
            Err(HashError::NoType(ABC256.into()))
        );
        assert!(matches!(
            Hash::parse_any(&format!("sha256:{ABC256}"), Some(HashAlgo::Sha1)),
            Err(HashError::WrongType(..))
        ));
        assert!(matches!(
            Hash::parse_any("sha256:abc", None),
            Err(HashError::WrongLength(..))
        ));
        assert!(matches!(
            Hash::parse_any(
                "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5e",
                None
            ),
            Err(HashError::BadNix32(..))
        ));
        assert!(matches!(
            Hash::parse_any("foo:abc", None),
            Err(HashError::UnknownAlgo(..))
        ));
    }

    proptest! {
        #[test]
        fn base64_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(base64_decode(base64_encode(&bytes).as_bytes()), Some(bytes));
        }
    }
}
