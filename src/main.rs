// Parsing and evaluation allocate many small objects; mimalloc serves them much faster
// than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;

fn main() {
    let code = ferrix::main_entry();
    // Everything that needed dropping has been dropped; what is left is the allocator's
    // exit-time bookkeeping (returning every page of a large heap to the system), which the
    // process's end does anyway.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; no Rust state is used after it.
    unsafe { libc::_exit(code) }
}
