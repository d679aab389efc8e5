//! Ferrix, a Nix implementation: the library behind the `ferrix` binary.

#[macro_use]
mod macros;

pub mod cli;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod log;
pub mod native;
pub mod parse_files;
pub mod shared;
pub mod store_setup;

/// Runs the `ferrix` binary with the process's arguments and returns its exit status.
///
/// Arguments that are not valid UTF-8 are converted lossily.
pub fn main_entry() -> i32 {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    dispatch::run(&argv)
}
