//! A build's log: copied line by line to the terminal (without the escape sequences a
//! terminal should not see), kept bzip2-compressed under `<log dir>/drvs/`, counted for
//! `max-build-log-size`, and its last lines remembered for the failure message.

use ferrix_store::path::StorePath;
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use ferrix_store::logs::{log_path, read_log};

/// Removes terminal escape sequences from a log line, as Nix does before printing it: CSI
/// sequences other than colours (`ESC [ ... m`) go, and so do colours when `keep_colours`
/// is off. Other escapes (`ESC` and one character, OSC strings) go too. Tabs expand to the
/// next multiple of eight columns.
pub fn filter_escapes(line: &[u8], keep_colours: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut col = 0usize;
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if c == 0x1b {
            let start = i;
            i += 1;
            match line.get(i) {
                Some(b'[') => {
                    i += 1;
                    // Parameter and intermediate bytes, then one final byte.
                    while i < line.len() && (0x20..=0x3f).contains(&line[i]) {
                        i += 1;
                    }
                    let fin = line.get(i).copied();
                    i += 1;
                    if fin == Some(b'm') && keep_colours {
                        out.extend_from_slice(&line[start..i.min(line.len())]);
                    }
                }
                Some(b']') => {
                    // An operating system command, up to BEL or ESC \.
                    i += 1;
                    while i < line.len() && line[i] != 0x07 && line[i] != 0x1b {
                        i += 1;
                    }
                    if line.get(i) == Some(&0x1b) {
                        i += 1;
                    }
                    i += 1;
                }
                Some(_) => i += 1,
                None => {}
            }
            continue;
        }
        if c == b'\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat_n(b' ', n));
            col += n;
        } else if c != b'\r' {
            out.push(c);
            col += 1;
        }
        i += 1;
    }
    out
}

/// The log of one running build.
pub struct BuildLog {
    file: Option<bzip2::write::BzEncoder<File>>,
    file_path: Option<PathBuf>,
    print: bool,
    keep_colours: bool,
    line: Vec<u8>,
    tail: VecDeque<Vec<u8>>,
    tail_max: usize,
    drv: StorePath,
    /// Bytes the builder wrote.
    pub size: u64,
}

impl BuildLog {
    /// Starts the log of `drv`: a compressed file under `log_dir` when `keep`; lines on
    /// standard error when `print`; the last `tail_max` lines remembered.
    pub fn open(
        log_dir: &Path,
        drv: &StorePath,
        keep: bool,
        print: bool,
        tail_max: usize,
    ) -> io::Result<BuildLog> {
        let (file, file_path) = if keep {
            let p = log_path(log_dir, drv);
            if let Some(d) = p.parent() {
                fs::create_dir_all(d)?;
            }
            let f = File::create(&p)?;
            (
                Some(bzip2::write::BzEncoder::new(
                    f,
                    bzip2::Compression::default(),
                )),
                Some(p),
            )
        } else {
            (None, None)
        };
        Ok(BuildLog {
            drv: drv.clone(),
            file,
            file_path,
            print,
            keep_colours: nix::unistd::isatty(std::io::stderr()).unwrap_or(false),
            line: Vec::new(),
            tail: VecDeque::new(),
            tail_max,
            size: 0,
        })
    }

    /// Takes the next bytes the builder wrote.
    pub fn write(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        if let Some(f) = &mut self.file {
            if f.write_all(data).is_err() {
                self.file = None;
            }
        }
        for &c in data {
            match c {
                b'\n' => self.flush_line(),
                // A carriage return starts the line over, as on a terminal.
                b'\r' => self.line.clear(),
                c => self.line.push(c),
            }
        }
    }

    fn flush_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if self.print {
            let shown = filter_escapes(&line, self.keep_colours);
            crate::emit(crate::Output::BuildLine(&self.drv, &shown));
        }
        if self.tail_max > 0 {
            if self.tail.len() == self.tail_max {
                self.tail.pop_front();
            }
            self.tail.push_back(line);
        }
    }

    /// Ends the log: the last partial line is flushed and the file completed.
    pub fn finish(&mut self) {
        if !self.line.is_empty() {
            self.flush_line();
        }
        if let Some(f) = self.file.take() {
            if f.finish().is_err() {
                if let Some(p) = &self.file_path {
                    let _ = fs::remove_file(p);
                }
            }
        }
    }

    /// The last lines, as the failure message shows them.
    pub fn tail(&self) -> Vec<String> {
        self.tail
            .iter()
            .map(|l| String::from_utf8_lossy(&filter_escapes(l, false)).into_owned())
            .collect()
    }

    pub fn printing(&self) -> bool {
        self.print
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(filter_escapes(b"a\x1b[1;31mred\x1b[0m", false), b"ared");
        assert_eq!(
            filter_escapes(b"a\x1b[1;31mred\x1b[0m", true),
            b"a\x1b[1;31mred\x1b[0m"
        );
        // nixpkgs' private sequences (`ESC [ ... p`) never reach the terminal.
        assert_eq!(filter_escapes(b"\x1b[3p\x1b[1;2pbuild", true), b"build");
        assert_eq!(filter_escapes(b"x\ty", false), b"x       y");
    }

    #[test]
    fn log_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let drv = StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-x.drv").unwrap();
        let mut l = BuildLog::open(d.path(), &drv, true, false, 2).unwrap();
        l.write(b"one\ntwo\nthree\nfour");
        l.finish();
        assert_eq!(l.tail(), vec!["three".to_string(), "four".to_string()]);
        assert_eq!(
            read_log(d.path(), &drv).unwrap().unwrap(),
            b"one\ntwo\nthree\nfour"
        );
        assert!(
            log_path(d.path(), &drv).ends_with("drvs/iv/lnvab4q9c7wbsvbfsvgaa15j9p6206-x.drv.bz2")
        );
    }
}
