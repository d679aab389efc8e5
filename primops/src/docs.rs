//! How a builtin's documentation is written, and read back.
//!
//! Every builtin function carries its documentation in the `doc` of its declaration (see
//! [`crate::builtin`]), which the REPL's `:doc` and the command-line help show. The texts are
//! written for Ferrix. A text starts with a usage line (the builtin's name and one word per
//! argument, as many as its arity), then a blank line, then the description; lines of an
//! example are indented by two spaces.

/// A builtin's documentation split into its usage line (without the name) and its
/// description, when it starts with a usage line.
pub fn split_usage<'d>(name: &str, doc: &'d str) -> (Option<&'d str>, &'d str) {
    let (first, rest) = doc.split_once("\n\n").unwrap_or((doc, ""));
    match first.strip_prefix(name) {
        Some(args) if !first.contains('\n') && (args.is_empty() || args.starts_with(' ')) => {
            (Some(args.trim_start()), rest)
        }
        _ => (None, doc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::Item;

    #[test]
    fn usage_lines() {
        assert_eq!(
            split_usage("elemAt", "elemAt list n\n\nAn element."),
            (Some("list n"), "An element.")
        );
        assert_eq!(
            split_usage("f", "f\n\nNo arguments."),
            (Some(""), "No arguments.")
        );
        // Another name, or no blank line after the first: no usage line.
        assert_eq!(
            split_usage("elem", "elemAt list n\n\nX."),
            (None, "elemAt list n\n\nX.")
        );
        assert_eq!(split_usage("f", "f x\ny"), (None, "f x\ny"));
        assert_eq!(arguments("{ a; b ? 1; } xs"), 2);
    }

    /// The number of arguments a usage line names: words, where a `{ … }` pattern is one.
    fn arguments(usage: &str) -> usize {
        let (mut n, mut depth, mut in_word) = (0, 0, false);
        for c in usage.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            let word = depth > 0 || !c.is_whitespace();
            if word && !in_word {
                n += 1;
            }
            in_word = word;
        }
        n
    }

    /// Every builtin function is documented: a usage line that names one argument per
    /// argument it takes, and a description.
    #[test]
    fn every_function_has_usage_and_description() {
        let mut n = 0;
        for b in crate::tables().iter().flat_map(|t| t.iter()) {
            let Item::Function(op) = &b.item else {
                continue;
            };
            let (usage, body) = split_usage(op.name, op.doc);
            let usage = usage.unwrap_or_else(|| panic!("{} has no usage line", op.name));
            assert_eq!(
                arguments(usage),
                op.arity,
                "{}: usage '{usage}' for arity {}",
                op.name,
                op.arity
            );
            assert!(!body.trim().is_empty(), "{} has no description", op.name);
            n += 1;
        }
        assert!(n >= 98, "only {n} builtin functions");
    }
}
