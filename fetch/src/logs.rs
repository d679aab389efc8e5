//! `log-servers` (from Nix 1.x's release notes; Nix 2.8 no longer has the setting): when a
//! build log is not kept locally, each server is asked for `<server>/<base name>`, first
//! with the derivation's base name, then with the path's own. A log stored compressed with
//! bzip2 (as Hydra and `nix-store` keep them) is decompressed.

use crate::http::{Client, Fetched, HttpError};
use std::io::Read;

/// A log found on a server, and where.
pub struct RemoteLog {
    pub url: String,
    pub data: Vec<u8>,
}

/// Asks `servers` in order for the first of `names` that one has. A server that is down
/// or answers with an error is skipped (the next may have the log); `Ok(None)` when none
/// has it. The errors met are returned too, for the caller to report.
pub fn fetch_log(
    client: &Client,
    servers: &[String],
    names: &[String],
) -> (Option<RemoteLog>, Vec<HttpError>) {
    let mut errors = Vec::new();
    for server in servers {
        let prefix = server.trim_end_matches('/');
        if prefix.is_empty() {
            continue;
        }
        for name in names {
            let url = format!("{prefix}/{name}");
            match client.get(&url, None) {
                Ok(Fetched::Body { mut reader, .. }) => {
                    let mut data = Vec::new();
                    if let Err(e) = reader.read_to_end(&mut data) {
                        errors.push(HttpError::Transfer {
                            url,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                    if data.starts_with(b"BZh") {
                        let mut plain = Vec::new();
                        if bzip2::read::BzDecoder::new(&data[..])
                            .read_to_end(&mut plain)
                            .is_ok()
                        {
                            data = plain;
                        }
                    }
                    return (Some(RemoteLog { url, data }), errors);
                }
                Ok(Fetched::NotFound) | Ok(Fetched::NotModified) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    (None, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;
    use std::io::Write;

    #[test]
    fn first_server_with_the_log_wins_and_bzip2_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one");
        let two = dir.path().join("two");
        std::fs::create_dir_all(&one).unwrap();
        std::fs::create_dir_all(&two).unwrap();
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        enc.write_all(b"compressed log\n").unwrap();
        std::fs::write(two.join("abc-x.drv"), enc.finish().unwrap()).unwrap();
        std::fs::write(two.join("abc-x"), "by path\n").unwrap();
        let c = Client::new(&HttpOptions::default()).unwrap();
        let servers = vec![
            format!("file://{}", one.display()),
            format!("file://{}/", two.display()),
        ];
        let names = vec!["abc-x.drv".to_string(), "abc-x".to_string()];
        let (log, errs) = fetch_log(&c, &servers, &names);
        let log = log.unwrap();
        assert_eq!(log.data, b"compressed log\n");
        assert_eq!(log.url, format!("file://{}/abc-x.drv", two.display()));
        assert!(errs.is_empty());
        let (none, _) = fetch_log(&c, &servers[..1], &names);
        assert!(none.is_none());
    }
}
