//! The commands, one module each: its arguments (the clap declaration, what Nix makes of
//! them, the parsed struct), its `main` (parse, then run) and its `run`. A command never
//! uses another command; what two of them share lives below them, in `crate::cli`,
//! `crate::shared` and the other top-level modules. `crate::dispatch` picks the command.

pub mod build;
pub mod copy_closure;
pub mod daemon;
pub mod eval_jobs;
pub mod gc;
pub mod hash;
pub mod instantiate;
pub mod repl;
pub mod store;
