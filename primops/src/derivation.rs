//! `derivationStrict`, which turns a set of attributes into a `.drv` in the store, and the
//! Nix-language parts Nix ships with it: the `derivation` wrapper and `<nix/fetchurl.nix>`.

use crate::builtin::{plain, Builtin};
use crate::json::value_to_json;
use crate::store_session::StoreSession;
use crate::util::*;
use ferrix_eval::error::{EvalError, EvalResult};
use ferrix_eval::value::*;
use ferrix_eval::{Evaluator, Pos};
use ferrix_store::derivation::{Derivation, Output, Tail};
use ferrix_store::path::Ingestion;
use ferrix_store::store::StoreError;
use ferrix_store::{Hash, HashAlgo, StorePath};
use std::collections::BTreeSet;

pub static BUILTINS: &[Builtin] = &[plain(PrimOp {
    name: "derivationStrict",
    arity: 1,
    transient: ferrix_eval::value::Transient::NONE,
    func: derivation_strict,
    doc: "derivationStrict attrs

The strict core of `derivation`: writes the `.drv` file for `attrs` to the store and
returns a set holding its path (`drvPath`) and the path of each output.",
})];

/// `derivation`: calls `derivationStrict` only when a path is first needed, and gives every
/// output its own set that holds all the others.
pub const DERIVATION_NIX: &str = r#"
# Ferrix's `derivation`. Errors in the call below are reported at line 9, column 12, where
# Nix 2.8 reports them, since nixpkgs users grep for that position.
attrs@{ outputs ? [ "out" ], ... }:

let
  # One set per output; each is the original attributes plus all outputs, and
  # `derivationStrict` runs only when a path is first needed.
  result = derivationStrict attrs;
  outputSet = outputName: {
    name = outputName;
    value = shared // {
      outPath = builtins.getAttr outputName result;
      drvPath = result.drvPath;
      type = "derivation";
      inherit outputName;
    };
  };
  byOutput = map outputSet outputs;
  shared = attrs // builtins.listToAttrs byOutput // {
    all = map (o: o.value) byOutput;
    drvAttrs = attrs;
  };
in (builtins.head byOutput).value
"#;

/// `<nix/fetchurl.nix>`: a fixed-output derivation that the builder downloads itself
/// (`builtin:fetchurl`). The attributes are those of Nix 2.8, since they decide its path.
pub const FETCHURL_NIX: &str = r#"
{ url
, name ? baseNameOf (toString url)
, hash ? ""
, md5 ? "", sha1 ? "", sha256 ? "", sha512 ? ""
, outputHash ? (if hash != "" then hash
                else if sha512 != "" then sha512
                else if sha1 != "" then sha1
                else if md5 != "" then md5
                else sha256)
, outputHashAlgo ? (if hash != "" then ""
                    else if sha512 != "" then "sha512"
                    else if sha1 != "" then "sha1"
                    else if md5 != "" then "md5"
                    else "sha256")
, executable ? false
, unpack ? false
, system ? ""
}:
derivation {
  inherit name url executable unpack outputHash outputHashAlgo;
  builder = "builtin:fetchurl";
  system = "builtin";
  outputHashMode = if unpack || executable then "recursive" else "flat";
  preferLocalBuild = true;
  # The caller's proxy settings reach the download, which its fixed hash keeps pure.
  impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
  urls = [ url ];
}
"#;

fn store_error(e: StoreError, pos: Pos) -> Box<EvalError> {
    EvalError::eval(e.to_string(), pos)
}

/// A string that must not refer to the store, as `forceStringNoCtx` wants.
fn string_no_ctx<'a>(ev: &Evaluator<'a>, t: &'a Thunk<'a>, pos: Pos) -> R<&'a [u8]> {
    let s = string(ev, t, pos)?;
    if let Some(c) = s.context.first() {
        return Err(EvalError::eval(
            format!(
                "the string '{}' is not allowed to refer to a store path (such as '{}')",
                String::from_utf8_lossy(s.bytes),
                String::from_utf8_lossy(c)
            ),
            pos,
        ));
    }
    Ok(s.bytes)
}

struct Collected<'a> {
    drv: Derivation,
    context: Vec<&'a [u8]>,
    /// The environment as collected, in the order of its names; it becomes `drv.env` in
    /// one step, which costs a comparison per entry instead of a search per entry.
    env: Vec<(Vec<u8>, Vec<u8>)>,
    outputs: Vec<Vec<u8>>,
    output_hash: Option<Vec<u8>>,
    output_hash_algo: Vec<u8>,
    method: Option<Ingestion>,
}

fn derivation_strict<'a>(ev: &Evaluator<'a>, args: &[&'a Thunk<'a>], pos: Pos) -> EvalResult<'a> {
    let set = attrs(ev, args[0], pos)?;
    let name_attr = required_attr(ev, "derivationStrict", set, b"name", pos)?;
    let name_pos = name_attr.pos;
    let name = string_no_ctx(ev, name_attr.value, pos).map_err(|e| {
        e.with_frame(
            "while evaluating the derivation attribute 'name'",
            Some(name_pos),
        )
    })?;
    let name = String::from_utf8_lossy(name).into_owned();
    let session = StoreSession::of(ev, pos)?;

    let find = |n: &[u8]| set.get(ev.intern(n));
    let structured = match find(b"__structuredAttrs") {
        Some(a) => bool(ev, a.value, pos)?,
        None => false,
    };
    let ignore_nulls = match find(b"__ignoreNulls") {
        Some(a) => bool(ev, a.value, pos)?,
        None => false,
    };

    let mut c = Collected {
        drv: Derivation::default(),
        context: Vec::new(),
        env: Vec::with_capacity(set.len_bound()),
        outputs: vec![b"out".to_vec()],
        output_hash: None,
        output_hash_algo: Vec::new(),
        method: None,
    };
    let mut json = structured.then(|| b"{".to_vec());

    // One walk: a layered set (`args // { … }`, as `mkDerivation` makes them) is merged
    // into a temporary, not kept merged in the arena.
    let all = set.walk();
    let mut sorted: Vec<(Vec<u8>, &Attr<'a>)> = all
        .iter()
        .map(|a| (ev.symbols().name(a.name).to_vec(), a))
        .collect();
    // Names are unique: no order among equals to keep.
    sorted.sort_unstable_by(|x, y| x.0.cmp(&y.0));
    for (key, attr) in sorted {
        if key == b"__ignoreNulls" {
            continue;
        }
        // The key moves into the environment: one copy of each name per derivation.
        collect_attr(
            ev,
            &mut c,
            json.as_mut(),
            key,
            attr,
            ignore_nulls,
            name_pos,
            pos,
        )
        .map_err(|e| {
            e.with_frame(
                format!(
                    "while evaluating the attribute '{}' of the derivation '{name}'",
                    ev.symbols().display(attr.name)
                ),
                Some(name_pos),
            )
        })?;
    }
    c.drv.env = std::mem::take(&mut c.env).into_iter().collect();
    if let Some(mut j) = json {
        j.push(b'}');
        c.drv.env.insert(b"__json".to_vec(), j);
    }

    let dir = session.dir().clone();
    let parse = |p: &[u8]| {
        dir.parse(&String::from_utf8_lossy(p))
            .map_err(|e| EvalError::eval(e.to_string(), pos))
    };
    let full = |p: &StorePath| dir.display(p).into_bytes();
    // A store path written out in a context, checked. `StoreDir::parse` accepts only the
    // exact form `<store>/<hash>-<name>`, so the bytes are those printing it would give.
    let checked = |p: &[u8]| parse(p).map(|_| p.to_vec());
    let mut context = std::mem::take(&mut c.context);
    context.sort_unstable();
    context.dedup();
    for item in context {
        if let Some(drv_path) = item.strip_prefix(b"=") {
            // The builder gets the derivation itself, so it needs everything it leads to.
            let closure = session
                .closure(&parse(drv_path)?)
                .map_err(|e| store_error(e, pos))?;
            for p in closure {
                if p.is_derivation() {
                    let outs = session.drv_outputs(&p).map_err(|e| store_error(e, pos))?;
                    c.drv
                        .input_drvs
                        .insert(full(&p), outs.into_iter().collect());
                }
                c.drv.input_srcs.insert(full(&p));
            }
        } else if let Some(rest) = item.strip_prefix(b"!") {
            let Some(i) = rest.iter().position(|&b| b == b'!') else {
                continue;
            };
            c.drv
                .input_drvs
                .entry(checked(&rest[i + 1..])?)
                .or_default()
                .insert(rest[..i].to_vec());
        } else {
            c.drv.input_srcs.insert(checked(item)?);
        }
    }

    if c.drv.builder.is_empty() {
        return Err(EvalError::eval(
            "required attribute 'builder' missing",
            name_pos,
        ));
    }
    if c.drv.platform.is_empty() {
        return Err(EvalError::eval(
            "required attribute 'system' missing",
            name_pos,
        ));
    }
    if name.ends_with(".drv") {
        return Err(EvalError::eval(
            "derivation names are not allowed to end in '.drv'",
            name_pos,
        ));
    }

    let (drv_hash, tail) = if let Some(text) = &c.output_hash {
        if c.outputs != [b"out".to_vec()] {
            return Err(EvalError::eval(
                "multiple outputs are not supported in fixed-output derivations",
                name_pos,
            ));
        }
        let algo = HashAlgo::parse(&String::from_utf8_lossy(&c.output_hash_algo));
        let hash = parse_output_hash(&String::from_utf8_lossy(text), algo)?;
        let method = c.method.unwrap_or(Ingestion::Flat);
        let out = dir
            .make_fixed_output_path(method, &hash, &name, &BTreeSet::new(), false)
            .map_err(|e| EvalError::eval(e.to_string(), name_pos))?;
        let out_full = full(&out);
        c.drv.env.insert(b"out".to_vec(), out_full.clone());
        let prefix = if method == Ingestion::Recursive {
            "r:"
        } else {
            ""
        };
        c.drv.outputs.insert(
            b"out".to_vec(),
            Output {
                path: out_full,
                hash_algo: format!("{prefix}{}", hash.algo).into_bytes(),
                hash: hash.to_base16().into_bytes(),
            },
        );
        let tail = c.drv.tail(false);
        let h = modulo_with(session, &c.drv, &tail).map_err(|e| store_error(e, pos))?;
        (h, tail)
    } else {
        for o in &c.outputs {
            c.drv.env.insert(o.clone(), Vec::new());
            c.drv.outputs.insert(o.clone(), Output::default());
        }
        // The inputs and the bulk after them are rendered once for both hashes: the
        // masked one gives the output paths, the unmasked one stands for this derivation.
        let inputs = c
            .drv
            .modulo_inputs(&mut |p: &[u8]| session.drv_hash_of_text(p))
            .map_err(|e| store_error(e, pos))?;
        let masked_tail = c.drv.tail(true);
        let masked = c.drv.hash_modulo_parts(&inputs, &masked_tail);
        for o in &c.outputs {
            let p = dir
                .make_output_path(&String::from_utf8_lossy(o), &masked, &name)
                .map_err(|e| EvalError::eval(e.to_string(), name_pos))?;
            c.drv.env.insert(o.clone(), full(&p));
            c.drv.outputs.get_mut(o).expect("inserted above").path = full(&p);
        }
        // The text after the inputs, the bulk, serves the hash and the file.
        let tail = masked_tail.unmask(&c.drv);
        (c.drv.hash_modulo_parts(&inputs, &tail), tail)
    };

    let drv_path = session
        .write_derivation(&c.drv, &name, drv_hash, c.drv.unparse_with(&tail))
        .map_err(|e| store_error(e, pos))?;
    let drv_full: &'a [u8] = ev.bump().alloc_slice_copy(&full(&drv_path));
    let mut out = Vec::with_capacity(c.drv.outputs.len() + 1);
    let all_ctx: &'a [u8] = ev.bump().alloc_slice_copy(&[b"=", drv_full].concat());
    out.push(Attr {
        name: ev.intern(b"drvPath"),
        value: ev
            .alloc_thunk(ev.string_with_context(drv_full, ev.bump().alloc_slice_copy(&[all_ctx]))),
        pos,
    });
    for (o, output) in &c.drv.outputs {
        let ctx: &'a [u8] = ev
            .bump()
            .alloc_slice_copy(&[b"!", &o[..], b"!", drv_full].concat());
        out.push(Attr {
            name: ev.intern(o),
            value: ev.alloc_thunk(
                ev.string_with_context(&output.path, ev.bump().alloc_slice_copy(&[ctx])),
            ),
            pos,
        });
    }
    out.sort_by_key(|a| a.name);
    Ok(ev.make_attrs(out))
}

/// The modulo hash of a derivation whose inputs this session can hash, with the text after
/// its inputs already rendered.
fn modulo_with(session: &StoreSession, drv: &Derivation, tail: &Tail) -> Result<Hash, StoreError> {
    drv.hash_modulo_with(tail, &mut |p: &[u8]| session.drv_hash_of_text(p))
}

/// `outputHash`, in any encoding; an empty one stands for the zero hash (with a warning)
/// when the algorithm is known.
fn parse_output_hash(text: &str, algo: Option<HashAlgo>) -> R<Hash> {
    if text.is_empty() {
        return match algo {
            Some(a) => {
                let h = Hash::zero(a);
                eprintln!("warning: found empty hash, assuming '{}'", h.to_sri());
                Ok(h)
            }
            None => Err(EvalError::new(
                ferrix_eval::error::ErrorKind::Eval,
                "empty hash requires explicit hash type",
                None,
            )),
        };
    }
    Hash::parse_any(text, algo)
        .map_err(|e| EvalError::new(ferrix_eval::error::ErrorKind::Eval, e.to_string(), None))
}

#[allow(clippy::too_many_arguments)]
fn collect_attr<'a>(
    ev: &Evaluator<'a>,
    c: &mut Collected<'a>,
    json: Option<&mut Vec<u8>>,
    key: Vec<u8>,
    attr: &Attr<'a>,
    ignore_nulls: bool,
    name_pos: Pos,
    pos: Pos,
) -> R<()> {
    if ignore_nulls && matches!(ev.force(attr.value, pos)?, Value::Null) {
        return Ok(());
    }
    match &key[..] {
        b"__contentAddressed" | b"__impure" => {
            if bool(ev, attr.value, pos)? {
                let feature = if key == b"__impure" {
                    "impure-derivations"
                } else {
                    "ca-derivations"
                };
                return Err(EvalError::new(
                    ferrix_eval::error::ErrorKind::Eval,
                    format!("experimental Nix feature '{feature}' is disabled; use '--extra-experimental-features {feature}' to override"),
                    None,
                ));
            }
            return Ok(());
        }
        b"args" => {
            for t in list(ev, attr.value, pos)?.items {
                let v = ev.force(t, name_pos)?;
                let mut s = Vec::new();
                ev.coerce_to_string(v, name_pos, true, true, &mut s, &mut c.context)?;
                c.drv.args.push(s);
            }
            return Ok(());
        }
        _ => {}
    }
    if let Some(json) = json {
        if key == b"__structuredAttrs" {
            return Ok(());
        }
        if json.len() > 1 {
            json.push(b',');
        }
        crate::json::write_string(&key, json);
        json.push(b':');
        let v = ev.force(attr.value, pos)?;
        value_to_json(ev, v, pos, true, json, &mut c.context)?;
        match &key[..] {
            b"builder" => {
                let s = string(ev, attr.value, name_pos)?;
                c.context.extend_from_slice(s.context);
                c.drv.builder = s.bytes.to_vec();
            }
            b"system" => c.drv.platform = string_no_ctx(ev, attr.value, name_pos)?.to_vec(),
            b"outputHash" => {
                c.output_hash = Some(string_no_ctx(ev, attr.value, name_pos)?.to_vec())
            }
            b"outputHashAlgo" => {
                c.output_hash_algo = string_no_ctx(ev, attr.value, name_pos)?.to_vec()
            }
            b"outputHashMode" => {
                c.method = Some(hash_mode(
                    string_no_ctx(ev, attr.value, name_pos)?,
                    name_pos,
                )?)
            }
            b"outputs" => {
                let mut names = Vec::new();
                for t in list(ev, attr.value, name_pos)?.items {
                    names.push(string_no_ctx(ev, t, name_pos)?.to_vec());
                }
                c.outputs = check_outputs(names, name_pos)?;
            }
            _ => {}
        }
        return Ok(());
    }
    let v = ev.force(attr.value, attr.pos)?;
    let mut s = Vec::new();
    ev.coerce_to_string(v, attr.pos, true, true, &mut s, &mut c.context)?;
    match &key[..] {
        b"builder" => c.drv.builder = s.clone(),
        b"system" => c.drv.platform = s.clone(),
        b"outputHash" => c.output_hash = Some(s.clone()),
        b"outputHashAlgo" => c.output_hash_algo = s.clone(),
        b"outputHashMode" => c.method = Some(hash_mode(&s, name_pos)?),
        b"outputs" => {
            let names = s
                .split(|b| b" \t\n\r".contains(b))
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            c.outputs = check_outputs(names, name_pos)?;
        }
        _ => {}
    }
    // Names come sorted and unique (see `Collected::env`).
    c.env.push((key, s));
    Ok(())
}

fn hash_mode(s: &[u8], pos: Pos) -> R<Ingestion> {
    match s {
        b"recursive" => Ok(Ingestion::Recursive),
        b"flat" => Ok(Ingestion::Flat),
        _ => Err(EvalError::eval(
            format!(
                "invalid value '{}' for 'outputHashMode' attribute",
                String::from_utf8_lossy(s)
            ),
            pos,
        )),
    }
}

fn check_outputs(names: Vec<Vec<u8>>, pos: Pos) -> R<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for n in names {
        if out.contains(&n) {
            return Err(EvalError::eval(
                format!(
                    "duplicate derivation output '{}'",
                    String::from_utf8_lossy(&n)
                ),
                pos,
            ));
        }
        if n == b"drv" {
            return Err(EvalError::eval("invalid derivation output name 'drv'", pos));
        }
        out.push(n);
    }
    if out.is_empty() {
        return Err(EvalError::eval(
            "derivation cannot have an empty set of outputs",
            pos,
        ));
    }
    Ok(out)
}
