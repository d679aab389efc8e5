//! A derivation without its input derivations, as `BuildDerivation` sends it: the outputs
//! (name, path or empty, hash algorithm or empty, hash or empty), the input sources, the
//! platform, the builder, the arguments and the environment.

use crate::codec::{
    read_bytes, read_bytes_list, read_count, read_opt_path, read_path_set, read_string,
    write_bytes, write_bytes_list, write_opt_path, write_paths, write_string, write_u64,
};
use crate::error::Result;
use ferrix_store::derivation::{Derivation, Output};
use ferrix_store::path::{StoreDir, StorePath};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

/// One output of a [`BasicDerivation`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DerivationOutput {
    /// Its path; none for floating content-addressed and deferred outputs.
    pub path: Option<StorePath>,
    /// `r:sha256`, `sha1`…; empty for input-addressed outputs.
    pub hash_algo: String,
    /// The expected hash in base 16 for fixed outputs, `impure` for impure ones, else empty.
    pub hash: String,
}

/// A derivation as `BuildDerivation` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicDerivation {
    pub outputs: BTreeMap<String, DerivationOutput>,
    pub input_srcs: BTreeSet<StorePath>,
    pub platform: Vec<u8>,
    pub builder: Vec<u8>,
    pub args: Vec<Vec<u8>>,
    pub env: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl BasicDerivation {
    pub fn read<R: Read + ?Sized>(r: &mut R, dir: &StoreDir) -> Result<BasicDerivation> {
        let mut outputs = BTreeMap::new();
        for _ in 0..read_count(r)? {
            let name = read_string(r, "output name")?;
            let out = DerivationOutput {
                path: read_opt_path(r, dir)?,
                hash_algo: read_string(r, "output hash algorithm")?,
                hash: read_string(r, "output hash")?,
            };
            outputs.insert(name, out);
        }
        let input_srcs = read_path_set(r, dir)?;
        let platform = read_bytes(r)?;
        let builder = read_bytes(r)?;
        let args = read_bytes_list(r)?;
        let mut env = BTreeMap::new();
        for _ in 0..read_count(r)? {
            let k = read_bytes(r)?;
            let v = read_bytes(r)?;
            env.insert(k, v);
        }
        Ok(BasicDerivation {
            outputs,
            input_srcs,
            platform,
            builder,
            args,
            env,
        })
    }

    pub fn write<W: Write + ?Sized>(&self, w: &mut W, dir: &StoreDir) -> Result<()> {
        write_u64(w, self.outputs.len() as u64)?;
        for (name, out) in &self.outputs {
            write_string(w, name)?;
            write_opt_path(w, dir, out.path.as_ref())?;
            write_string(w, &out.hash_algo)?;
            write_string(w, &out.hash)?;
        }
        write_paths(w, dir, &self.input_srcs)?;
        write_bytes(w, &self.platform)?;
        write_bytes(w, &self.builder)?;
        write_bytes_list(w, &self.args)?;
        write_u64(w, self.env.len() as u64)?;
        for (k, v) in &self.env {
            write_bytes(w, k)?;
            write_bytes(w, v)?;
        }
        Ok(())
    }

    /// The store's derivation with these fields and no input derivations.
    pub fn to_derivation(&self, dir: &StoreDir) -> Derivation {
        Derivation {
            outputs: self
                .outputs
                .iter()
                .map(|(name, o)| {
                    let out = Output {
                        path: o
                            .path
                            .as_ref()
                            .map(|p| dir.display(p).into_bytes())
                            .unwrap_or_default(),
                        hash_algo: o.hash_algo.clone().into_bytes(),
                        hash: o.hash.clone().into_bytes(),
                    };
                    (name.clone().into_bytes(), out)
                })
                .collect(),
            input_drvs: BTreeMap::new(),
            input_srcs: self
                .input_srcs
                .iter()
                .map(|p| dir.display(p).into_bytes())
                .collect(),
            platform: self.platform.clone(),
            builder: self.builder.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
        }
    }

    /// The basic part of a store derivation (its input derivations left out).
    pub fn from_derivation(drv: &Derivation, dir: &StoreDir) -> Result<BasicDerivation> {
        let text = |b: &[u8], what| {
            String::from_utf8(b.to_vec()).map_err(|_| crate::WireError::NotUtf8 { what })
        };
        let path = |b: &[u8]| -> Result<Option<StorePath>> {
            if b.is_empty() {
                Ok(None)
            } else {
                Ok(Some(dir.parse_as_nix(&text(b, "store path")?)?))
            }
        };
        let mut outputs = BTreeMap::new();
        for (name, o) in &drv.outputs {
            outputs.insert(
                text(name, "output name")?,
                DerivationOutput {
                    path: path(&o.path)?,
                    hash_algo: text(&o.hash_algo, "output hash algorithm")?,
                    hash: text(&o.hash, "output hash")?,
                },
            );
        }
        let mut input_srcs = BTreeSet::new();
        for p in &drv.input_srcs {
            if let Some(p) = path(p)? {
                input_srcs.insert(p);
            }
        }
        Ok(BasicDerivation {
            outputs,
            input_srcs,
            platform: drv.platform.clone(),
            builder: drv.builder.clone(),
            args: drv.args.clone(),
            env: drv.env.clone(),
        })
    }
}
