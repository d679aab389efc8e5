//! Helpers that more than one command uses. They sit below the commands in
//! `crate::commands`: a command may use anything here, and nothing here uses a command.

pub mod build;
pub mod eval;
pub mod gc;
pub mod interrupt;
pub mod parallel;
pub mod store_paths;
