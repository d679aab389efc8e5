//! `ferrix repl`: an interactive Nix REPL on rustyline.
//!
//! [`Session`] holds the evaluator, the variables in scope and the loaded files, and runs one
//! input at a time ([`Session::process`]); it knows nothing of the terminal, so it can be
//! tested directly. [`run`] puts it behind a line editor with history, completion and Ctrl-C
//! handling. Building (`:b`, `:log`) goes through the [`Builder`] the caller supplies.

mod complete;
mod print;
mod session;

pub use ferrix_primops::store_session::StoreSession;
use session::{Session, Step};

use ferrix_eval::error::EvalError;
use ferrix_eval::Evaluator;
use ferrix_primops::WithBuiltins;
use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, History};
use rustyline::{CompletionType, Config, Editor};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// What `ferrix repl` was started with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Files (or `<path>`s) whose attributes are put in scope.
    pub files: Vec<String>,
    /// `-I` entries.
    pub include: Vec<String>,
    /// `--arg name expr`.
    pub args: Vec<(String, String)>,
    /// `--argstr name value`.
    pub argstrs: Vec<(String, String)>,
    /// `--show-trace`: start with traces shown (`:st` toggles them).
    pub show_trace: bool,
    /// The `nix-path` setting (after the `-I` entries).
    pub nix_path: Vec<String>,
    /// The `system` setting: `builtins.currentSystem`, as the builder builds for it.
    pub system: String,
}

/// The store side of the REPL: building derivations and reading their logs. The binary
/// supplies it; [`NoBuilder`] stands in until Ferrix has a builder.
pub trait Builder {
    /// Builds the derivation whose `.drv` is `drv_path`; returns each output's name and
    /// store path.
    fn build(&self, drv_path: &str) -> Result<Vec<(String, String)>, String>;
    /// The build log of the derivation whose `.drv` is `drv_path`.
    fn build_log(&self, drv_path: &str) -> Result<Vec<u8>, String>;
}

/// A [`Builder`] that explains that building is not available yet.
pub struct NoBuilder;

impl Builder for NoBuilder {
    fn build(&self, drv_path: &str) -> Result<Vec<(String, String)>, String> {
        Err(format!(
            "cannot build '{drv_path}': Ferrix cannot build derivations yet (its store and builder are not finished)"
        ))
    }

    fn build_log(&self, drv_path: &str) -> Result<Vec<u8>, String> {
        Err(format!(
            "build log of '{drv_path}' is not available: Ferrix cannot build derivations yet, so it keeps no build logs"
        ))
    }
}

/// What the binary adds to the REPL's evaluator beyond Nix's builtins (the primops of
/// native plugins from `plugin-files`, `importNative` and `exec`), so that the REPL sees
/// what `nix-instantiate` sees.
pub trait Extensions {
    /// Global names to add to Nix's (such as `__name` for each added primop), so that they
    /// resolve at parse time.
    fn global_names(&self) -> Vec<String>;
    /// Adds to an evaluator whose builtins are installed.
    fn install(&self, ev: &Evaluator<'_>) -> Result<(), Box<EvalError>>;
}

/// No extensions: Nix's builtins only.
pub struct NoExtensions;

impl Extensions for NoExtensions {
    fn global_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn install(&self, _: &Evaluator<'_>) -> Result<(), Box<EvalError>> {
        Ok(())
    }
}

/// Where the history is kept: `$XDG_DATA_HOME/nix/repl-history`, or
/// `~/.local/share/nix/repl-history`, as Nix does.
pub fn history_path() -> Option<PathBuf> {
    let data = match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".local/share"),
    };
    Some(data.join("nix/repl-history"))
}

/// Runs the REPL until `:q` or end of input; returns the exit status.
/// `store` is where derivations and copied sources go; `ext` adds to the builtins.
pub fn run(
    opts: &Options,
    builder: &dyn Builder,
    store: &StoreSession,
    ext: &dyn Extensions,
) -> i32 {
    // Running out of memory ends the line, not the session (see `ferrix_eval::memory`).
    ferrix_eval::memory::set_recoverable(true);
    // Deep Nix recursion needs a deep stack; the evaluator also grows it on demand.
    stacker::maybe_grow(256 * 1024, 64 << 20, || {
        let mut first = true;
        loop {
            match run_inner(opts, builder, store, ext, first) {
                End::Exit(code) => return code,
                End::Restart => {
                    // The old session and its arena are gone: clear the condition and take
                    // a new emergency reserve.
                    ferrix_eval::memory::recover();
                    first = false;
                }
            }
        }
    })
}

/// How a session ended.
enum End {
    Exit(i32),
    /// The arena ran out of memory: what the failed line allocated stays in it, so the
    /// session starts afresh with a new one (as after `:r`, its variables are gone).
    Restart,
}

fn run_inner(
    opts: &Options,
    builder: &dyn Builder,
    store: &StoreSession,
    ext: &dyn Extensions,
    first: bool,
) -> End {
    let bump = bumpalo::Bump::new();
    let mut config =
        ferrix_primops::Config::new(&opts.include, &opts.nix_path, &opts.system, false);
    config.store_dir = store.dir().as_str().to_string();
    let ev = Evaluator::builder(&bump)
        .builtins(&config)
        .globals(ext.global_names())
        .store(store)
        .show_trace(opts.show_trace)
        .build();
    if let Err(e) = ext.install(&ev) {
        let mut msg = ev.render_error(&e, opts.show_trace);
        msg.push(b'\n');
        let _ = std::io::stderr().write_all(&msg);
        return End::Exit(1);
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    ev.collect_when_env_says();
    let session = Session::new(ev, opts, builder, color, config.store_dir.clone());

    if first {
        // Ctrl-C while evaluating stops the evaluation; at the prompt the line editor sees it.
        // Safety: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe {
            signal_hook::low_level::register(signal_hook::consts::SIGINT, || {
                ferrix_eval::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed)
            })
        };

        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "Welcome to Ferrix {} (Nix 2.8.0). Type :? for help.\n",
            env!("CARGO_PKG_VERSION")
        );
        let _ = out.flush();
    }
    let mut sink = session::Sink::default();
    session.load_startup_files(&mut sink);
    sink.flush();

    let rl_config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .history_ignore_space(false)
        .max_history_size(10_000)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut rl: Editor<complete::Helper, FileHistory> = match Editor::with_config(rl_config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return End::Exit(1);
        }
    };
    rl.set_helper(Some(complete::Helper::new(&session)));
    // Only an interactive session reads and extends the history.
    let history = history_path().filter(|_| std::io::stdin().is_terminal());
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = rl.load_history(h);
    }

    let mut input = String::new();
    loop {
        let prompt = if input.is_empty() {
            "nix-repl> "
        } else {
            "          "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.history_mut().add(&line);
                    if let Some(h) = &history {
                        let _ = rl.append_history(h);
                    }
                }
                input.push_str(&line);
                input.push('\n');
                ferrix_eval::INTERRUPTED.store(false, std::sync::atomic::Ordering::Relaxed);
                // Running out of memory in the arena unwinds (bumpalo panics, see
                // `ferrix_eval::memory`); the line ends with Nix's message and the session
                // starts again with a new arena. Unwind safety: nothing of the abandoned
                // session is used after the unwind but its stack bookkeeping, which
                // `reset_after_unwind` clears, and its drop.
                let step = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    session.process(&input, &mut sink)
                })) {
                    Ok(step) => step,
                    Err(_) if ferrix_eval::memory::out_of_memory() => {
                        session.ev.reset_after_unwind();
                        sink.out.clear();
                        sink.err
                            .extend_from_slice(ferrix_eval::memory::MESSAGE.as_bytes());
                        sink.err.extend_from_slice(
                            b"note: the session starts afresh with its files loaded again; \
                              variables defined since are gone\n",
                        );
                        sink.flush();
                        // Frees the arena (and the rest of this session) before the next.
                        return End::Restart;
                    }
                    Err(payload) => std::panic::resume_unwind(payload),
                };
                if ferrix_eval::memory::out_of_memory() {
                    ferrix_eval::memory::recover();
                }
                ferrix_eval::INTERRUPTED.store(false, std::sync::atomic::Ordering::Relaxed);
                if let Some(c) = session.collect_if_due() {
                    if std::env::var_os("FERRIX_SHOW_STATS").is_some() {
                        let _ = writeln!(
                            sink.err,
                            "collected: {} MiB to {} MiB",
                            c.before >> 20,
                            c.after >> 20
                        );
                    }
                }
                match step {
                    Step::Incomplete => {}
                    Step::Done => {
                        input.clear();
                        // A blank line after the value and any messages.
                        sink.flush();
                        sink.out.push(b'\n');
                    }
                    Step::Quit => {
                        sink.flush();
                        break;
                    }
                }
                sink.flush();
            }
            Err(ReadlineError::Interrupted) => input.clear(),
            Err(ReadlineError::Eof) => {
                let _ = writeln!(std::io::stdout());
                break;
            }
            Err(e) => {
                eprintln!("error: reading input: {e}");
                return End::Exit(1);
            }
        }
    }
    End::Exit(0)
}
