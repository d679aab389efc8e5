//! Output macros for the command-line code: `out_line!` and `err_line!` write a line to
//! standard output or standard error and ignore write errors.

/// `println!` that ignores write errors (a closed pipe must not make us panic).
macro_rules! out_line {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that ignores write errors.
macro_rules! err_line {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
