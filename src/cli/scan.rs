//! A first pass over argv that reproduces the quirks of Nix 2.8's hand-written argument
//! parser, before clap fills in the typed structs:
//!
//! - compound short options are split as Nix splits them: `-vvv` becomes `-v -v -v`, `-qR`
//!   becomes `-q -R`, and `-j4` or `-I/some/dir` become `-j 4` and `-I /some/dir`;
//! - a flag takes exactly as many following words as it has values, whatever they look like
//!   (`--arg x -1`, `--option name value`);
//! - `--name=value` is not a thing: it is an unrecognised flag, as in Nix;
//! - positional words may be mixed freely with flags;
//! - errors use Nix's wording (`unrecognised flag '--foo'`, `flag '--arg' requires 2
//!   argument(s)`, `'--attr' requires an argument`, `unexpected argument 'x'`);
//! - `--help` and `--version` act the moment they are reached, so anything after them is not
//!   looked at, and an error before them wins.
//!
//! The flags themselves come from the clap `Command`, which stays the single definition of
//! every command's flags.

use clap::{Arg, Command};

/// How a command treats the words the generic parser does not handle.
pub struct Spec {
    /// Ids of flags handled by the command itself in Nix (`getArg`), whose missing value is
    /// reported as `'--attr' requires an argument` rather than `flag '--arg' requires N
    /// argument(s)`.
    pub getarg_ids: &'static [&'static str],
    /// Whether a lone `-` is a positional argument (standard input) rather than a flag.
    pub stdin_dash: bool,
    /// Legacy commands see positionals through the command's own callback, which refuses
    /// words starting with `-` even after `--`. `nix repl` (a new-style command) does not.
    pub legacy: bool,
    /// `nix-store`: unknown flags are not errors but operation flags, judged later by the
    /// operation.
    pub unknown_as_op_flags: bool,
    /// `nix-store`: ids of the flags that are recorded as operation flags.
    pub op_flag_ids: &'static [&'static str],
    /// `nix-store`: `--version` is an operation, not an immediate exit.
    pub version_is_op: bool,
}

impl Spec {
    /// A legacy command (`nix-*`) with no flag of its own: each command's spec starts here
    /// and says only where it differs.
    pub const LEGACY: Spec = Spec {
        getarg_ids: &[],
        stdin_dash: false,
        legacy: true,
        unknown_as_op_flags: false,
        op_flag_ids: &[],
        version_is_op: false,
    };
}

/// One flag occurrence, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The clap argument id.
    pub id: String,
    /// The flag as written after splitting (`--attr`, `-A`).
    pub typed: String,
    /// The values the flag took.
    pub values: Vec<String>,
}

/// Something that ends parsing early with exit status 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Early {
    Help,
    Version,
}

/// The outcome of the first pass.
#[derive(Debug, Default)]
pub struct Scan {
    /// Arguments for clap: every recognised flag with its values, then `--`, then the
    /// positional arguments.
    pub clap_argv: Vec<String>,
    /// Every recognised flag in order.
    pub seen: Vec<Seen>,
    /// `nix-store`: the operation flags as written (with the values of `--max-freed` and
    /// friends), in order.
    pub op_flags: Vec<String>,
    /// Positional arguments in order.
    pub positionals: Vec<String>,
    /// `--help` or `--version` was reached.
    pub early: Option<Early>,
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        !a.is_positional()
            && (a.get_long() == Some(name)
                || a.get_all_aliases().is_some_and(|al| al.contains(&name)))
    })
}

fn find_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| {
        !a.is_positional()
            && (a.get_short() == Some(c)
                || a.get_all_short_aliases().is_some_and(|al| al.contains(&c)))
    })
}

/// How many words follow the flag.
fn arity(arg: &Arg) -> usize {
    if !arg.get_action().takes_values() {
        return 0;
    }
    arg.get_num_args().map_or(1, |r| r.min_values())
}

/// Splits `-abc` into `-a -b -c` and `-j4` into `-j 4`, as Nix does; other words are
/// returned unchanged.
pub fn split_compound(word: &str) -> Vec<String> {
    let mut chars = word.char_indices();
    let (Some((_, '-')), Some((_, first))) = (chars.next(), chars.next()) else {
        return vec![word.to_owned()];
    };
    if word.len() <= 2 || !first.is_ascii_alphabetic() {
        return vec![word.to_owned()];
    }
    let mut out = vec![format!("-{first}")];
    for (i, c) in chars {
        if c.is_ascii_alphabetic() {
            out.push(format!("-{c}"));
        } else {
            out.push(word[i..].to_owned());
            break;
        }
    }
    out
}

/// Runs the first pass over `args` (argv without the program name). `cmd` must have been
/// built (`Command::build`). `Err` holds a usage error message without the `error: ` prefix.
pub fn scan(cmd: &Command, spec: &Spec, args: &[String]) -> Result<Scan, String> {
    let mut out = Scan::default();
    let mut words: std::collections::VecDeque<String> = args.iter().cloned().collect();
    let mut dash_dash = false;
    let has_positionals = cmd.get_positionals().next().is_some();

    while let Some(word) = words.pop_front() {
        if dash_dash || word.is_empty() || !word.starts_with('-') {
            positional(&mut out, spec, has_positionals, dash_dash, word)?;
            continue;
        }
        let mut split = split_compound(&word);
        let word = split.remove(0);
        for (k, w) in split.into_iter().enumerate() {
            words.insert(k, w);
        }
        if word == "--" {
            dash_dash = true;
            continue;
        }
        if word == "-" {
            if spec.stdin_dash {
                positional(&mut out, spec, has_positionals, false, word)?;
                continue;
            }
            if spec.unknown_as_op_flags {
                out.op_flags.push(word);
                continue;
            }
            return Err(format!("unrecognised flag '{word}'"));
        }
        let found = if let Some(long) = word.strip_prefix("--") {
            find_long(cmd, long)
        } else {
            let mut cs = word.chars();
            match (cs.next(), cs.next(), cs.next()) {
                (Some('-'), Some(c), None) => find_short(cmd, c),
                _ => None,
            }
        };
        let Some(arg) = found else {
            if spec.unknown_as_op_flags {
                out.op_flags.push(word);
                continue;
            }
            return Err(format!("unrecognised flag '{word}'"));
        };
        let id = arg.get_id().as_str().to_owned();
        let n = arity(arg);
        if words.len() < n {
            return Err(if spec.getarg_ids.contains(&id.as_str()) {
                format!("'{word}' requires an argument")
            } else {
                format!("flag '{word}' requires {n} argument(s)")
            });
        }
        let values: Vec<String> = words.drain(..n).collect();
        if id == "help" {
            out.early = Some(Early::Help);
            return Ok(out);
        }
        if id == "version" && !spec.version_is_op {
            out.early = Some(Early::Version);
            return Ok(out);
        }
        if spec.op_flag_ids.contains(&id.as_str()) {
            out.op_flags.push(word.clone());
            out.op_flags.extend(values.iter().cloned());
        }
        out.clap_argv.push(word.clone());
        out.clap_argv.extend(values.iter().cloned());
        out.seen.push(Seen {
            id,
            typed: word,
            values,
        });
    }

    if !out.positionals.is_empty() {
        out.clap_argv.push("--".to_owned());
        out.clap_argv.extend(out.positionals.iter().cloned());
    }
    Ok(out)
}

fn positional(
    out: &mut Scan,
    spec: &Spec,
    has_positionals: bool,
    after_dash_dash: bool,
    word: String,
) -> Result<(), String> {
    // After `--`, a legacy command still hands the word to its own callback, which treats a
    // dash word as a flag it does not accept (or, for `nix-store`, as an operation flag).
    if after_dash_dash && spec.legacy && word.starts_with('-') && !(spec.stdin_dash && word == "-")
    {
        if spec.unknown_as_op_flags {
            out.op_flags.push(word);
            return Ok(());
        }
        return Err(format!("unexpected argument '{word}'"));
    }
    if !has_positionals {
        return Err(format!("unexpected argument '{word}'"));
    }
    out.positionals.push(word);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_compound;

    #[test]
    fn splits_like_nix() {
        assert_eq!(split_compound("-vvv"), ["-v", "-v", "-v"]);
        assert_eq!(split_compound("-j4"), ["-j", "4"]);
        assert_eq!(split_compound("-I/a/b"), ["-I", "/a/b"]);
        assert_eq!(split_compound("-qR"), ["-q", "-R"]);
        assert_eq!(
            split_compound("-Afoo.bar"),
            ["-A", "-f", "-o", "-o", ".bar"]
        );
        assert_eq!(split_compound("-v"), ["-v"]);
        assert_eq!(split_compound("--verbose"), ["--verbose"]);
        assert_eq!(split_compound("-1x"), ["-1x"]);
        assert_eq!(split_compound("-"), ["-"]);
        assert_eq!(split_compound("-é"), ["-é"]);
        assert_eq!(split_compound("-aé"), ["-a", "é"]);
    }
}
