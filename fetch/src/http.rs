//! Downloads over `http://`, `https://` and `file://`, streamed, with conditional
//! requests (`If-None-Match`) for the fetcher cache.

use std::io::Read;
use std::time::Duration;
use thiserror::Error;

/// Why a download failed. The texts follow Nix 2.8's ("unable to download '…': …").
#[derive(Debug, Error)]
pub enum HttpError {
    #[error("unable to download '{url}': HTTP error {status}")]
    Status { url: String, status: u16 },
    #[error("unable to download '{url}': {reason}")]
    Transfer { url: String, reason: String },
    #[error("unable to download '{url}': unsupported protocol")]
    Protocol { url: String },
}

/// What a GET gave back.
pub enum Fetched {
    /// `304 Not Modified`: the ETag sent is still current.
    NotModified,
    /// `404`, or a missing `file://` path: callers such as the binary-cache store treat
    /// this as "not there" rather than as an error.
    NotFound,
    /// The body, streamed. `etag` is the server's `ETag` header, if any; `len` its
    /// `Content-Length`, if known; `url` the final URL after redirects.
    Body {
        reader: Box<dyn Read + Send>,
        etag: Option<String>,
        len: Option<u64>,
        url: String,
    },
}

/// Options of the client, from the settings `connect-timeout` (0 = none),
/// `user-agent-suffix` and `http2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    pub connect_timeout: Option<Duration>,
    /// Appended to the `User-Agent` header, after a space.
    pub user_agent_suffix: String,
    /// Speak HTTP/2 with servers that offer it (TLS ALPN); off: HTTP/1.1 only.
    pub http2: bool,
    /// `netrc-file`: credentials by host, sent as basic authentication (a missing file
    /// is no credentials).
    pub netrc_file: Option<std::path::PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: None,
            user_agent_suffix: String::new(),
            http2: true,
            netrc_file: None,
        }
    }
}

impl HttpOptions {
    /// The options the settings give.
    pub fn from_settings(s: &ferrix_store::settings::Settings) -> HttpOptions {
        HttpOptions {
            connect_timeout: (s.connect_timeout > 0)
                .then(|| Duration::from_secs(s.connect_timeout)),
            user_agent_suffix: s.user_agent_suffix.clone(),
            http2: s.http2,
            netrc_file: Some(std::path::PathBuf::from(&s.netrc_file))
                .filter(|p| !p.as_os_str().is_empty()),
        }
    }

    /// The `User-Agent` header: Ferrix and its version, then the suffix.
    pub fn user_agent(&self) -> String {
        let base = concat!("ferrix/", env!("CARGO_PKG_VERSION"));
        match self.user_agent_suffix.trim() {
            "" => base.to_string(),
            s => format!("{base} {s}"),
        }
    }
}

/// A blocking HTTP client. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Client {
    inner: reqwest::blocking::Client,
    netrc: Vec<NetrcEntry>,
}

/// One entry of a netrc file: `machine HOST` (`None`: `default`), `login`, `password`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetrcEntry {
    pub machine: Option<String>,
    pub login: String,
    pub password: String,
}

/// The entries of a netrc file's text, as curl reads it: whitespace-separated tokens,
/// `machine NAME` or `default` starting an entry, then `login` and `password`; `account`
/// and `macdef` are skipped (a macro runs to the next empty line).
pub fn parse_netrc(text: &str) -> Vec<NetrcEntry> {
    let mut out: Vec<NetrcEntry> = Vec::new();
    let mut lines = text.lines();
    let mut tokens: Vec<String> = Vec::new();
    while let Some(line) = lines.next() {
        for w in line.split_whitespace() {
            if w == "macdef" {
                // The macro's body: up to the next empty line.
                for l in lines.by_ref() {
                    if l.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            tokens.push(w.to_string());
        }
    }
    let mut it = tokens.into_iter();
    while let Some(t) = it.next() {
        match t.as_str() {
            "machine" => {
                let name = it.next().unwrap_or_default();
                out.push(NetrcEntry {
                    machine: Some(name),
                    login: String::new(),
                    password: String::new(),
                });
            }
            "default" => out.push(NetrcEntry {
                machine: None,
                login: String::new(),
                password: String::new(),
            }),
            "login" | "password" | "account" => {
                let v = it.next().unwrap_or_default();
                if let Some(e) = out.last_mut() {
                    match t.as_str() {
                        "login" => e.login = v,
                        "password" => e.password = v,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

impl Client {
    pub fn new(opts: &HttpOptions) -> Result<Client, HttpError> {
        let mut b = reqwest::blocking::Client::builder()
            .timeout(None)
            .user_agent(opts.user_agent());
        if let Some(t) = opts.connect_timeout {
            b = b.connect_timeout(t);
        }
        if !opts.http2 {
            b = b.http1_only();
        }
        let inner = b.build().map_err(|e| HttpError::Transfer {
            url: String::new(),
            reason: e.to_string(),
        })?;
        let netrc = opts
            .netrc_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|t| parse_netrc(&String::from_utf8_lossy(&t)))
            .unwrap_or_default();
        Ok(Client { inner, netrc })
    }

    /// The netrc entry for the host of `url`: its `machine`, else `default`.
    fn credentials(&self, url: &str) -> Option<&NetrcEntry> {
        let host = reqwest::Url::parse(url).ok()?.host_str()?.to_string();
        self.netrc
            .iter()
            .find(|e| e.machine.as_deref() == Some(host.as_str()))
            .or_else(|| self.netrc.iter().find(|e| e.machine.is_none()))
            .filter(|e| !e.login.is_empty() || !e.password.is_empty())
    }

    /// GETs `url`. With `etag`, the request carries `If-None-Match` and a `304` gives
    /// [`Fetched::NotModified`].
    pub fn get(&self, url: &str, etag: Option<&str>) -> Result<Fetched, HttpError> {
        if let Some(path) = url.strip_prefix("file://") {
            return match std::fs::File::open(path) {
                Ok(f) => {
                    let len = f.metadata().ok().map(|m| m.len());
                    Ok(Fetched::Body {
                        reader: Box::new(f),
                        etag: None,
                        len,
                        url: url.to_string(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Fetched::NotFound),
                Err(e) => Err(HttpError::Transfer {
                    url: url.to_string(),
                    reason: ferrix_store::io_reason(&e),
                }),
            };
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(HttpError::Protocol {
                url: url.to_string(),
            });
        }
        let mut req = self.inner.get(url);
        if let Some(e) = self.credentials(url) {
            req = req.basic_auth(&e.login, Some(&e.password));
        }
        if let Some(tag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let resp = req.send().map_err(|e| HttpError::Transfer {
            url: url.to_string(),
            reason: error_chain(&e),
        })?;
        let status = resp.status().as_u16();
        match status {
            304 => Ok(Fetched::NotModified),
            404 | 403 | 410 => Ok(Fetched::NotFound),
            200..=299 => {
                let etag = resp
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let len = resp.content_length();
                let url = resp.url().to_string();
                Ok(Fetched::Body {
                    reader: Box::new(resp),
                    etag,
                    len,
                    url,
                })
            }
            _ => Err(HttpError::Status {
                url: url.to_string(),
                status,
            }),
        }
    }
}

/// The error and its causes on one line, as the user needs them (reqwest's top-level
/// text alone says only "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Serves one request with `response`, returns the request head it got.
    fn serve_once(response: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            s.write_all(response).unwrap();
            head
        });
        (url, h)
    }

    #[test]
    fn body_with_etag() {
        let (url, h) = serve_once(
            b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
        let c = Client::new(&HttpOptions::default()).unwrap();
        match c.get(&url, None).unwrap() {
            Fetched::Body {
                mut reader,
                etag,
                len,
                ..
            } => {
                let mut s = String::new();
                reader.read_to_string(&mut s).unwrap();
                assert_eq!(s, "hello");
                assert_eq!(etag.as_deref(), Some("\"abc\""));
                assert_eq!(len, Some(5));
            }
            _ => panic!("expected a body"),
        }
        h.join().unwrap();
    }

    #[test]
    fn not_modified_sends_if_none_match() {
        let (url, h) = serve_once(b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n");
        let c = Client::new(&HttpOptions::default()).unwrap();
        assert!(matches!(
            c.get(&url, Some("\"abc\"")).unwrap(),
            Fetched::NotModified
        ));
        let head = h.join().unwrap().to_ascii_lowercase();
        assert!(head.contains("if-none-match: \"abc\""), "{head}");
    }

    #[test]
    fn not_found_and_errors() {
        let (url, h) = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        let c = Client::new(&HttpOptions::default()).unwrap();
        assert!(matches!(c.get(&url, None).unwrap(), Fetched::NotFound));
        h.join().unwrap();
        let (url, h) = serve_once(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
        let e = c.get(&url, None).err().unwrap();
        assert_eq!(
            e.to_string(),
            format!("unable to download '{url}': HTTP error 500")
        );
        h.join().unwrap();
        assert!(matches!(
            c.get("file:///nonexistent/ferrix-x", None).unwrap(),
            Fetched::NotFound
        ));
        assert!(matches!(
            c.get("gopher://x", None).err().unwrap(),
            HttpError::Protocol { .. }
        ));
    }
}

#[cfg(test)]
mod netrc_tests {
    use super::*;

    #[test]
    fn entries_as_curl_reads_them() {
        let e = parse_netrc(
            "machine cache.example login u1 password p1\n\
             macdef init\nmachine fake login x password y\n\n\
             machine other\n  login u2\n  account a\n  password p2\ndefault login d password dp\n",
        );
        assert_eq!(
            e,
            vec![
                NetrcEntry {
                    machine: Some("cache.example".into()),
                    login: "u1".into(),
                    password: "p1".into()
                },
                NetrcEntry {
                    machine: Some("other".into()),
                    login: "u2".into(),
                    password: "p2".into()
                },
                NetrcEntry {
                    machine: None,
                    login: "d".into(),
                    password: "dp".into()
                },
            ]
        );
        let c = Client {
            inner: reqwest::blocking::Client::new(),
            netrc: e,
        };
        assert_eq!(
            c.credentials("https://cache.example/x").unwrap().login,
            "u1"
        );
        assert_eq!(c.credentials("http://other:8080/y").unwrap().login, "u2");
        assert_eq!(c.credentials("http://elsewhere/").unwrap().login, "d");
    }
}
