fn main() {
    std::process::exit(ferrix::main_entry())
}
