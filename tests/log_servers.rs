//! `log-servers` (a Ferrix setting from Nix 1.x's notes): `nix-store -l` of a path whose
//! log is not kept locally asks each server for `<server>/<derivation base name>`, then for
//! the path's own base name, from a loopback HTTP server here. Without the setting, or
//! when no server has it, the error is Nix's.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_ferrix");

fn ferrix(store: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("store");
    for v in [
        "NIX_REMOTE",
        "NIX_STORE_DIR",
        "NIX_LOG_DIR",
        "NIX_STATE_DIR",
        "NIX_CONFIG",
    ] {
        c.env_remove(v);
    }
    c.arg("--store").arg(store).stdin(Stdio::null());
    c
}

/// Serves `files` (URL path → body) with 404 for anything else; records the paths asked.
fn serve(files: Vec<(String, Vec<u8>)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let path = first.split(' ').nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(body);
                }
                None => {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    (base, asked)
}

#[test]
fn log_servers_serve_a_log_not_kept_locally() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("s");
    // A path registered directly, with a deriver that is not in the store (its log is
    // asked for first).
    let base = format!("{}-thing", "1".repeat(32));
    let added = format!("/nix/store/{base}");
    std::fs::create_dir_all(store.join("nix/store")).unwrap();
    std::fs::write(store.join("nix/store").join(&base), "a file").unwrap();
    let deriver = format!("{}-thing.drv", "0".repeat(32));
    let mut reg = ferrix(&store)
        .arg("--register-validity")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    reg.stdin
        .take()
        .unwrap()
        .write_all(format!("{added}\n/nix/store/{deriver}\n0\n").as_bytes())
        .unwrap();
    assert!(reg.wait().unwrap().success());

    // Without log-servers: Nix's error.
    let o = ferrix(&store).args(["-l", &added]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains(&format!("error: build log of '{added}' is not available")));

    let (url, asked) = serve(vec![(format!("/log/{base}"), b"the remote log\n".to_vec())]);
    let o = ferrix(&store)
        .args([
            "--option",
            "log-servers",
            &format!("http://127.0.0.1:1/nothing {url}/log"),
        ])
        .args(["-l", &added])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(o.stdout, b"the remote log\n");
    assert!(
        err.contains(&format!("(using build log from {url}/log/{base})")),
        "{err}"
    );
    // The derivation's name was asked for before the path's.
    assert_eq!(
        *asked.lock().unwrap(),
        vec![format!("/log/{deriver}"), format!("/log/{base}")]
    );

    // A server without the log: the same error as without servers.
    let (url2, _) = serve(Vec::new());
    let o = ferrix(&store)
        .args(["--option", "log-servers", &url2])
        .args(["-l", &added])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not available"));
}
