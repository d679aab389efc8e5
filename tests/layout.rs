//! The layout of the binary crate's `src/`: each command is one file under `src/commands/`
//! and no command uses another. What two commands share lives below them (`crate::cli`,
//! `crate::shared`, the other top-level modules), and none of that uses a command; only
//! the dispatch (`src/dispatch.rs`, with `src/lib.rs` and `src/main.rs`) is above them.
//!
//! The source files are read and checked as text.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files under `dir`, at any depth, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The text without its comment lines (`//`, `///`, `//!`), and without whitespace, so
/// that a path split over lines (`crate::{\n    commands::gc,\n}`) reads as one word.
fn compact_code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Whether compacted code names the `commands` module: `crate::commands`,
/// `ferrix::commands`, or `commands` as an item of a grouped `use` (`{commands::gc}`,
/// `{cli,commands}`).
fn names_commands(code: &str) -> bool {
    let bytes = code.as_bytes();
    code.match_indices("commands").any(|(i, _)| {
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        let after = bytes.get(i + "commands".len()).copied().unwrap_or(b' ');
        let word_start = !(before.is_ascii_alphanumeric() || before == b'_');
        let word_end = !(after.is_ascii_alphanumeric() || after == b'_');
        if !word_start || !word_end {
            return false;
        }
        let path_before = code[..i].ends_with("::") || matches!(before, b'{' | b',');
        let path_after =
            code[i + "commands".len()..].starts_with("::") || matches!(after, b',' | b'}' | b';');
        path_before && (path_after || code[..i].ends_with("::"))
    })
}

/// What is wrong with the source of a command file: a path to the `commands` module (so to
/// a sibling), `super::` outside its unit tests (the parent is `commands`), `super::super`
/// anywhere, or a `#[path]` attribute (which could include another command's file).
fn command_violations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // The unit tests: from the `#[cfg(test)]` of `mod tests` on. Their `super::` is the
    // command itself.
    let split = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    let (body, tests) = text.split_at(split);
    let body = compact_code(body);
    let tests = compact_code(tests);
    if names_commands(&body) || names_commands(&tests) {
        out.push("names the `commands` module (another command)".to_owned());
    }
    if body.contains("super::") || body.contains("super}") || body.contains("super,") {
        out.push("uses `super::` (the `commands` module and its commands)".to_owned());
    }
    if tests.contains("super::super") {
        out.push("its tests use `super::super` (another command)".to_owned());
    }
    if body.contains("#[path") || tests.contains("#[path") {
        out.push("has a `#[path]` attribute".to_owned());
    }
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn commands_do_not_import_each_other() {
    let dir = src().join("commands");
    let files = rust_files(&dir);
    assert!(
        files.len() >= 8,
        "expected the commands under {}",
        dir.display()
    );
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if f.file_name().is_some_and(|n| n == "mod.rs") {
            // Only the declarations of the commands: no `use`, nothing shared among them.
            for line in text.lines().map(str::trim) {
                let ok = line.is_empty()
                    || line.starts_with("//")
                    || (line.starts_with("pub mod ") && line.ends_with(';'));
                if !ok {
                    problems.push(format!("{}: more than module declarations: {line}", rel(f)));
                }
            }
            continue;
        }
        for v in command_violations(&text) {
            problems.push(format!("{}: {v}", rel(f)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn shared_modules_do_not_use_commands() {
    let root = src();
    let above = [
        root.join("dispatch.rs"),
        root.join("lib.rs"),
        root.join("main.rs"),
    ];
    let mut problems = Vec::new();
    for f in rust_files(&root) {
        if f.starts_with(root.join("commands")) || above.contains(&f) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        if names_commands(&compact_code(&text)) {
            problems.push(format!("{}: uses a command", rel(&f)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_catches_imports_of_siblings() {
    let bad = [
        "use crate::commands::store::follow;\n",
        "use crate::{cli, commands::gc};\n",
        "use crate::{\n    cli,\n    commands::{build, gc},\n};\n",
        "use crate::{cli, commands};\n",
        "fn f() { crate::commands::build::run(a) }\n",
        "use super::store;\n",
        "fn f() { super::build::run(a) }\n",
        "#[path = \"store.rs\"]\nmod store;\n",
        "fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use super::super::gc;\n}\n",
    ];
    for b in bad {
        assert!(!command_violations(b).is_empty(), "not caught: {b}");
    }
    let good = [
        "//! Uses `crate::commands::store` in a comment only.\nuse crate::shared::build;\n",
        "use crate::cli::{parse, CommandSpec};\nlet commands = 1;\n",
        "fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    ];
    for g in good {
        assert_eq!(command_violations(g), Vec::<String>::new(), "flagged: {g}");
    }
}
