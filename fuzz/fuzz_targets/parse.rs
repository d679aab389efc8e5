//! Drives the lexer, parser, scope check and printer with arbitrary bytes: any input must give
//! an expression or a diagnostic, never a panic, and what is printed must parse again to the
//! same text.
#![no_main]

use ferrix_parser::print::{print, Style};
use ferrix_parser::{base_environment, parse, Origin, SourceInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for r in ferrix_lexer::Lexer::new(data) {
        if r.is_err() {
            break;
        }
    }
    let names = ferrix_primops::global_names(&ferrix_primops::Config::default());
    let (mut symbols, globals) = base_environment(names.iter().map(String::as_str));
    let info = SourceInfo {
        origin: Origin::String,
        base_dir: b"/base",
        home: b"/home",
    };
    match parse(data, &info, &mut symbols, &globals) {
        Ok(e) => {
            let text = print(&symbols, &e, Style::RoundTrip);
            let _ = print(&symbols, &e, Style::Nix);
            // Paths print as absolute paths that may not be literals (e.g. `/`), so only
            // check the round trip where the text is re-readable. A NUL byte can sit in an
            // indented string but no string literal can hold one.
            if text.contains(&0) {
                return;
            }
            if let Ok(again) = parse(&text, &info, &mut symbols, &globals) {
                assert_eq!(text, print(&symbols, &again, Style::RoundTrip));
            }
        }
        Err(d) => {
            let _ = d.render();
        }
    }
});
