//! Ferrix, a Nix implementation: the library behind the `ferrix` binary.

pub mod build_cmd;
pub mod cli;
pub mod config;
pub mod copy_closure_cmd;
pub mod daemon_cmd;
pub mod eval_cmd;
pub mod gc_cmd;
pub mod hash_cmd;
pub mod instantiate;
pub mod log;
pub mod native;
pub mod parse_files;
pub mod store_cmd;
pub mod store_setup;

/// Runs the `ferrix` binary with the process's arguments and returns its exit status.
///
/// Arguments that are not valid UTF-8 are converted lossily.
pub fn main_entry() -> i32 {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    cli::run(&argv)
}
