//! Derivations and their `.drv` form, the ATerm text
//! `Derive([outputs],[input drvs],[input sources],"system","builder",[args],[env])`, and
//! the "modulo" hash from which output paths are computed.

use crate::hash::{Hash, HashAlgo, Hasher};
use std::collections::{BTreeMap, BTreeSet};

/// Text of Nix strings: arbitrary bytes.
pub type Bytes = Vec<u8>;

/// One output as the `.drv` records it: its path, and for a fixed output the hash
/// algorithm (`r:` in front when recursive) and the expected hash in base 16.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    pub path: Bytes,
    pub hash_algo: Bytes,
    pub hash: Bytes,
}

impl Output {
    /// How a content-addressed output is hashed: `r:` in front of the algorithm means
    /// recursively (over the NAR), else flat. `Err` gives an algorithm Nix does not know.
    pub fn ingestion(&self) -> Result<(crate::path::Ingestion, crate::hash::HashAlgo), String> {
        let text = String::from_utf8_lossy(&self.hash_algo);
        let (method, name) = match text.strip_prefix("r:") {
            Some(a) => (crate::path::Ingestion::Recursive, a),
            None => (crate::path::Ingestion::Flat, &*text),
        };
        crate::hash::HashAlgo::parse(name)
            .map(|a| (method, a))
            .ok_or_else(|| name.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Derivation {
    pub outputs: BTreeMap<Bytes, Output>,
    /// Derivation path → the outputs of it that are needed.
    pub input_drvs: BTreeMap<Bytes, BTreeSet<Bytes>>,
    pub input_srcs: BTreeSet<Bytes>,
    pub platform: Bytes,
    pub builder: Bytes,
    pub args: Vec<Bytes>,
    pub env: BTreeMap<Bytes, Bytes>,
}

/// The rendered text of a derivation after its inputs ([`Derivation::tail`]), and whether
/// its outputs were masked.
pub struct Tail {
    mask_outputs: bool,
    text: Vec<u8>,
    /// In a masked tail: where each masked environment value is (the `""` of it), and
    /// its name, so that [`Tail::unmask`] can put the values in.
    masked_at: Vec<(usize, Bytes)>,
}

/// A derivation's input derivations rendered for its modulo hash
/// ([`Derivation::modulo_inputs`]).
pub struct ModuloInputs(Vec<u8>);

impl Tail {
    /// The unmasked tail of `drv`, from this masked one: its environment values that name
    /// outputs (blank here) put in, and nothing else rendered again. `drv` is the
    /// derivation this tail was rendered from, with those values set since.
    pub fn unmask(&self, drv: &Derivation) -> Tail {
        if !self.mask_outputs {
            return drv.tail(false);
        }
        let extra: usize = self
            .masked_at
            .iter()
            .map(|(_, k)| drv.env.get(k).map_or(0, |v| v.len() + 8))
            .sum();
        let mut text = Vec::with_capacity(self.text.len() + extra);
        let mut from = 0;
        for (at, k) in &self.masked_at {
            text.extend_from_slice(&self.text[from..*at]);
            push_string(&mut text, drv.env.get(k).map_or(&[][..], Vec::as_slice));
            // Past the blank `""` of the masked text.
            from = at + 2;
        }
        text.extend_from_slice(&self.text[from..]);
        Tail {
            mask_outputs: false,
            text,
            masked_at: Vec::new(),
        }
    }
}

/// Where the first byte that needs a backslash is. `memchr` scans for the three common
/// ones a vector at a time; the two rare ones (`\r`, `\t`) are looked for only before the
/// first of those, so each byte is read at most twice. Scanning derivations' environments
/// byte by byte was a tenth of instantiating them.
fn next_escape(s: &[u8]) -> Option<usize> {
    let common = memchr::memchr3(b'"', b'\\', b'\n', s);
    let before = &s[..common.unwrap_or(s.len())];
    memchr::memchr2(b'\r', b'\t', before).or(common)
}

fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    // Copy the runs between escapes whole: most strings (paths, hashes) have none.
    let mut rest = s;
    while let Some(i) = next_escape(rest) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => b"\\t",
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn push_list<'i>(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'i [u8]>) {
    out.push(b'[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_string(out, s);
    }
    out.push(b']');
}

/// The input derivations `inputs` (sorted), each with its outputs, comma-separated.
fn push_inputs(inputs: &[(&[u8], &BTreeSet<Bytes>)], out: &mut Vec<u8>) {
    for (i, (path, outs)) in inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'(');
        push_string(out, path);
        out.push(b',');
        push_list(out, outs.iter().map(Vec::as_slice));
        out.push(b')');
    }
}

impl Derivation {
    /// Whether this is a fixed-output derivation: a single `out` with a known hash.
    pub fn is_fixed_output(&self) -> bool {
        self.outputs.len() == 1
            && self
                .outputs
                .get(&b"out"[..])
                .is_some_and(|o| !o.hash.is_empty())
    }

    /// The ATerm text. `mask_outputs` blanks the output paths and the environment entries
    /// that name outputs, as the modulo hash needs.
    pub fn unparse(&self, mask_outputs: bool) -> Vec<u8> {
        // Most derivations fit; the largest (with build scripts inline) grow once or twice.
        let mut out = Vec::with_capacity(8192);
        self.unparse_head(mask_outputs, &self.own_inputs(), &mut out);
        self.unparse_tail(mask_outputs, &mut out, &mut Vec::new());
        out
    }

    /// The ATerm text, with the part after the inputs already rendered by [`Derivation::tail`]
    /// (masked or not, as the tail was).
    pub fn unparse_with(&self, tail: &Tail) -> Vec<u8> {
        let mut out = Vec::with_capacity(tail.text.len() + 1024);
        self.unparse_head(tail.mask_outputs, &self.own_inputs(), &mut out);
        out.extend_from_slice(&tail.text);
        out
    }

    fn own_inputs(&self) -> Vec<(&[u8], &BTreeSet<Bytes>)> {
        self.input_drvs
            .iter()
            .map(|(p, outs)| (p.as_slice(), outs))
            .collect()
    }

    /// `Derive(` with the outputs and the input derivations `inputs` (sorted): the part of
    /// the text that differs between a derivation's modulo hash and its `.drv`.
    fn unparse_head(
        &self,
        mask_outputs: bool,
        inputs: &[(&[u8], &BTreeSet<Bytes>)],
        out: &mut Vec<u8>,
    ) {
        self.push_outputs(mask_outputs, out);
        push_inputs(inputs, out);
        out.extend_from_slice(b"],");
    }

    /// `Derive([` with the outputs, and `],[` to open the input derivations.
    fn push_outputs(&self, mask_outputs: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Derive([");
        for (i, (name, o)) in self.outputs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'(');
            push_string(out, name);
            out.push(b',');
            push_string(out, if mask_outputs { b"" } else { &o.path });
            out.push(b',');
            push_string(out, &o.hash_algo);
            out.push(b',');
            push_string(out, &o.hash);
            out.push(b')');
        }
        out.extend_from_slice(b"],[");
    }

    /// The text after the input derivations: sources, platform, builder, arguments and the
    /// environment, the bulk of most derivations. Instantiating one renders it once for both
    /// its modulo hash and its `.drv` ([`Derivation::hash_modulo_with`],
    /// [`Derivation::unparse_with`]).
    pub fn tail(&self, mask_outputs: bool) -> Tail {
        // Most derivations fit; the largest (with build scripts inline) grow once or twice.
        let mut text = Vec::with_capacity(8192);
        let mut masked_at = Vec::new();
        self.unparse_tail(mask_outputs, &mut text, &mut masked_at);
        Tail {
            mask_outputs,
            text,
            masked_at,
        }
    }

    /// Appends the text after the input derivations (see [`Derivation::tail`]) to `out`,
    /// and where the values it masks are to `masked_at`.
    fn unparse_tail(
        &self,
        mask_outputs: bool,
        out: &mut Vec<u8>,
        masked_at: &mut Vec<(usize, Bytes)>,
    ) {
        push_list(out, self.input_srcs.iter().map(Vec::as_slice));
        out.push(b',');
        push_string(out, &self.platform);
        out.push(b',');
        push_string(out, &self.builder);
        out.push(b',');
        push_list(out, self.args.iter().map(Vec::as_slice));
        out.extend_from_slice(b",[");
        for (i, (k, v)) in self.env.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'(');
            push_string(out, k);
            out.push(b',');
            if mask_outputs && self.outputs.contains_key(k) {
                masked_at.push((out.len(), k.clone()));
                out.extend_from_slice(b"\"\"");
            } else {
                push_string(out, v);
            }
            out.push(b')');
        }
        out.extend_from_slice(b"])");
    }

    /// The hash that stands for this derivation in the derivations that use it: for a fixed
    /// output, a hash of just that output; otherwise the hash of the ATerm with each input
    /// derivation replaced by its own modulo hash (from `input_hash`). With `mask_outputs`
    /// the output paths are left out, as when computing them.
    pub fn hash_modulo<E>(
        &self,
        mask_outputs: bool,
        input_hash: &mut dyn FnMut(&[u8]) -> Result<Hash, E>,
    ) -> Result<Hash, E> {
        if self.is_fixed_output() {
            return Ok(self.fixed_output_hash());
        }
        self.hash_modulo_with(&self.tail(mask_outputs), input_hash)
    }

    /// [`Derivation::hash_modulo`] with the text after the inputs already rendered (masked
    /// or not, as the tail was).
    pub fn hash_modulo_with<E>(
        &self,
        tail: &Tail,
        input_hash: &mut dyn FnMut(&[u8]) -> Result<Hash, E>,
    ) -> Result<Hash, E> {
        if self.is_fixed_output() {
            return Ok(self.fixed_output_hash());
        }
        Ok(self.hash_modulo_parts(&self.modulo_inputs(input_hash)?, tail))
    }

    /// The input derivations as the modulo hash renders them: each one's own modulo hash
    /// (from `input_hash`) in base 16 with its outputs, sorted by hash. Of two inputs with
    /// one hash the later one counts, as a map assigned in the inputs' order would keep
    /// it. Instantiating renders them once for both of its hashes (masked and not).
    pub fn modulo_inputs<E>(
        &self,
        input_hash: &mut dyn FnMut(&[u8]) -> Result<Hash, E>,
    ) -> Result<ModuloInputs, E> {
        let mut hashes = Vec::with_capacity(self.input_drvs.len());
        for (path, outs) in &self.input_drvs {
            hashes.push((input_hash(path)?.to_base16().into_bytes(), outs));
        }
        hashes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut inputs: Vec<(&[u8], &BTreeSet<Bytes>)> = Vec::with_capacity(hashes.len());
        for (h, outs) in &hashes {
            match inputs.last_mut() {
                Some(last) if last.0 == h.as_slice() => last.1 = outs,
                _ => inputs.push((h, outs)),
            }
        }
        let mut text = Vec::with_capacity(inputs.len() * 96);
        push_inputs(&inputs, &mut text);
        Ok(ModuloInputs(text))
    }

    /// The modulo hash of a derivation that is not a fixed output, from its inputs
    /// rendered by [`Derivation::modulo_inputs`] and its tail (masked or not, as the tail
    /// was).
    pub fn hash_modulo_parts(&self, inputs: &ModuloInputs, tail: &Tail) -> Hash {
        let mut head = Vec::with_capacity(256);
        self.push_outputs(tail.mask_outputs, &mut head);
        let mut h = Hasher::new(HashAlgo::Sha256);
        h.update(&head);
        h.update(&inputs.0);
        h.update(b"],");
        h.update(&tail.text);
        h.finish()
    }

    /// A fixed output's modulo hash: of its one output, not of the derivation.
    fn fixed_output_hash(&self) -> Hash {
        let o = &self.outputs[&b"out"[..]];
        let mut s = b"fixed:out:".to_vec();
        for part in [&o.hash_algo, &o.hash, &o.path] {
            s.extend_from_slice(part);
            s.push(b':');
        }
        s.pop();
        Hash::sha256(&s)
    }

    /// Parses ATerm text.
    pub fn parse(text: &[u8]) -> Result<Derivation, ParseError> {
        let mut p = Parser { text, at: 0 };
        let d = p.derivation()?;
        if p.at != text.len() {
            return Err(p.error("text after the end of the derivation"));
        }
        Ok(d)
    }
}

/// A `.drv` text that is not a derivation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at offset {offset}")]
pub struct ParseError {
    pub message: String,
    pub offset: usize,
}

struct Parser<'t> {
    text: &'t [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        ParseError {
            message: message.into(),
            offset: self.at,
        }
    }

    fn expect(&mut self, s: &[u8]) -> Result<(), ParseError> {
        if self.text[self.at..].starts_with(s) {
            self.at += s.len();
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", String::from_utf8_lossy(s))))
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.text.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Result<Bytes, ParseError> {
        self.expect(b"\"")?;
        let mut s = Vec::new();
        loop {
            match self.text.get(self.at) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(s);
                }
                Some(b'\\') => {
                    let c = *self
                        .text
                        .get(self.at + 1)
                        .ok_or_else(|| self.error("unterminated string"))?;
                    s.push(match c {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        c => c,
                    });
                    self.at += 2;
                }
                Some(&c) => {
                    s.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// `[a,b,…]` with `item` parsing each element.
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        self.expect(b"[")?;
        let mut v = Vec::new();
        if self.eat(b']') {
            return Ok(v);
        }
        loop {
            v.push(item(self)?);
            if self.eat(b']') {
                return Ok(v);
            }
            self.expect(b",")?;
        }
    }

    fn path(&mut self) -> Result<Bytes, ParseError> {
        let s = self.string()?;
        if s.first() != Some(&b'/') {
            return Err(self.error("bad path in derivation"));
        }
        Ok(s)
    }

    fn derivation(&mut self) -> Result<Derivation, ParseError> {
        self.expect(b"Derive(")?;
        let mut d = Derivation::default();
        for (name, o) in self.list(|p| {
            p.expect(b"(")?;
            let name = p.string()?;
            p.expect(b",")?;
            let path = p.string()?;
            p.expect(b",")?;
            let hash_algo = p.string()?;
            p.expect(b",")?;
            let hash = p.string()?;
            p.expect(b")")?;
            Ok((
                name,
                Output {
                    path,
                    hash_algo,
                    hash,
                },
            ))
        })? {
            d.outputs.insert(name, o);
        }
        self.expect(b",")?;
        for (path, outs) in self.list(|p| {
            p.expect(b"(")?;
            let path = p.path()?;
            p.expect(b",")?;
            let outs = p.list(Parser::string)?;
            p.expect(b")")?;
            Ok((path, outs))
        })? {
            d.input_drvs.insert(path, outs.into_iter().collect());
        }
        self.expect(b",")?;
        d.input_srcs = self.list(Parser::path)?.into_iter().collect();
        self.expect(b",")?;
        d.platform = self.string()?;
        self.expect(b",")?;
        d.builder = self.string()?;
        self.expect(b",")?;
        d.args = self.list(Parser::string)?;
        self.expect(b",")?;
        for (k, v) in self.list(|p| {
            p.expect(b"(")?;
            let k = p.string()?;
            p.expect(b",")?;
            let v = p.string()?;
            p.expect(b")")?;
            Ok((k, v))
        })? {
            d.env.insert(k, v);
        }
        self.expect(b")")?;
        Ok(d)
    }
}

/// The text a builder sees in place of the path of its output `output` (Nix's
/// `placeholder`): `/` and the Nix32 SHA-256 of `nix-output:<output>`.
pub fn hash_placeholder(output: &[u8]) -> String {
    let mut s = b"nix-output:".to_vec();
    s.extend_from_slice(output);
    format!("/{}", crate::hash::Hash::sha256(&s).to_nix32())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `c` needs a backslash in an ATerm string.
    fn needs_escape(c: u8) -> bool {
        matches!(c, b'"' | b'\\' | b'\n' | b'\r' | b'\t')
    }

    /// The scan finds the same first escape as a byte-by-byte search, wherever it falls,
    /// and whichever kind comes first when there are two.
    #[test]
    fn escapes_are_found_in_any_block() {
        for len in 0..100 {
            for at in 0..=len {
                for c in [b'"', b'\\', b'\n', b'\r', b'\t'] {
                    for (second, gap) in [(None, 0), (Some(b'\n'), 3), (Some(b'\t'), 5)] {
                        let mut s = vec![b'a'; len];
                        if at < len {
                            s[at] = c;
                        }
                        if let Some(d) = second {
                            for p in [at.wrapping_sub(gap), at + gap] {
                                if p < len {
                                    s[p] = d;
                                }
                            }
                        }
                        let naive = s.iter().position(|&b| needs_escape(b));
                        assert_eq!(next_escape(&s), naive, "{s:?}");
                    }
                }
            }
        }
        let mut out = Vec::new();
        push_string(
            &mut out,
            &[b'x'; 40]
                .iter()
                .chain(b"\"\n")
                .copied()
                .collect::<Vec<_>>(),
        );
        assert_eq!(out, [&b"\""[..], &[b'x'; 40], b"\\\"\\n\""].concat());
    }
    use proptest::prelude::*;

    fn sample() -> Derivation {
        let mut d = Derivation::default();
        d.outputs.insert(
            b"out".to_vec(),
            Output {
                path: b"/nix/store/x-a".to_vec(),
                ..Default::default()
            },
        );
        d.input_srcs.insert(b"/nix/store/y-src".to_vec());
        d.platform = b"x86_64-linux".to_vec();
        d.builder = b"/bin/sh".to_vec();
        d.args = vec![b"-c".to_vec(), b"echo \"hi\"\n\\".to_vec()];
        d.env.insert(b"out".to_vec(), b"/nix/store/x-a".to_vec());
        d
    }

    #[test]
    fn aterm_text() {
        assert_eq!(
            String::from_utf8(sample().unparse(false)).unwrap(),
            r#"Derive([("out","/nix/store/x-a","","")],[],["/nix/store/y-src"],"x86_64-linux","/bin/sh",["-c","echo \"hi\"\n\\"],[("out","/nix/store/x-a")])"#
        );
        assert_eq!(
            String::from_utf8(sample().unparse(true)).unwrap(),
            r#"Derive([("out","","","")],[],["/nix/store/y-src"],"x86_64-linux","/bin/sh",["-c","echo \"hi\"\n\\"],[("out","")])"#
        );
    }

    /// Instantiation renders a masked tail and fills in its outputs, and hashes inputs
    /// rendered once: the same text and hashes as rendering each from scratch.
    #[test]
    fn unmasked_tail_and_modulo_parts_match_full_renders() {
        let mut d = sample();
        d.outputs.insert(b"dev".to_vec(), Output::default());
        d.env
            .insert(b"dev".to_vec(), b"/nix/store/z-a-dev".to_vec());
        d.env.insert(b"a".to_vec(), b"before \"dev\"".to_vec());
        d.env.insert(b"zz".to_vec(), b"after\ttab".to_vec());
        d.input_drvs
            .insert(b"/nix/store/q-in.drv".to_vec(), [b"out".to_vec()].into());
        d.input_drvs.insert(
            b"/nix/store/p-in2.drv".to_vec(),
            [b"lib".to_vec(), b"bin".to_vec()].into(),
        );
        let mut input_hash = |p: &[u8]| -> Result<Hash, ()> { Ok(Hash::sha256(p)) };
        let inputs = d.modulo_inputs(&mut input_hash).unwrap();
        let masked = d.tail(true);
        assert_eq!(masked.masked_at.len(), 2);
        let full = d.unparse(true);
        assert!(
            full.ends_with(&masked.text),
            "the masked tail is the end of the text"
        );
        assert_eq!(
            d.hash_modulo_parts(&inputs, &masked),
            d.hash_modulo(true, &mut input_hash).unwrap()
        );
        // The outputs' values change after masking, as when their paths are computed.
        d.env.insert(b"out".to_vec(), b"/nix/store/new-a".to_vec());
        d.env
            .insert(b"dev".to_vec(), b"/nix/store/n\"ew-a-dev".to_vec());
        let unmasked = masked.unmask(&d);
        assert_eq!(unmasked.text, d.tail(false).text);
        assert!(!unmasked.mask_outputs);
        assert_eq!(d.unparse_with(&unmasked), d.unparse(false));
        assert_eq!(
            d.hash_modulo_parts(&inputs, &unmasked),
            d.hash_modulo(false, &mut input_hash).unwrap()
        );
        assert_ne!(
            d.hash_modulo_parts(&inputs, &unmasked),
            d.hash_modulo_parts(&inputs, &masked)
        );
    }

    #[test]
    fn refuses_garbage() {
        assert!(Derivation::parse(b"Derive([").is_err());
        assert!(Derivation::parse(b"Derive([],[],[],\"a\",\"b\",[],[])x").is_err());
        assert!(Derivation::parse(b"Derive([],[],[\"rel\"],\"a\",\"b\",[],[])").is_err());
        assert!(Derivation::parse(b"Derive([],[],[],\"a\",\"b\",[],[])").is_ok());
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..12)
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(
            outs in proptest::collection::btree_map(bytes(), (bytes(), bytes(), bytes()), 0..3),
            srcs in proptest::collection::btree_set(bytes(), 0..3),
            args in proptest::collection::vec(bytes(), 0..3),
            env in proptest::collection::btree_map(bytes(), bytes(), 0..4),
            platform in bytes(),
        ) {
            let d = Derivation {
                outputs: outs.into_iter().map(|(k, (path, hash_algo, hash))| (k, Output { path, hash_algo, hash })).collect(),
                input_drvs: BTreeMap::new(),
                input_srcs: srcs.into_iter().map(|mut s| { s.insert(0, b'/'); s }).collect(),
                platform,
                builder: b"/bin/sh".to_vec(),
                args,
                env,
            };
            prop_assert_eq!(Derivation::parse(&d.unparse(false)), Ok(d));
        }
    }
}
