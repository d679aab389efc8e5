// Parsing and evaluation allocate many small objects; mimalloc serves them much faster
// than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(ferrix::main_entry())
}
