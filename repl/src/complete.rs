//! Tab completion: variables in scope and builtins, attribute paths (`builtins.toS` →
//! `builtins.toString`), `:` commands, and file names after `:l`.

use crate::print::attr_name;
use crate::session::{Session, COMMANDS};
use ferrix_eval::value::Value;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::Context;

pub(crate) struct Helper<'s, 'a, 'b> {
    session: &'s Session<'a, 'b>,
    files: FilenameCompleter,
}

impl<'s, 'a, 'b> Helper<'s, 'a, 'b> {
    pub fn new(session: &'s Session<'a, 'b>) -> Self {
        Helper {
            session,
            files: FilenameCompleter::new(),
        }
    }
}

/// Characters that make up a variable or an attribute path.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-' | '.')
}

const KEYWORDS: &[&str] = &[
    "assert", "else", "if", "in", "inherit", "let", "or", "rec", "then", "with",
];

impl<'a> Session<'a, '_> {
    /// Completions of the text before `pos`: where the completed word starts, and the
    /// candidates for it.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let Some(before) = line.get(..pos) else {
            return (pos, Vec::new());
        };
        // A command name.
        if before.starts_with(':') && !before.contains(char::is_whitespace) {
            let mut c: Vec<String> = Vec::new();
            for (short, long, ..) in COMMANDS {
                for name in [short, long] {
                    if name.starts_with(before) && !c.iter().any(|x| x == name) {
                        c.push(name.to_string());
                    }
                }
            }
            c.sort();
            return (0, c);
        }
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_path_char(*c))
            .last()
            .map(|(i, _)| i)
            .unwrap_or(pos);
        let word = &before[start..];
        if let Some((head, prefix)) = word.rsplit_once('.') {
            // An attribute path: evaluate what comes before the last dot.
            if head.is_empty() || head.starts_with(|c: char| c.is_ascii_digit()) {
                return (pos, Vec::new());
            }
            let Some(Value::Attrs(set)) = self.try_eval(head) else {
                return (pos, Vec::new());
            };
            let mut c: Vec<String> = set
                .attrs()
                .iter()
                .map(|a| self.ev.sym_name(a.name))
                .filter(|n| n.starts_with(prefix))
                .map(|n| attr_name(&n))
                .collect();
            c.sort();
            return (pos - prefix.len(), c);
        }
        let mut c: Vec<String> = self
            .scope_names()
            .into_iter()
            .chain(self.global_names())
            .chain(KEYWORDS.iter().map(|k| k.to_string()))
            .filter(|n| n.starts_with(word))
            .collect();
        c.sort();
        c.dedup();
        (start, c)
    }
}

impl Completer for Helper<'_, '_, '_> {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line.trim_start();
        for cmd in [":l ", ":load "] {
            if trimmed.starts_with(cmd) && pos >= line.len() - trimmed.len() + cmd.len() {
                return self.files.complete(line, pos, ctx);
            }
        }
        let (start, names) = self.session.complete(line, pos);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Hinter for Helper<'_, '_, '_> {
    type Hint = String;
}

impl Highlighter for Helper<'_, '_, '_> {}

impl Validator for Helper<'_, '_, '_> {}

impl rustyline::Helper for Helper<'_, '_, '_> {}
