//! Stopping builds on a signal: the handlers `nix-build`, `nix-store` and
//! `nix-collect-garbage` install so that Ctrl-C, `kill` and a closed terminal end their
//! work cleanly.

extern "C" fn on_signal(_: libc::c_int) {
    ferrix_builder::interrupt();
}

/// Ctrl-C, `kill` and a closed terminal stop the builds cleanly.
pub fn install_interrupt_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            let _ = sigaction(sig, &act);
        }
    }
}
