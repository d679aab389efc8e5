//! `.narinfo` files: a binary cache's record of one store path (`StorePath`, `URL`,
//! `Compression`, `FileHash`, `FileSize`, `NarHash`, `NarSize`, `References`, `Deriver`,
//! `System`, `Sig`, `CA`), read and written as Nix 2.8 does.

use ferrix_store::hash::Encoding;
use ferrix_store::path::{StoreDir, StorePath};
use ferrix_store::{Hash, PathInfo};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("NAR info file '{whence}' is corrupt")]
pub struct CorruptNarInfo {
    pub whence: String,
}

/// One `.narinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    /// The path's metadata (path, NAR hash and size, references, deriver, signatures,
    /// content address).
    pub info: PathInfo,
    /// Where the (compressed) NAR is, relative to the cache.
    pub url: String,
    /// The compression's name (`bzip2` when the file names none, as in Nix).
    pub compression: String,
    pub file_hash: Option<Hash>,
    /// Bytes of the compressed NAR; 0 when unknown.
    pub file_size: u64,
    pub system: String,
}

impl NarInfo {
    /// Parses `text`; `whence` names the file in errors.
    pub fn parse(dir: &StoreDir, text: &str, whence: &str) -> Result<NarInfo, CorruptNarInfo> {
        let corrupt = || CorruptNarInfo {
            whence: whence.to_string(),
        };
        let mut path = None;
        let mut nar_hash = None;
        let mut nar_size = 0u64;
        let mut url = String::new();
        let mut compression = String::new();
        let mut file_hash = None;
        let mut file_size = 0u64;
        let mut references = std::collections::BTreeSet::new();
        let mut seen_refs = false;
        let mut deriver = None;
        let mut system = String::new();
        let mut sigs: Vec<String> = Vec::new();
        let mut ca: Option<String> = None;
        let hash = |v: &str| {
            if !v.contains(':') && !v.contains('-') {
                return Err(corrupt());
            }
            Hash::parse_any(v, None).map_err(|_| corrupt())
        };
        let base = |v: &str| StorePath::from_base_name(v).map_err(|_| corrupt());
        let mut rest = text;
        while !rest.is_empty() {
            let (line, after) = rest.split_once('\n').ok_or_else(corrupt)?;
            rest = after;
            let (name, value) = line.split_once(':').ok_or_else(corrupt)?;
            let value = value.strip_prefix(' ').unwrap_or(value);
            match name {
                "StorePath" => path = Some(dir.parse(value).map_err(|_| corrupt())?),
                "URL" => url = value.to_string(),
                "Compression" => compression = value.to_string(),
                "FileHash" => file_hash = Some(hash(value)?),
                "FileSize" => file_size = value.parse().map_err(|_| corrupt())?,
                "NarHash" => nar_hash = Some(hash(value)?),
                "NarSize" => nar_size = value.parse().map_err(|_| corrupt())?,
                "References" => {
                    if seen_refs {
                        return Err(corrupt());
                    }
                    seen_refs = true;
                    for r in value.split(' ').filter(|r| !r.is_empty()) {
                        references.insert(base(r)?);
                    }
                }
                "Deriver" if value != "unknown-deriver" => deriver = Some(base(value)?),
                "System" => system = value.to_string(),
                "Sig" if !sigs.iter().any(|s| s == value) => sigs.push(value.to_string()),
                "CA" => {
                    if ca.is_some() {
                        return Err(corrupt());
                    }
                    if !value.is_empty() {
                        ca = Some(value.to_string());
                    }
                }
                _ => {}
            }
        }
        if compression.is_empty() {
            compression = "bzip2".into();
        }
        let (Some(path), Some(nar_hash)) = (path, nar_hash) else {
            return Err(corrupt());
        };
        if url.is_empty() || nar_size == 0 {
            return Err(corrupt());
        }
        sigs.sort();
        let mut info = PathInfo::new(path, nar_hash, nar_size);
        info.registration_time = 0;
        info.references = references;
        info.deriver = deriver;
        info.sigs = sigs;
        info.ca = ca;
        Ok(NarInfo {
            info,
            url,
            compression,
            file_hash,
            file_size,
            system,
        })
    }

    /// The file's text.
    pub fn render(&self, dir: &StoreDir) -> String {
        let i = &self.info;
        let mut s = format!("StorePath: {}\nURL: {}\n", dir.display(&i.path), self.url);
        s.push_str(&format!("Compression: {}\n", self.compression));
        if let Some(h) = &self.file_hash {
            s.push_str(&format!("FileHash: {}\n", h.encode(Encoding::Nix32, true)));
            s.push_str(&format!("FileSize: {}\n", self.file_size));
        }
        s.push_str(&format!(
            "NarHash: {}\nNarSize: {}\n",
            i.nar_hash.encode(Encoding::Nix32, true),
            i.nar_size
        ));
        let refs: Vec<&str> = i.references.iter().map(|r| r.base_name()).collect();
        s.push_str(&format!("References: {}\n", refs.join(" ")));
        if let Some(d) = &i.deriver {
            s.push_str(&format!("Deriver: {}\n", d.base_name()));
        }
        if !self.system.is_empty() {
            s.push_str(&format!("System: {}\n", self.system));
        }
        let mut sigs = i.sigs.clone();
        sigs.sort();
        sigs.dedup();
        for sig in sigs {
            s.push_str(&format!("Sig: {sig}\n"));
        }
        if let Some(ca) = &i.ca {
            s.push_str(&format!("CA: {ca}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "StorePath: /nix/store/ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello\n\
URL: nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz\n\
Compression: xz\n\
FileHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3\n\
FileSize: 120\n\
NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\n\
NarSize: 440\n\
References: 7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-dep ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello\n\
Deriver: 2mrv63hb9p5ah0kssbz3r3j2c77g2y0p-hello.drv\n\
Sig: a:c2ln\n\
Sig: b:c2ln\n\
CA: fixed:r:sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\n";

    #[test]
    fn parse_render_round_trip() {
        let dir = StoreDir::default();
        let n = NarInfo::parse(&dir, TEXT, "x").unwrap();
        assert_eq!(n.info.path.name(), "hello");
        assert_eq!(n.compression, "xz");
        assert_eq!(n.file_size, 120);
        assert_eq!(n.info.nar_size, 440);
        assert_eq!(n.info.references.len(), 2);
        assert_eq!(n.info.deriver.as_ref().unwrap().name(), "hello.drv");
        assert_eq!(n.info.sigs, vec!["a:c2ln", "b:c2ln"]);
        assert!(n.info.ca.as_deref().unwrap().starts_with("fixed:r:"));
        assert_eq!(n.render(&dir), TEXT);
    }

    #[test]
    fn defaults_and_corruption() {
        let dir = StoreDir::default();
        let minimal = "StorePath: /nix/store/ivlnvab4q9c7wbsvbfsvgaa15j9p6206-hello\nURL: nar/x.nar.bz2\nNarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\nNarSize: 1\n";
        let n = NarInfo::parse(&dir, minimal, "x").unwrap();
        assert_eq!(n.compression, "bzip2");
        assert!(n.info.references.is_empty());
        for bad in [
            minimal.replace("NarSize: 1", "NarSize: 0"),
            minimal.replace("NarSize: 1", "NarSize: x"),
            minimal.replace("URL: nar/x.nar.bz2\n", ""),
            minimal.replace("sha256:0m", "sha256:zz"),
            minimal.trim_end().to_string(),
            minimal.replace("StorePath: /nix/store/", "StorePath: /elsewhere/"),
            format!("{minimal}References: bad\n"),
            "no colon\n".to_string(),
        ] {
            assert_eq!(
                NarInfo::parse(&dir, &bad, "h.narinfo")
                    .unwrap_err()
                    .to_string(),
                "NAR info file 'h.narinfo' is corrupt",
                "{bad}"
            );
        }
    }
}
