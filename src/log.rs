//! Where the evaluator's log lines go: standard error, filtered as Nix 2.8's simple logger
//! filters its lines (by verbosity, and without colour codes unless standard error is a
//! terminal that wants them).

use ferrix_eval::policy::{Level, LogSink};
use std::io::{IsTerminal, Write};

/// Nix's `shouldANSI`: standard error is a terminal, `TERM` is set and not `dumb`, and
/// `NO_COLOR` is unset.
pub fn should_ansi() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| t != "dumb")
        && std::env::var_os("NO_COLOR").is_none()
}

/// Nix's `filterANSIEscapes` with no width limit: escape sequences are dropped (all of
/// them with `filter_all`, otherwise all but colour changes, `ESC [ … m`), tabs become
/// spaces up to the next multiple of 8 columns, and carriage returns and bells vanish.
pub fn filter_ansi(s: &[u8], filter_all: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut col = 0usize;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == 0x1b {
            let start = i;
            i += 1;
            let mut last = 0u8;
            if s.get(i) == Some(&b'[') {
                i += 1;
                while i < s.len() && (0x30..=0x3f).contains(&s[i]) {
                    i += 1;
                }
                while i < s.len() && (0x20..=0x2f).contains(&s[i]) {
                    i += 1;
                }
                if i < s.len() && (0x40..=0x7e).contains(&s[i]) {
                    last = s[i];
                    i += 1;
                }
            } else if i < s.len() && (0x40..=0x5f).contains(&s[i]) {
                i += 1;
            }
            if !filter_all && last == b'm' {
                out.extend_from_slice(&s[start..i]);
            }
        } else if c == b'\t' {
            i += 1;
            out.push(b' ');
            col += 1;
            while !col.is_multiple_of(8) {
                out.push(b' ');
                col += 1;
            }
        } else if c == b'\r' || c == 0x07 {
            i += 1;
        } else {
            // One character, of however many bytes, is one column.
            let len = match c {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => 1,
            };
            out.push(c);
            i += 1;
            for _ in 1..len {
                match s.get(i) {
                    Some(&b) if b & 0xc0 == 0x80 => {
                        out.push(b);
                        i += 1;
                    }
                    _ => break,
                }
            }
            col += 1;
        }
    }
    out
}

/// Standard error at a verbosity.
pub struct StderrLog {
    pub verbosity: u8,
    pub ansi: bool,
}

impl LogSink for StderrLog {
    fn log(&self, level: Level, line: &[u8]) {
        if level > self.verbosity {
            return;
        }
        let mut out = filter_ansi(line, !self.ansi);
        out.push(b'\n');
        let _ = std::io::stderr().write_all(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::filter_ansi;

    #[test]
    fn escapes_and_tabs() {
        let s = b"\x1b[1mbold\x1b[0m \x1b]x\x1b[2Ka\tb\r\x07";
        assert_eq!(filter_ansi(s, true), b"bold xa b");
        assert_eq!(filter_ansi(s, false), b"\x1b[1mbold\x1b[0m xa b".to_vec());
        assert_eq!(filter_ansi("é\tx".as_bytes(), true), "é       x".as_bytes());
    }
}
