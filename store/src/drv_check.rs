//! Checking a `.drv` before the store accepts it (at `--add`, `--import`, registration) or
//! builds it: that its parts are what they claim to be (store paths, known hash algorithms,
//! well-formed hashes, a coherent set of outputs), and that its output paths are the ones
//! its contents give. A derivation whose output paths are forged would otherwise fill a
//! legitimate path with other content.
//!
//! The check is pure: the caller supplies the modulo hashes of the input derivations (which
//! it reads from the store) and gets the output paths to record.

use crate::derivation::Derivation;
use crate::hash::{Hash, HashAlgo};
use crate::path::{Ingestion, PathError, StoreDir, StorePath};
use crate::store::StoreError;
use std::collections::BTreeMap;

/// Why a derivation is refused. The messages are Nix 2.8's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrvError {
    /// A path field that is not absolute.
    #[error("error parsing derivation '{drv}': bad path '{path}' in derivation")]
    BadPath { drv: String, path: String },
    /// A path that is not a store path (an input, a source or an output).
    #[error(transparent)]
    Path(#[from] PathError),
    /// An output's hash algorithm that Nix does not know. Nix reports it as a usage error.
    #[error("unknown hash algorithm '{0}'")]
    UnknownAlgo(String),
    /// A fixed output's hash that does not parse for its algorithm.
    #[error("{0}")]
    BadHash(#[from] crate::hash::HashError),
    #[error("experimental Nix feature '{0}' is disabled; use '--extra-experimental-features {0}' to override")]
    Experimental(&'static str),
    #[error("must have at least one output")]
    NoOutputs,
    #[error("only one fixed output is allowed for now")]
    SeveralFixed,
    #[error("single fixed output must be named \"out\"")]
    FixedNotOut,
    #[error("can't mix derivation output types")]
    MixedTypes,
    #[error("all floating outputs must use the same hash type")]
    FloatingAlgos,
    #[error("derivation '{drv}' has incorrect output '{actual}', should be '{wanted}'")]
    IncorrectOutput {
        drv: String,
        actual: String,
        wanted: String,
    },
    #[error("derivation '{drv}' has incorrect environment variable '{var}', should be '{wanted}'")]
    IncorrectEnv {
        drv: String,
        var: String,
        wanted: String,
    },
}

impl DrvError {
    /// Whether Nix reports this as a usage error (followed by "Try '… --help'").
    pub fn is_usage(&self) -> bool {
        matches!(self, DrvError::UnknownAlgo(_))
    }
}

/// What one output of a derivation is.
enum Kind {
    /// Its path follows from the derivation's modulo hash.
    InputAddressed(StorePath),
    /// Its path follows from the expected hash of its content.
    Fixed(Ingestion, Hash),
    /// Input-addressed, path not yet known (left empty).
    Deferred,
    /// Content-addressed, its hash (and so its path) known only once built
    /// (`__contentAddressed`, the `ca-derivations` experimental feature).
    Floating(HashAlgo),
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `drv_path` without `.drv`: the name output paths are made from.
fn drv_name(drv_path: &StorePath) -> &str {
    let n = drv_path.name();
    n.strip_suffix(".drv").unwrap_or(n)
}

/// Checks the derivation `drv` stored at `drv_path`, in Nix 2.8's order: first what parsing
/// checks (paths, algorithms, hashes), then the kind of its outputs, then its output paths
/// and the environment variables naming them. `input_hash` gives the (unmasked) modulo
/// hash of an input derivation, given its full path. Returns the output paths to record,
/// by output name (floating outputs have none). `ca_derivations` is whether that
/// experimental feature is on: without it a floating output is refused, as Nix refuses to
/// parse one.
pub fn check(
    dir: &StoreDir,
    drv_path: &StorePath,
    drv: &Derivation,
    ca_derivations: bool,
    input_hash: &mut dyn FnMut(&[u8]) -> Result<Hash, StoreError>,
) -> Result<BTreeMap<String, StorePath>, StoreError> {
    let shown = dir.display(drv_path);
    let bad_path = |p: &[u8]| DrvError::BadPath {
        drv: shown.clone(),
        path: text(p),
    };
    // What parsing checks.
    let mut kinds = BTreeMap::new();
    for (name, o) in &drv.outputs {
        let kind = if !o.hash_algo.is_empty() {
            let (method, a) = o.ingestion().map_err(DrvError::UnknownAlgo)?;
            if o.hash == b"impure" {
                return Err(DrvError::Experimental("impure-derivations").into());
            }
            if o.hash.is_empty() {
                if !ca_derivations {
                    return Err(DrvError::Experimental("ca-derivations").into());
                }
                if !o.path.is_empty() {
                    return Err(bad_path(&o.path).into());
                }
                kinds.insert(text(name), Kind::Floating(a));
                continue;
            }
            if o.path.first() != Some(&b'/') {
                return Err(bad_path(&o.path).into());
            }
            let h = text(&o.hash);
            Kind::Fixed(method, Hash::parse_body(&h, &h, a).map_err(DrvError::from)?)
        } else if o.path.is_empty() {
            Kind::Deferred
        } else {
            if o.path.first() != Some(&b'/') {
                return Err(bad_path(&o.path).into());
            }
            Kind::InputAddressed(dir.parse_as_nix(&text(&o.path)).map_err(DrvError::from)?)
        };
        kinds.insert(text(name), kind);
    }
    for p in drv.input_drvs.keys().chain(&drv.input_srcs) {
        if p.first() != Some(&b'/') {
            return Err(bad_path(p).into());
        }
        dir.parse_as_nix(&text(p)).map_err(DrvError::from)?;
    }
    // The kind of the derivation.
    let count = |f: fn(&Kind) -> bool| kinds.values().filter(|k| f(k)).count();
    let ia = count(|k| matches!(k, Kind::InputAddressed(_)));
    let fixed = count(|k| matches!(k, Kind::Fixed(..)));
    let deferred = count(|k| matches!(k, Kind::Deferred));
    let floating = count(|k| matches!(k, Kind::Floating(..)));
    match (ia, fixed, deferred, floating) {
        (0, 0, 0, 0) => return Err(DrvError::NoOutputs.into()),
        (_, 0, 0, 0) | (0, 0, _, 0) => {}
        (0, 0, 0, _) => {
            let mut algos = kinds.values().filter_map(|k| match k {
                Kind::Floating(a) => Some(*a),
                _ => None,
            });
            let first = algos.next();
            if algos.any(|a| Some(a) != first) {
                return Err(DrvError::FloatingAlgos.into());
            }
        }
        (0, 1, 0, 0) if kinds.contains_key("out") => {}
        (0, 1, 0, 0) => return Err(DrvError::FixedNotOut.into()),
        (0, _, 0, 0) => return Err(DrvError::SeveralFixed.into()),
        _ => return Err(DrvError::MixedTypes.into()),
    }
    // The output paths.
    let name = drv_name(drv_path);
    let env_names = |var: &str, actual: &StorePath| -> Result<(), StoreError> {
        // A value that is no store path is that error, as in Nix.
        let named = match drv.env.get(var.as_bytes()) {
            Some(v) => Some(dir.parse_as_nix(&text(v)).map_err(DrvError::from)?),
            None => None,
        };
        if named.as_ref() == Some(actual) {
            Ok(())
        } else {
            Err(DrvError::IncorrectEnv {
                drv: shown.clone(),
                var: var.to_string(),
                wanted: dir.display(actual),
            }
            .into())
        }
    };
    let mut masked: Option<Hash> = None;
    let mut out = BTreeMap::new();
    for (output, kind) in &kinds {
        match kind {
            Kind::InputAddressed(actual) => {
                let h = match &masked {
                    Some(h) => h.clone(),
                    None => {
                        let h = drv.hash_modulo(true, input_hash)?;
                        masked = Some(h.clone());
                        h
                    }
                };
                let wanted = dir.make_output_path(output, &h, name)?;
                if *actual != wanted {
                    return Err(DrvError::IncorrectOutput {
                        drv: shown.clone(),
                        actual: dir.display(actual),
                        wanted: dir.display(&wanted),
                    }
                    .into());
                }
                env_names(output, actual)?;
                out.insert(output.clone(), wanted);
            }
            Kind::Fixed(method, hash) => {
                let wanted =
                    dir.make_fixed_output_path(*method, hash, name, &Default::default(), false)?;
                env_names(output, &wanted)?;
                // Nix takes a fixed output's path from its hash and ignores the recorded
                // one; Ferrix builds into the recorded one, so it must be the same.
                let recorded = drv.outputs[output.as_bytes()].path.as_slice();
                if recorded != dir.display(&wanted).as_bytes() {
                    return Err(DrvError::IncorrectOutput {
                        drv: shown.clone(),
                        actual: text(recorded),
                        wanted: dir.display(&wanted),
                    }
                    .into());
                }
                out.insert(output.clone(), wanted);
            }
            Kind::Deferred | Kind::Floating(..) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derivation::Output;

    fn no_inputs(_: &[u8]) -> Result<Hash, StoreError> {
        Err(StoreError::Other("no inputs here".into()))
    }

    /// An input-addressed derivation with correct paths, as instantiation makes it.
    fn legit(dir: &StoreDir, script: &str) -> (StorePath, Derivation) {
        let mut d = Derivation::default();
        d.outputs.insert(b"out".to_vec(), Output::default());
        d.env.insert(b"out".to_vec(), Vec::new());
        d.platform = b"x86_64-linux".to_vec();
        d.builder = b"/bin/sh".to_vec();
        d.args = vec![b"-c".to_vec(), script.as_bytes().to_vec()];
        let h = d.hash_modulo(true, &mut no_inputs).unwrap();
        let p = dir.display(&dir.make_output_path("out", &h, "v").unwrap());
        d.outputs.get_mut(&b"out"[..]).unwrap().path = p.clone().into_bytes();
        d.env.insert(b"out".to_vec(), p.into_bytes());
        let drv_path = dir
            .make_text_path(
                "v.drv",
                &Hash::sha256(&d.unparse(false)),
                &Default::default(),
            )
            .unwrap();
        (drv_path, d)
    }

    #[test]
    fn floating_outputs_need_the_feature_and_one_algorithm() {
        let dir = StoreDir::default();
        let (p, mut d) = legit(&dir, "echo ca > $out");
        let floating = |algo: &str| Output {
            path: Vec::new(),
            hash_algo: algo.as_bytes().to_vec(),
            hash: Vec::new(),
        };
        d.outputs.insert(b"out".to_vec(), floating("r:sha256"));
        let e = check(&dir, &p, &d, false, &mut no_inputs).unwrap_err();
        assert!(
            e.to_string()
                .contains("experimental Nix feature 'ca-derivations' is disabled"),
            "{e}"
        );
        // With the feature: accepted, and no output path is recorded.
        assert!(check(&dir, &p, &d, true, &mut no_inputs)
            .unwrap()
            .is_empty());
        d.outputs.insert(b"dev".to_vec(), floating("r:sha1"));
        let e = check(&dir, &p, &d, true, &mut no_inputs).unwrap_err();
        assert_eq!(
            e.to_string(),
            "all floating outputs must use the same hash type"
        );
        d.outputs.insert(b"dev".to_vec(), floating("sha256"));
        assert!(check(&dir, &p, &d, true, &mut no_inputs).is_ok());
        // Mixed with an input-addressed output: refused.
        let (_, ia) = legit(&dir, "x");
        d.outputs
            .insert(b"dev".to_vec(), ia.outputs[&b"out"[..]].clone());
        let e = check(&dir, &p, &d, true, &mut no_inputs).unwrap_err();
        assert_eq!(e.to_string(), "can't mix derivation output types");
        // A floating output with a path is malformed.
        let mut bad = floating("r:sha256");
        bad.path = b"/nix/store/x".to_vec();
        d.outputs.insert(b"dev".to_vec(), bad);
        assert!(check(&dir, &p, &d, true, &mut no_inputs).is_err());
    }

    #[test]
    fn accepts_legit_and_refuses_forged() {
        let dir = StoreDir::default();
        let (p, d) = legit(&dir, "echo legit > $out");
        let outs = check(&dir, &p, &d, false, &mut no_inputs).unwrap();
        assert_eq!(outs.len(), 1);
        // The same output path with another script: forged.
        let mut forged = d.clone();
        forged.args[1] = b"echo evil > $out".to_vec();
        let e = check(&dir, &p, &forged, false, &mut no_inputs).unwrap_err();
        assert!(e.to_string().contains("has incorrect output"), "{e}");
        // A right output path but a wrong variable.
        let mut env = d.clone();
        env.env.insert(
            b"out".to_vec(),
            b"/nix/store/vjy2vjk0kyviqk7gnyxg87403bjyiq39-v".to_vec(),
        );
        let e = check(&dir, &p, &env, false, &mut no_inputs).unwrap_err();
        assert!(
            e.to_string()
                .contains("incorrect environment variable 'out'"),
            "{e}"
        );
    }

    #[test]
    fn refuses_malformed_parts() {
        let dir = StoreDir::default();
        let (p, d) = legit(&dir, "true");
        let mut src = d.clone();
        src.input_srcs.insert(b"/tmp/foo".to_vec());
        assert_eq!(
            check(&dir, &p, &src, false, &mut no_inputs)
                .unwrap_err()
                .to_string(),
            "path '/tmp/foo' is not in the Nix store"
        );
        let mut fixed = Derivation::default();
        fixed.outputs.insert(
            b"out".to_vec(),
            Output {
                path: b"/nix/store/vjy2vjk0kyviqk7gnyxg87403bjyiq39-fo".to_vec(),
                hash_algo: b"foo".to_vec(),
                hash: b"abcd".to_vec(),
            },
        );
        let e = check(&dir, &p, &fixed, false, &mut no_inputs).unwrap_err();
        assert_eq!(e.to_string(), "unknown hash algorithm 'foo'");
        assert!(matches!(e, StoreError::Derivation(ref d) if d.is_usage()));
        fixed.outputs.get_mut(&b"out"[..]).unwrap().hash_algo = b"sha256".to_vec();
        assert_eq!(
            check(&dir, &p, &fixed, false, &mut no_inputs)
                .unwrap_err()
                .to_string(),
            "hash 'abcd' has wrong length for hash type 'sha256'"
        );
        let mut none = d.clone();
        none.outputs.clear();
        assert_eq!(
            check(&dir, &p, &none, false, &mut no_inputs)
                .unwrap_err()
                .to_string(),
            "must have at least one output"
        );
        let mut missing = d.clone();
        missing.input_drvs.insert(
            b"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-missing.drv".to_vec(),
            Default::default(),
        );
        assert_eq!(
            check(&dir, &p, &missing, false, &mut no_inputs)
                .unwrap_err()
                .to_string(),
            "no inputs here"
        );
    }
}
