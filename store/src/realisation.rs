//! Realisations (the `ca-derivations` experimental feature): which store path one output of
//! a derivation was built into, named by the derivation's modulo hash and the output's name
//! (`sha256:<base 16>!out`). Nix passes them as JSON text, with the path's base name.

use crate::hash::Hash;
use crate::path::StorePath;
use std::collections::{BTreeMap, BTreeSet};

/// Why a realisation's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealisationError {
    #[error("Invalid derivation output id {0}")]
    BadId(String),
    #[error("Drv output info file '{0}' is corrupt: {1}")]
    Corrupt(String, String),
}

/// One output of one derivation: `<algo>:<base 16 hash>!<output name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DrvOutput {
    pub drv_hash: Hash,
    pub output: String,
}

impl DrvOutput {
    pub fn parse(text: &str) -> Result<DrvOutput, RealisationError> {
        let bad = || RealisationError::BadId(text.to_string());
        let (hash, output) = text.split_once('!').ok_or_else(bad)?;
        if !hash.contains(':') {
            return Err(bad());
        }
        let drv_hash = Hash::parse_any(hash, None).map_err(|_| bad())?;
        Ok(DrvOutput {
            drv_hash,
            output: output.to_string(),
        })
    }
}

impl std::fmt::Display for DrvOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}!{}",
            self.drv_hash.algo,
            self.drv_hash.to_base16(),
            self.output
        )
    }
}

/// An output built (or substituted) at `out_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realisation {
    pub id: DrvOutput,
    pub out_path: StorePath,
    pub signatures: BTreeSet<String>,
    /// The realisations of the inputs it was built from.
    pub dependent: BTreeMap<DrvOutput, StorePath>,
}

impl Realisation {
    pub fn new(id: DrvOutput, out_path: StorePath) -> Realisation {
        Realisation {
            id,
            out_path,
            signatures: BTreeSet::new(),
            dependent: BTreeMap::new(),
        }
    }

    fn json(&self, with_signatures: bool) -> serde_json::Value {
        let deps: serde_json::Map<String, serde_json::Value> = self
            .dependent
            .iter()
            .map(|(k, v)| (k.to_string(), v.base_name().into()))
            .collect();
        let mut m = serde_json::Map::new();
        m.insert("dependentRealisations".into(), deps.into());
        m.insert("id".into(), self.id.to_string().into());
        m.insert("outPath".into(), self.out_path.base_name().into());
        if with_signatures {
            let sigs: Vec<serde_json::Value> =
                self.signatures.iter().map(|s| s.as_str().into()).collect();
            m.insert("signatures".into(), sigs.into());
        }
        serde_json::Value::Object(m)
    }

    /// The JSON text Nix sends (keys in order, no spaces).
    pub fn to_json(&self) -> String {
        self.json(true).to_string()
    }

    /// What a signature of it covers: the JSON without the signatures.
    pub fn fingerprint(&self) -> String {
        self.json(false).to_string()
    }

    /// Parses the JSON text; `whence` names it in errors.
    pub fn from_json(text: &str, whence: &str) -> Result<Realisation, RealisationError> {
        let corrupt = |why: String| RealisationError::Corrupt(whence.to_string(), why);
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        let field = |name: &str| -> Result<&str, RealisationError> {
            v.get(name)
                .and_then(|f| f.as_str())
                .ok_or_else(|| corrupt(format!("missing field {name}")))
        };
        let id = DrvOutput::parse(field("id")?)?;
        let path = |s: &str| StorePath::from_base_name(s).map_err(|e| corrupt(e.to_string()));
        let out_path = path(field("outPath")?)?;
        let mut signatures = BTreeSet::new();
        if let Some(sigs) = v.get("signatures") {
            let list = sigs
                .as_array()
                .ok_or_else(|| corrupt("signatures is not a list".into()))?;
            for s in list {
                let s = s
                    .as_str()
                    .ok_or_else(|| corrupt("a signature is not a string".into()))?;
                signatures.insert(s.to_string());
            }
        }
        let mut dependent = BTreeMap::new();
        if let Some(deps) = v.get("dependentRealisations") {
            let m = deps
                .as_object()
                .ok_or_else(|| corrupt("dependentRealisations is not an object".into()))?;
            for (k, p) in m {
                let p = p
                    .as_str()
                    .ok_or_else(|| corrupt("a dependent realisation is not a path".into()))?;
                dependent.insert(DrvOutput::parse(k)?, path(p)?);
            }
        }
        Ok(Realisation {
            id,
            out_path,
            signatures,
            dependent,
        })
    }
}

/// The hash of `data` modulo `modulus` (a store path's hash part), as content-addressed
/// outputs that refer to themselves are hashed: every occurrence of `modulus` (left to
/// right, not overlapping) counts as zero bytes, and the offsets of the occurrences are
/// hashed after the data as `|<offset>`, so that zeros already there hash differently.
pub fn hash_modulo(algo: crate::hash::HashAlgo, data: &[u8], modulus: &[u8]) -> Hash {
    let mut h = crate::hash::Hasher::new(algo);
    let mut offsets = Vec::new();
    let mut last = 0;
    if !modulus.is_empty() {
        let zeros = vec![0u8; modulus.len()];
        for i in memchr::memmem::find_iter(data, modulus) {
            if i < last {
                continue;
            }
            h.update(&data[last..i]);
            h.update(&zeros);
            offsets.push(i);
            last = i + modulus.len();
        }
    }
    h.update(&data[last..]);
    for o in offsets {
        h.update(format!("|{o}").as_bytes());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashAlgo;

    #[test]
    fn json_round_trip_and_order() {
        let id = DrvOutput {
            drv_hash: Hash::sha256(b"drv"),
            output: "out".into(),
        };
        let p = StorePath::from_base_name("7rjj86a15146cq1d3qy068lml7n8ykzm-hello").unwrap();
        let mut r = Realisation::new(id.clone(), p);
        let text = r.to_json();
        assert_eq!(
            text,
            format!(
                "{{\"dependentRealisations\":{{}},\"id\":\"sha256:{}!out\",\"outPath\":\"7rjj86a15146cq1d3qy068lml7n8ykzm-hello\",\"signatures\":[]}}",
                Hash::sha256(b"drv").to_base16()
            )
        );
        r.signatures.insert("k:sig".into());
        r.dependent.insert(id, r.out_path.clone());
        assert_eq!(Realisation::from_json(&r.to_json(), "t").unwrap(), r);
        assert!(!r.fingerprint().contains("signatures"));
        for bad in ["", "{}", "{\"id\":\"nohash!out\",\"outPath\":\"x\"}", "[1]"] {
            assert!(Realisation::from_json(bad, "t").is_err(), "{bad}");
        }
        assert!(DrvOutput::parse("sha256:abc").is_err());
    }

    #[test]
    fn modulo_hash_counts_occurrences_as_zeros_with_offsets() {
        let m = b"abcd";
        // No occurrence: the plain hash.
        assert_eq!(
            hash_modulo(HashAlgo::Sha256, b"xyz", m),
            Hash::sha256(b"xyz")
        );
        // Occurrences become zeros and their offsets follow.
        assert_eq!(
            hash_modulo(HashAlgo::Sha256, b"xabcdyabcd", m),
            Hash::sha256(b"x\0\0\0\0y\0\0\0\0|1|6")
        );
        // So data with zeros already there hashes differently.
        assert_ne!(
            hash_modulo(HashAlgo::Sha256, b"x\0\0\0\0", m),
            hash_modulo(HashAlgo::Sha256, b"xabcd", m)
        );
    }
}
