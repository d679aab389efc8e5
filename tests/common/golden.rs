//! Text utilities of the golden harnesses: substitution, diffs with escaped bytes, and
//! the comparison of syntax errors without bison's `expecting` lists.

use std::process::ExitStatus;

/// At most this many diff lines are shown per mismatching file.
pub const MAX_DIFF_LINES: usize = 60;
/// Longer lines are cut in diffs.
pub const MAX_LINE_CHARS: usize = 300;
pub const SYNTAX_ERROR_PREFIX: &[u8] = b"error: syntax error, unexpected";
pub const EXPECTING: &[u8] = b", expecting ";

pub fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Drops the `, expecting …` suffix of bison's syntax error lines.
pub fn strip_expecting(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let mut line = line;
        if line.starts_with(SYNTAX_ERROR_PREFIX) {
            if let Some(pos) = find(line, EXPECTING) {
                line = &line[..pos];
            }
        }
        out.extend_from_slice(line);
    }
    out
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Renders one line for a diff: control characters and invalid UTF-8 escaped, long lines cut.
pub fn show_line(line: &[u8]) -> String {
    let mut s = String::new();
    let mut n = 0;
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\t' => s.push(c),
                '\r' => s.push_str("\\r"),
                c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => s.push(c),
            }
            n += 1;
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
            n += 1;
        }
        if n > MAX_LINE_CHARS {
            let cut: String = s.chars().take(MAX_LINE_CHARS).collect();
            return format!("{cut} [… line cut]");
        }
    }
    s
}

/// A small line diff (longest common subsequence) between expected and actual text.
pub fn diff(expected: &[u8], actual: &[u8]) -> String {
    fn lines(t: &[u8]) -> Vec<&[u8]> {
        if t.is_empty() {
            return Vec::new();
        }
        let mut v: Vec<&[u8]> = t.split(|&b| b == b'\n').collect();
        if t.ends_with(b"\n") {
            v.pop();
        }
        v
    }
    let (a, b) = (lines(expected), lines(actual));
    let (n, m) = (a.len(), b.len());
    let mut out = Vec::new();
    if n * m > 4_000_000 {
        out.push("  (too large for a line diff; expected first, then actual)".to_string());
        out.extend(a.iter().map(|l| format!("- {}", show_line(l))));
        out.extend(b.iter().map(|l| format!("+ {}", show_line(l))));
    } else {
        // lcs[i][j] = length of the LCS of a[i..] and b[j..]
        let mut lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                out.push(format!("  {}", show_line(a[i])));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
                out.push(format!("- {}", show_line(a[i])));
                i += 1;
            } else {
                out.push(format!("+ {}", show_line(b[j])));
                j += 1;
            }
        }
    }
    let (ea, eb) = (expected.ends_with(b"\n"), actual.ends_with(b"\n"));
    if ea != eb && !expected.is_empty() && !actual.is_empty() {
        out.push(format!(
            "  (trailing newline: expected {}, actual {})",
            if ea { "yes" } else { "no" },
            if eb { "yes" } else { "no" }
        ));
    }
    if out.len() > MAX_DIFF_LINES {
        let more = out.len() - MAX_DIFF_LINES;
        out.truncate(MAX_DIFF_LINES);
        out.push(format!("  … {more} more diff lines"));
    }
    let mut s = String::new();
    for l in out {
        s.push_str("    ");
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// A labelled diff, or nothing when both sides are empty.
pub fn section(label: &str, expected: &[u8], actual: &[u8]) -> String {
    if expected.is_empty() && actual.is_empty() {
        return String::new();
    }
    format!("  {label}:\n{}", diff(expected, actual))
}

pub fn status_text(status: &ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("{status} (no exit code)"),
    }
}
