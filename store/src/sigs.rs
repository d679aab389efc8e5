//! Path signatures: `name:base64(signature)` over a path's fingerprint, checked against
//! `trusted-public-keys` (`name:base64(key)`), as binary caches and `nix store sign` make
//! them.

use crate::db::PathInfo;
use crate::hash::{base64_decode, Encoding};
use crate::path::{Ingestion, StoreDir};
use crate::{Hash, HashAlgo};

/// Why a secret key could not be had. The texts are Nix's.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("secret key is corrupt")]
    Corrupt,
    #[error("secret key is not valid Base64")]
    NotBase64,
    /// A key file (of `secret-key-files`) could not be read.
    #[error("opening file '{file}': {}", crate::io_reason(.source))]
    Open {
        file: String,
        source: std::io::Error,
    },
}

/// What is signed: `1;<path>;<nar hash>;<nar size>;<references>`.
pub fn fingerprint(dir: &StoreDir, info: &PathInfo) -> String {
    let refs: Vec<String> = info.references.iter().map(|r| dir.display(r)).collect();
    format!(
        "1;{};{};{};{}",
        dir.display(&info.path),
        info.nar_hash.encode(Encoding::Nix32, true),
        info.nar_size,
        refs.join(",")
    )
}

/// Whether `sig` (`name:base64`) is a valid signature of `fingerprint` by one of `keys`.
pub fn verify(fingerprint: &str, sig: &str, keys: &[String]) -> bool {
    let Some((name, sig64)) = sig.split_once(':') else {
        return false;
    };
    let Some(sig) = base64_decode(sig64.as_bytes()).and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    keys.iter().any(|k| {
        let Some((kname, k64)) = k.split_once(':') else {
            return false;
        };
        if kname != name {
            return false;
        }
        let Some(key) = base64_decode(k64.as_bytes()).and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return false;
        };
        ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map(|vk| vk.verify_strict(fingerprint.as_bytes(), &sig).is_ok())
            .unwrap_or(false)
    })
}

/// Whether `info`'s content address names its path (such a path needs no signature).
pub fn is_content_addressed(dir: &StoreDir, info: &PathInfo) -> bool {
    let Some(ca) = &info.ca else { return false };
    let name = info.path.name();
    let computed = if let Some(h) = ca.strip_prefix("text:") {
        Hash::parse_any(h, None)
            .ok()
            .and_then(|h| dir.make_text_path(name, &h, &info.references).ok())
    } else if let Some(rest) = ca.strip_prefix("fixed:") {
        let (method, h) = match rest.strip_prefix("r:") {
            Some(h) => (Ingestion::Recursive, h),
            None => (Ingestion::Flat, rest),
        };
        let self_ref = info.references.contains(&info.path);
        let mut refs = info.references.clone();
        refs.remove(&info.path);
        Hash::parse_any(h, None).ok().and_then(|h| {
            let plain = h.algo != HashAlgo::Sha256 || method != Ingestion::Recursive;
            if plain && (!refs.is_empty() || self_ref) {
                return None;
            }
            dir.make_fixed_output_path(method, &h, name, &refs, self_ref)
                .ok()
        })
    } else {
        None
    };
    computed.as_ref() == Some(&info.path)
}

/// Whether `info` carries a signature by one of `keys`.
pub fn is_signed(dir: &StoreDir, info: &PathInfo, keys: &[String]) -> bool {
    let fp = fingerprint(dir, info);
    info.sigs.iter().any(|s| verify(&fp, s, keys))
}

/// A secret key as `nix-store --generate-binary-cache-key` writes it: `name:base64` of the
/// 64 bytes of an ed25519 key pair (the seed, then the public key).
pub struct SecretKey {
    pub name: String,
    key: ed25519_dalek::SigningKey,
}

impl SecretKey {
    /// Parses a secret key file's text.
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let text = text.trim();
        let (name, k64) = text
            .split_once(':')
            .filter(|(n, k)| !n.is_empty() && !k.is_empty())
            .ok_or(KeyError::Corrupt)?;
        let bytes = base64_decode(k64.as_bytes()).ok_or(KeyError::NotBase64)?;
        let key = match bytes.len() {
            64 => {
                let b = <[u8; 64]>::try_from(&bytes[..]).map_err(|_| KeyError::Corrupt)?;
                ed25519_dalek::SigningKey::from_keypair_bytes(&b).map_err(|_| KeyError::Corrupt)?
            }
            32 => {
                let b = <[u8; 32]>::try_from(&bytes[..]).map_err(|_| KeyError::Corrupt)?;
                ed25519_dalek::SigningKey::from_bytes(&b)
            }
            _ => return Err(KeyError::Corrupt),
        };
        Ok(SecretKey {
            name: name.to_string(),
            key,
        })
    }

    /// A new key from 32 random bytes.
    pub fn generate(name: &str, seed: [u8; 32]) -> SecretKey {
        SecretKey {
            name: name.to_string(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    /// The secret key file's text.
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            crate::hash::base64_encode(&self.key.to_keypair_bytes())
        )
    }

    /// The public key as `trusted-public-keys` takes it.
    pub fn public_text(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            crate::hash::base64_encode(self.key.verifying_key().as_bytes())
        )
    }

    /// The signature `name:base64` of `data`.
    pub fn sign(&self, data: &str) -> String {
        use ed25519_dalek::Signer;
        format!(
            "{}:{}",
            self.name,
            crate::hash::base64_encode(&self.key.sign(data.as_bytes()).to_bytes())
        )
    }

    /// The signature of `info`'s fingerprint.
    pub fn sign_info(&self, dir: &StoreDir, info: &PathInfo) -> String {
        self.sign(&fingerprint(dir, info))
    }
}

/// Reads the keys of `secret-key-files`.
pub fn read_secret_keys(files: &[String]) -> Result<Vec<SecretKey>, KeyError> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|source| KeyError::Open {
                file: f.clone(),
                source,
            })?;
            SecretKey::parse(&text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::StorePath;
    use ed25519_dalek::Signer;

    #[test]
    fn signatures_verify_only_with_the_right_key_and_data() {
        let dir = StoreDir::default();
        let p = StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello").unwrap();
        let info = PathInfo::new(p, Hash::sha256(b"nar"), 3);
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let key = format!(
            "test-1:{}",
            crate::hash::base64_encode(sk.verifying_key().as_bytes())
        );
        let sig = sk.sign(fingerprint(&dir, &info).as_bytes());
        let sig = format!("test-1:{}", crate::hash::base64_encode(&sig.to_bytes()));
        let mut signed = info.clone();
        signed.sigs = vec![sig.clone()];
        assert!(is_signed(&dir, &signed, std::slice::from_ref(&key)));
        // Another key name, another key, or changed data: refused.
        assert!(!is_signed(&dir, &signed, &[key.replace("test-1", "other")]));
        let mut changed = signed.clone();
        changed.nar_size = 4;
        assert!(!is_signed(&dir, &changed, std::slice::from_ref(&key)));
        assert!(!is_signed(&dir, &info, &[]));
        // The key file form signs the same way and reads back.
        let k = SecretKey::generate("test-1", [7u8; 32]);
        assert_eq!(k.public_text(), key);
        let back = SecretKey::parse(&k.to_text()).unwrap();
        let mut s2 = info.clone();
        s2.sigs = vec![back.sign_info(&dir, &info)];
        assert_eq!(s2.sigs[0], sig);
        let err = |text: &str| SecretKey::parse(text).err().map(|e| e.to_string());
        assert_eq!(
            err("x:!!").as_deref(),
            Some("secret key is not valid Base64")
        );
        assert_eq!(err("nocolon").as_deref(), Some("secret key is corrupt"));
        assert_eq!(err("x:AAAA").as_deref(), Some("secret key is corrupt"));
        let e = read_secret_keys(&["/nonexistent/key".to_string()])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("opening file '/nonexistent/key': No such file or directory")
        );
    }

    #[test]
    fn content_addressed_paths_are_recognised() {
        let dir = StoreDir::default();
        let h = Hash::sha256(b"hello world");
        let p = dir
            .make_text_path("hello", &h, &Default::default())
            .unwrap();
        let mut info = PathInfo::new(p, Hash::sha256(b"x"), 1);
        info.ca = Some(format!("text:sha256:{}", h.to_nix32()));
        assert!(is_content_addressed(&dir, &info));
        info.ca = Some(format!("text:sha256:{}", Hash::sha256(b"other").to_nix32()));
        assert!(!is_content_addressed(&dir, &info));
    }
}
