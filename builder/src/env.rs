//! The environment of a builder, as Nix 2.8 sets it up: the derivation's variables (or,
//! with `__structuredAttrs`, the files `.attrs.json` and `.attrs.sh`), `passAsFile`
//! variables as files in the build directory, and Nix's own variables.

use ferrix_store::derivation::Derivation;
use ferrix_store::hash::Hash;
use ferrix_store::path::StorePath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the builder's environment could not be made. The texts are Nix's.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// `__json` is not JSON.
    #[error("cannot process __json attribute: {0}")]
    BadJson(serde_json::Error),
    #[error("cannot process __json attribute: not an object")]
    JsonNotObject,
    /// An `exportReferencesGraph` entry (with structured attributes) is not a string.
    #[error("exportReferencesGraph entries must be store paths")]
    GraphEntryNotPath,
    /// `exportReferencesGraph` is not a list of name/path pairs.
    #[error("odd number of tokens in 'exportReferencesGraph'")]
    OddGraphTokens,
    #[error("invalid file name '{name}' in 'exportReferencesGraph'")]
    BadGraphFileName { name: String },
    /// `exportReferencesGraph` names a path outside the input closure.
    #[error(
        "cannot export references of path '{path}' because it is not in the input closure of the derivation"
    )]
    NotInInputClosure { path: String },
    /// The attributes could not be written as JSON.
    #[error("{0}")]
    WriteJson(serde_json::Error),
    #[error(transparent)]
    Path(#[from] ferrix_store::path::PathError),
    #[error(transparent)]
    Store(#[from] ferrix_store::store::StoreError),
}

/// What the builder gets: variables, and files to write into the build directory first.
pub struct BuildEnv {
    pub vars: BTreeMap<Vec<u8>, Vec<u8>>,
    /// File name inside the build directory → contents.
    pub files: Vec<(String, Vec<u8>)>,
}

/// What the environment depends on besides the derivation.
pub struct EnvParams<'a> {
    pub store_dir: &'a str,
    pub cores: u64,
    /// The build directory as the builder sees it (`/build` in the sandbox).
    pub build_dir: &'a str,
    pub output_paths: &'a BTreeMap<String, StorePath>,
    /// The store and the derivation's input closure, for `exportReferencesGraph` with
    /// structured attributes.
    pub store: &'a ferrix_store::local::LocalStore,
    pub inputs: &'a std::collections::BTreeSet<StorePath>,
}

fn set(vars: &mut BTreeMap<Vec<u8>, Vec<u8>>, k: &str, v: impl AsRef<[u8]>) {
    vars.insert(k.as_bytes().to_vec(), v.as_ref().to_vec());
}

/// Builds the environment of `drv`.
pub fn build_env(drv: &Derivation, p: &EnvParams<'_>) -> Result<BuildEnv, EnvError> {
    let mut vars = BTreeMap::new();
    let mut files = Vec::new();
    // Shells fill in a default PATH when there is none; a dummy keeps builds honest.
    set(&mut vars, "PATH", "/path-not-set");
    // A home directory that does not exist keeps tools from reading the user's settings.
    set(&mut vars, "HOME", "/homeless-shelter");
    set(&mut vars, "NIX_STORE", p.store_dir);
    set(&mut vars, "NIX_BUILD_CORES", p.cores.to_string());
    let structured = drv.env.get(&b"__json"[..]);
    match structured {
        None => {
            let pass_as_file: Vec<&[u8]> = drv
                .env
                .get(&b"passAsFile"[..])
                .map(|v| {
                    v.split(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                        .filter(|w| !w.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            for (k, v) in &drv.env {
                if pass_as_file.contains(&k.as_slice()) {
                    let name = format!(".attr-{}", Hash::sha256(k).to_nix32());
                    let mut var = k.clone();
                    var.extend_from_slice(b"Path");
                    vars.insert(var, format!("{}/{name}", p.build_dir).into_bytes());
                    files.push((name, v.clone()));
                } else {
                    vars.insert(k.clone(), v.clone());
                }
            }
        }
        Some(json) => {
            let (attrs_json, attrs_sh) = structured_attrs(json, p)?;
            files.push((".attrs.json".into(), attrs_json));
            files.push((".attrs.sh".into(), attrs_sh));
            set(
                &mut vars,
                "NIX_ATTRS_JSON_FILE",
                format!("{}/.attrs.json", p.build_dir),
            );
            set(
                &mut vars,
                "NIX_ATTRS_SH_FILE",
                format!("{}/.attrs.sh", p.build_dir),
            );
        }
    }
    set(&mut vars, "NIX_BUILD_TOP", p.build_dir);
    for k in ["TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"] {
        set(&mut vars, k, p.build_dir);
    }
    if drv.is_fixed_output() {
        // Old fetchurl skips its own hash check when it sees this.
        set(&mut vars, "NIX_OUTPUT_CHECKED", "1");
        // Only fixed outputs may see the caller's proxy settings and the like.
        let impure = if let Some(json) = structured {
            serde_json::from_slice::<serde_json::Value>(json)
                .ok()
                .and_then(|v| {
                    v.get("impureEnvVars").and_then(|l| l.as_array()).map(|l| {
                        l.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect::<Vec<_>>()
                    })
                })
                .unwrap_or_default()
        } else {
            drv.env
                .get(&b"impureEnvVars"[..])
                .map(|v| {
                    String::from_utf8_lossy(v)
                        .split_whitespace()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        for name in impure {
            let v = std::env::var_os(&name).unwrap_or_default();
            set(
                &mut vars,
                &name,
                std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()),
            );
        }
    }
    set(&mut vars, "NIX_LOG_FD", "2");
    set(&mut vars, "TERM", "xterm-256color");
    Ok(BuildEnv { vars, files })
}

/// `.attrs.json` and `.attrs.sh` for a `__structuredAttrs` derivation.
/// Each output is named by its placeholder, which the builder's set-up rewrites to the
/// path it is built at; each `exportReferencesGraph` entry becomes the path infos of the
/// closure it names.
fn structured_attrs(json: &[u8], p: &EnvParams<'_>) -> Result<(Vec<u8>, Vec<u8>), EnvError> {
    let mut v: serde_json::Value = serde_json::from_slice(json).map_err(EnvError::BadJson)?;
    let obj = v.as_object_mut().ok_or(EnvError::JsonNotObject)?;
    let mut outs = serde_json::Map::new();
    for name in p.output_paths.keys() {
        outs.insert(
            name.clone(),
            serde_json::Value::String(ferrix_store::derivation::hash_placeholder(name.as_bytes())),
        );
    }
    obj.insert("outputs".into(), serde_json::Value::Object(outs));
    if let Some(serde_json::Value::Object(graphs)) = obj.get("exportReferencesGraph").cloned() {
        for (key, paths) in graphs {
            let mut roots = Vec::new();
            let items: Vec<serde_json::Value> = match paths {
                serde_json::Value::Array(a) => a,
                other => vec![other],
            };
            for item in items {
                let s = item.as_str().ok_or(EnvError::GraphEntryNotPath)?;
                roots.push(s.to_owned());
            }
            let mut closure = std::collections::BTreeSet::new();
            for r in &roots {
                closure.extend(export_closure(p.store, r, p.inputs)?);
            }
            let mut list = Vec::new();
            for q in &closure {
                let info = p.store.query_path_info(q)?;
                let mut o = serde_json::Map::new();
                o.insert("path".into(), p.store.print(q).into());
                o.insert(
                    "narHash".into(),
                    format!("sha256:{}", info.nar_hash.to_nix32()).into(),
                );
                o.insert("narSize".into(), info.nar_size.into());
                o.insert(
                    "references".into(),
                    info.references
                        .iter()
                        .map(|r| serde_json::Value::from(p.store.print(r)))
                        .collect::<Vec<_>>()
                        .into(),
                );
                if let Some(ca) = &info.ca {
                    o.insert("ca".into(), ca.clone().into());
                }
                let mut size = 0u64;
                for c in p.store.closure(&[q.clone()].into(), false, false)? {
                    size += p.store.query_path_info(&c)?.nar_size;
                }
                o.insert("closureSize".into(), size.into());
                list.push(serde_json::Value::Object(o));
            }
            obj.insert(key, serde_json::Value::Array(list));
        }
    }
    let sh = attrs_shell(obj);
    let text = serde_json::to_vec(&v).map_err(EnvError::WriteJson)?;
    Ok((text, sh))
}

/// Single-quotes `s` for the shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A scalar as the shell sees it: strings as they are, numbers in decimal, `true` as 1,
/// `false` and `null` as the empty string. Other values have no shell form.
fn shell_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(shell_quote(s)),
        // Integers, and floats with an integral value (written as integers); Nix leaves
        // other floats out.
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(i.to_string()),
            (None, Some(u), _) => Some(u.to_string()),
            (None, None, Some(f)) if f.is_finite() && f.ceil() == f => Some((f as i64).to_string()),
            _ => None,
        },
        serde_json::Value::Bool(true) => Some("1".into()),
        serde_json::Value::Bool(false) => Some(String::new()),
        serde_json::Value::Null => Some("''".into()),
        _ => None,
    }
}

fn is_shell_name(k: &str) -> bool {
    let mut cs = k.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `.attrs.sh`: a `declare` for each attribute with a shell form (scalars, lists of
/// scalars as arrays, sets of scalars as associative arrays).
fn attrs_shell(obj: &serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    let mut out = String::new();
    for (k, v) in obj {
        if !is_shell_name(k) {
            continue;
        }
        if let Some(s) = shell_scalar(v) {
            out.push_str(&format!("declare {k}={s}\n"));
            continue;
        }
        match v {
            serde_json::Value::Array(items) => {
                let parts: Option<Vec<String>> = items.iter().map(shell_scalar).collect();
                if let Some(parts) = parts {
                    out.push_str(&format!("declare -a {k}=("));
                    for p in parts {
                        out.push_str(&p);
                        out.push(' ');
                    }
                    out.push_str(")\n");
                }
            }
            serde_json::Value::Object(m) => {
                let parts: Option<Vec<(String, String)>> = m
                    .iter()
                    .map(|(n, x)| shell_scalar(x).map(|s| (shell_quote(n), s)))
                    .collect();
                if let Some(parts) = parts {
                    out.push_str(&format!("declare -A {k}=("));
                    for (n, s) in parts {
                        out.push_str(&format!("[{n}]={s} "));
                    }
                    out.push_str(")\n");
                }
            }
            _ => {}
        }
    }
    out.into_bytes()
}

/// `exportReferencesGraph = [ name1 path1 ... ]` (without structured attributes): a file
/// `name` in the build directory for each pair, listing the closure of `path` (and of the
/// outputs of derivations in it) as `nix-store --register-validity` reads it.
pub fn export_references_graph(
    drv: &Derivation,
    store: &ferrix_store::local::LocalStore,
    inputs: &std::collections::BTreeSet<StorePath>,
) -> Result<Vec<(String, Vec<u8>)>, EnvError> {
    if drv.env.contains_key(&b"__json"[..]) {
        return Ok(Vec::new());
    }
    let Some(v) = drv.env.get(&b"exportReferencesGraph"[..]) else {
        return Ok(Vec::new());
    };
    let words: Vec<String> = String::from_utf8_lossy(v)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !words.len().is_multiple_of(2) {
        return Err(EnvError::OddGraphTokens);
    }
    let mut files = Vec::new();
    for pair in words.chunks(2) {
        let (name, path) = (&pair[0], &pair[1]);
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        {
            return Err(EnvError::BadGraphFileName { name: name.clone() });
        }
        let paths = export_closure(store, path, inputs)?;
        let mut text = String::new();
        for q in &paths {
            let info = store.query_path_info(q)?;
            text.push_str(&format!(
                "{}\n\n{}\n",
                store.print(q),
                info.references.len()
            ));
            for r in &info.references {
                text.push_str(&store.print(r));
                text.push('\n');
            }
        }
        files.push((name.clone(), text.into_bytes()));
    }
    Ok(files)
}

/// Writes the environment's files into the build directory `dir` (on the host).
pub fn write_files(env: &BuildEnv, dir: &Path) -> Result<Vec<PathBuf>, crate::IoError> {
    let mut written = Vec::new();
    for (name, data) in &env.files {
        let p = dir.join(name);
        std::fs::write(&p, data).map_err(|e| crate::IoError::new("writing file", &p, e))?;
        written.push(p);
    }
    Ok(written)
}

/// The paths `exportReferencesGraph` exports for `path`: its closure, with the closures of
/// the valid outputs of the derivations in it. `path` must be in the input closure.
fn export_closure(
    store: &ferrix_store::local::LocalStore,
    path: &str,
    inputs: &std::collections::BTreeSet<StorePath>,
) -> Result<std::collections::BTreeSet<StorePath>, EnvError> {
    use ferrix_store::store::Store;
    let p = store.dir().split(path)?.0;
    if !inputs.contains(&p) {
        return Err(EnvError::NotInInputClosure {
            path: path.to_string(),
        });
    }
    let mut paths = store.closure(&[p].into(), false, false)?;
    let drvs: Vec<StorePath> = paths
        .iter()
        .filter(|q| q.is_derivation())
        .cloned()
        .collect();
    for d in drvs {
        let outs: std::collections::BTreeSet<StorePath> = store
            .derivation_output_paths(&d)?
            .into_values()
            .filter(|o| store.is_valid(o).unwrap_or(false))
            .collect();
        paths.extend(store.closure(&outs, false, false)?);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_form() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"a":"it's","b":[1,"x"],"c":{"k":true},"d":[[1]],"bad-name":1,"e":null}"#,
        )
        .unwrap();
        let sh = String::from_utf8(attrs_shell(v.as_object().unwrap())).unwrap();
        assert_eq!(
            sh,
            "declare a='it'\\''s'\ndeclare -a b=(1 'x' )\ndeclare -A c=(['k']=1 )\ndeclare e=''\n"
        );
    }
}
