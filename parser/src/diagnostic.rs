//! Positions and error messages in Nix 2.8's format:
//!
//! ```text
//! error: undefined variable 'x'
//!
//!        at /tmp/m.nix:3:7:
//!
//!             2|   a = 1;
//!             3|   b = x;
//!              |       ^
//!             4|   c = 3;
//! ```

/// Where a source text came from; decides how positions are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(String),
    /// `-E` expressions.
    String,
    Stdin,
}

impl Origin {
    /// The name used after "at" in error messages.
    pub fn at_label(&self) -> &str {
        match self {
            Origin::File(p) => p,
            Origin::String => "«string»",
            Origin::Stdin => "«stdin»",
        }
    }

    /// The name used inside messages ("already defined at (string):1:3").
    pub fn pos_label(&self) -> &str {
        match self {
            Origin::File(p) => p,
            Origin::String | Origin::Stdin => "(string)",
        }
    }
}

/// Maps byte offsets to 1-based line and column, counting LF, CR and CR LF as line ends
/// and columns in bytes, as Nix's lexer does.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Offset of the first byte of each line.
    starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(src: &[u8]) -> Self {
        // memchr finds the line ends a vector at a time; every imported file is indexed,
        // and the index is kept, so it is sized by a first count (`\r\n` counts twice)
        // instead of by doubling.
        let mut starts = Vec::with_capacity(1 + memchr::memchr2_iter(b'\n', b'\r', src).count());
        starts.push(0u32);
        let mut ends = memchr::memchr2_iter(b'\n', b'\r', src);
        while let Some(i) = ends.next() {
            if src[i] == b'\r' && src.get(i + 1) == Some(&b'\n') {
                // `\r\n` ends one line.
                ends.next();
                starts.push(i as u32 + 2);
            } else {
                starts.push(i as u32 + 1);
            }
        }
        LineIndex { starts }
    }

    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let off = offset as u32;
        let line = self.starts.partition_point(|&s| s <= off).max(1);
        let col = off - self.starts[line - 1] + 1;
        (line, col as usize)
    }

    /// `label:line:col`
    pub fn describe(&self, label: &str, offset: usize) -> String {
        let (l, c) = self.line_col(offset);
        format!("{label}:{l}:{c}")
    }
}

/// A rendered error with its position, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub origin: Origin,
    pub line: usize,
    pub column: usize,
    /// The source lines around the error, as Nix would show them.
    snippet: Option<Snippet>,
    /// What the error is, for code that acts on it.
    pub kind: crate::actions::ErrorKind,
}

/// Source lines as raw bytes: Nix prints them unchanged, valid UTF-8 or not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snippet {
    prev: Option<Vec<u8>>,
    line: Vec<u8>,
    next: Option<Vec<u8>>,
}

impl Diagnostic {
    pub fn new(
        message: String,
        origin: Origin,
        src: &[u8],
        index: &LineIndex,
        offset: usize,
    ) -> Self {
        let (line, column) = index.line_col(offset);
        let snippet = snippet(src, &origin, line);
        Diagnostic {
            message,
            origin,
            line,
            column,
            snippet,
            kind: crate::actions::ErrorKind::Syntax,
        }
    }
}

/// Nix splits the text on LF only. For files it drops a last line with no newline.
fn snippet(src: &[u8], origin: &Origin, line: usize) -> Option<Snippet> {
    let is_file = matches!(origin, Origin::File(_));
    let mut lines: Vec<&[u8]> = src.split(|&c| c == b'\n').collect();
    if is_file {
        // The piece after the last newline has no terminator, so Nix never sees it.
        lines.pop();
    }
    let get = |n: usize| -> Option<Vec<u8>> {
        n.checked_sub(1)
            .and_then(|i| lines.get(i))
            .map(|l| l.to_vec())
    };
    let err_line = get(line)?;
    Some(Snippet {
        prev: if line > 1 { get(line - 1) } else { None },
        line: err_line,
        next: get(line + 1),
    })
}

impl Diagnostic {
    /// The message as Nix prints it, source lines byte for byte.
    pub fn render(&self) -> Vec<u8> {
        let mut body: Vec<u8> = Vec::new();
        body.extend_from_slice(self.message.as_bytes());
        body.extend_from_slice(b"\n\n");
        body.extend_from_slice(&self.position_block());
        indent_message(b"error: ", &body)
    }

    /// `at file:line:col:` and the source lines around it, not yet indented.
    pub fn position_block(&self) -> Vec<u8> {
        let mut body: Vec<u8> = format!(
            "at {}:{}:{}:",
            self.origin.at_label(),
            self.line,
            self.column
        )
        .into_bytes();
        if let Some(s) = &self.snippet {
            body.push(b'\n');
            let mut line = |n: usize, text: &[u8]| {
                body.extend_from_slice(format!("\n {n:>5}| ").as_bytes());
                body.extend_from_slice(text);
            };
            if let Some(p) = &s.prev {
                line(self.line - 1, p);
            }
            line(self.line, &s.line);
            body.extend_from_slice(format!("\n      |{}^", " ".repeat(self.column)).as_bytes());
            if let Some(n) = &s.next {
                body.extend_from_slice(format!("\n {:>5}| ", self.line + 1).as_bytes());
                body.extend_from_slice(n);
            }
        }
        body.push(b'\n');
        body
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.render()))
    }
}

/// Prefixes the first line and indents the others to line up; trailing white space is
/// trimmed from every line and blank lines stay empty, as in Nix.
pub fn indent_message(first: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    let body = trim_end(body);
    for (i, l) in body.split(|&c| c == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let l = trim_end(l);
        if !l.is_empty() {
            if i == 0 {
                out.extend_from_slice(first);
            } else {
                out.resize(out.len() + first.len(), b' ');
            }
        }
        out.extend_from_slice(l);
    }
    out
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    &s[..n]
}

/// The reason part of an I/O error as Nix prints `strerror`: Rust's text without its
/// " (os error N)" suffix. Every layer's file errors use it (the store and the evaluator
/// re-export it).
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
