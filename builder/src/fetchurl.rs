//! `builtin:fetchurl`, the builder behind `<nix/fetchurl.nix>`: downloads `url` (http,
//! https or file) to the output. With `unpack = "1"` the download is a NAR (xz-compressed
//! when the URL ends in `.xz`) that is unpacked; with `executable = "1"` the file is made
//! executable. The fixed-output hash is checked afterwards like any other build's.

use ferrix_store::nar::{self, ParseOptions, Restorer};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why `builtin:fetchurl` failed. The texts are Nix's.
#[derive(Debug, thiserror::Error)]
pub enum FetchurlError {
    /// The derivation lacks an attribute the builder needs.
    #[error("attribute '{name}' missing")]
    MissingAttr { name: String },
    /// `url` could not be read.
    #[error("unable to download '{url}': {reason}")]
    Download { url: String, reason: DownloadError },
    /// The `.xz` download is not valid xz.
    #[error("decompressing '{url}': {source}")]
    Decompress {
        url: String,
        source: lzma_rs::error::Error,
    },
    /// The download is not a valid NAR (`unpack`).
    #[error("unpacking '{url}': {source}")]
    Unpack { url: String, source: io::Error },
    #[error("creating '{}': {}", .path.display(), ferrix_store::io_reason(.source))]
    Create { path: PathBuf, source: io::Error },
    #[error("making '{}' executable: {}", .path.display(), ferrix_store::io_reason(.source))]
    MakeExecutable { path: PathBuf, source: io::Error },
}

/// Why a URL could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// A `file://` URL names a file that cannot be opened.
    #[error("{}", ferrix_store::io_reason(.0))]
    OpenFile(io::Error),
    /// Neither `http(s)://` nor `file://`.
    #[error("unsupported protocol")]
    UnsupportedProtocol,
    #[error("{0}")]
    Http(reqwest::Error),
    /// The server answered with this HTTP status.
    #[error("HTTP error {0}")]
    Status(u16),
    /// Reading the body failed.
    #[error("{0}")]
    Read(io::Error),
}

fn attr(env: &BTreeMap<Vec<u8>, Vec<u8>>, name: &str) -> Result<String, FetchurlError> {
    env.get(name.as_bytes())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .ok_or_else(|| FetchurlError::MissingAttr {
            name: name.to_string(),
        })
}

/// Opens `url` for reading.
fn open(url: &str) -> Result<Box<dyn Read>, DownloadError> {
    if let Some(path) = url.strip_prefix("file://") {
        let f = std::fs::File::open(path).map_err(DownloadError::OpenFile)?;
        return Ok(Box::new(f));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(DownloadError::UnsupportedProtocol);
    }
    // No TLS verification needed: the result is checked against the expected hash.
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(None)
        .build()
        .map_err(DownloadError::Http)?;
    let resp = client.get(url).send().map_err(DownloadError::Http)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(DownloadError::Status(status.as_u16()));
    }
    Ok(Box::new(resp))
}

/// Runs `builtin:fetchurl` for a derivation with environment `env`, writing the output
/// to `dest` (which must not exist).
pub fn fetchurl(env: &BTreeMap<Vec<u8>, Vec<u8>>, dest: &Path) -> Result<(), FetchurlError> {
    let url = attr(env, "url")?;
    let download = |reason| FetchurlError::Download {
        url: url.clone(),
        reason,
    };
    let unpack = env.get(&b"unpack"[..]).is_some_and(|v| v == b"1");
    let mut src = open(&url).map_err(download)?;
    if unpack {
        let mut data = Vec::new();
        src.read_to_end(&mut data)
            .map_err(|e| download(DownloadError::Read(e)))?;
        if url.ends_with(".xz") {
            let mut out = Vec::new();
            lzma_rs::xz_decompress(&mut io::Cursor::new(&data), &mut out).map_err(|source| {
                FetchurlError::Decompress {
                    url: url.clone(),
                    source,
                }
            })?;
            data = out;
        }
        let mut rest = Restorer::new(dest, false);
        nar::parse(
            &mut io::Cursor::new(&data),
            &mut rest,
            ParseOptions { case_hack: false },
        )
        .map_err(|source| FetchurlError::Unpack {
            url: url.clone(),
            source,
        })?;
    } else {
        let mut f = std::fs::File::create(dest).map_err(|source| FetchurlError::Create {
            path: dest.to_path_buf(),
            source,
        })?;
        io::copy(&mut src, &mut f).map_err(|e| download(DownloadError::Read(e)))?;
    }
    if env.get(&b"executable"[..]).is_some_and(|v| v == b"1") {
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| FetchurlError::MakeExecutable {
                path: dest.to_path_buf(),
                source,
            },
        )?;
    }
    Ok(())
}
