//! `nix-instantiate --parse`: parse files, standard input or `-E` expressions and print
//! each resolved expression, stopping at the first error as Nix does.
//!
//! Files are parsed on all cores and printed in order; each gets a fresh symbol table, so
//! the output for a file never depends on the files before it.

use ferrix_parser::print::{print, Style};
use ferrix_parser::{base_environment, parse, Origin, SourceInfo};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// What to parse.
pub enum Input {
    File(String),
    Stdin,
    Expr(String),
}

/// The printing style: Nix 2.8's exact `--parse` output when `FERRIX_PRINT_STYLE=nix`.
fn style() -> Style {
    match std::env::var("FERRIX_PRINT_STYLE").as_deref() {
        Ok("nix") => Style::Nix,
        _ => Style::RoundTrip,
    }
}

fn home() -> Vec<u8> {
    std::env::var_os("HOME")
        .map(|h| h.as_bytes().to_vec())
        .unwrap_or_default()
}

fn cwd() -> Vec<u8> {
    std::env::current_dir()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_else(|_| b"/".to_vec())
}

/// Nix's `resolveExprPath` for a command-line argument: made absolute against the
/// current directory first.
pub fn resolve_expr_path(arg: &str) -> Result<PathBuf, String> {
    let abs = ferrix_parser::actions::canon_path(&absolute(arg.as_bytes()));
    ferrix_eval::resolve_expr_path(Path::new(std::ffi::OsStr::from_bytes(&abs)))
}

fn absolute(p: &[u8]) -> Vec<u8> {
    if p.starts_with(b"/") {
        p.to_vec()
    } else {
        let mut v = cwd();
        v.push(b'/');
        v.extend_from_slice(p);
        v
    }
}

/// Parses and prints one input; `Err` holds the whole error text (raw source bytes included).
fn parse_one(
    input: &Input,
    symbols: &mut ferrix_parser::Interner,
    globals: &ferrix_parser::Globals,
    style: Style,
) -> Result<Vec<u8>, Vec<u8>> {
    let home = home();
    let (src, origin, base) = match input {
        Input::Expr(e) => (e.clone().into_bytes(), Origin::String, cwd()),
        Input::Stdin => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                format!(
                    "error: reading standard input: {}",
                    ferrix_eval::io_reason(&e)
                )
                .into_bytes()
            })?;
            (buf, Origin::Stdin, cwd())
        }
        Input::File(f) => {
            let path = resolve_expr_path(f).map_err(|m| format!("error: {m}").into_bytes())?;
            let src = std::fs::read(&path).map_err(|e| {
                format!(
                    "error: opening file '{}': {}",
                    path.display(),
                    ferrix_eval::io_reason(&e)
                )
                .into_bytes()
            })?;
            let dir = path
                .parent()
                .map(|d| d.as_os_str().as_bytes().to_vec())
                .unwrap_or_else(|| b"/".to_vec());
            (src, Origin::File(path.to_string_lossy().into_owned()), dir)
        }
    };
    let info = SourceInfo {
        origin,
        base_dir: &base,
        home: &home,
    };
    match parse(&src, &info, symbols, globals) {
        Ok(e) => {
            let mut out = print(symbols, &e, style);
            out.push(b'\n');
            Ok(out)
        }
        Err(d) => Err(d.render()),
    }
}

/// Parses every input and prints the results in order. Returns the exit status.
pub fn run(inputs: Vec<Input>) -> i32 {
    let style = style();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len().max(1));
    let next = AtomicUsize::new(0);
    let names = ferrix_primops::global_names(&ferrix_primops::Config::default());
    let (tx, rx) = mpsc::channel::<(usize, Result<Vec<u8>, Vec<u8>>)>();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            let inputs = &inputs;
            let names = &names;
            // Deeply nested input recurses deeply; stacker grows the stack as needed.
            std::thread::Builder::new()
                .stack_size(16 << 20)
                .spawn_scoped(scope, move || {
                    let (mut symbols, globals) = base_environment(names.iter().map(String::as_str));
                    let base_len = symbols.len();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else { break };
                        let r = parse_one(input, &mut symbols, &globals, style);
                        symbols.truncate(base_len);
                        let failed = r.is_err();
                        if tx.send((i, r)).is_err() || failed {
                            // Later inputs are not needed once one fails.
                            next.store(usize::MAX / 2, Ordering::Relaxed);
                            break;
                        }
                    }
                })
                .map(|_| ())
                .unwrap_or_else(|e| eprintln!("error: cannot start a parser thread: {e}"));
        }
        drop(tx);
        let mut pending: std::collections::BTreeMap<usize, Result<Vec<u8>, Vec<u8>>> =
            Default::default();
        let mut want = 0;
        for (i, r) in rx.iter() {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&want) {
                match r {
                    Ok(text) => {
                        if out.write_all(&text).is_err() {
                            return 1;
                        }
                    }
                    Err(mut msg) => {
                        let _ = out.flush();
                        msg.push(b'\n');
                        let _ = std::io::stderr().write_all(&msg);
                        return 1;
                    }
                }
                want += 1;
            }
        }
        if want < inputs.len() {
            return 1;
        }
        if out.flush().is_err() {
            return 1;
        }
        0
    })
}
