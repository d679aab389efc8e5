//! Running out of memory ends the evaluation with Nix's `error: out of memory`.
//!
//! Nothing in Rust lets an allocation failure unwind out of the global allocator (a
//! `GlobalAlloc` must not unwind, and `set_alloc_error_hook` is unstable), so the binary's
//! allocator reports failures here instead, through [`allocation_failed`]:
//!
//! - an emergency reserve, held from start-up, is given back to the system, so that what
//!   follows (the retry, the error message, a REPL's next line) has room;
//! - [`out_of_memory`] becomes true and [`crate::INTERRUPTED`] is set, so the evaluation's
//!   next step fails with `out of memory`, an error `tryEval` does not catch (as Nix's
//!   `std::bad_alloc`), through the same check that serves Ctrl-C;
//! - in a one-shot command the allocator, if even its retry fails, prints Nix's message
//!   and ends the process with status 1; a REPL instead sets [`set_recoverable`], and a
//!   failure that reaches the arena becomes bumpalo's "out of memory" panic, which the REPL
//!   catches at the end of the line and reports (see [`recover`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

static OUT_OF_MEMORY: AtomicBool = AtomicBool::new(false);
static RECOVERABLE: AtomicBool = AtomicBool::new(false);
/// The emergency reserve: a block from the system allocator, or null when given back.
static RESERVE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// 16 MiB: enough to unwind, render an error and read the next REPL line. It comes from
/// the system allocator, which maps a block this large on its own and unmaps it when freed,
/// so giving it back really returns the address space (what `ulimit -v` counts).
const RESERVE_LAYOUT: Layout = match Layout::from_size_align(16 << 20, 4096) {
    Ok(l) => l,
    Err(_) => panic!("the reserve's layout is valid"),
};

/// Whether an allocation has failed since the last [`recover`].
pub fn out_of_memory() -> bool {
    OUT_OF_MEMORY.load(Ordering::Relaxed)
}

/// Whether the process survives an allocation failure (the REPL) rather than ending with
/// `error: out of memory` (one-shot commands, the default).
pub fn recoverable() -> bool {
    RECOVERABLE.load(Ordering::Relaxed)
}

pub fn set_recoverable(on: bool) {
    RECOVERABLE.store(on, Ordering::Relaxed);
}

/// Takes the emergency reserve, if it is not held already. Call at start-up and after
/// [`recover`]; without it a failure still ends cleanly, only with less room to do so.
pub fn arm_reserve() {
    if !RESERVE.load(Ordering::Relaxed).is_null() {
        return;
    }
    // SAFETY: the layout has a non-zero size. The block is freed with the same allocator
    // and layout exactly once: just below if another thread armed a reserve first, else by
    // `release_reserve` after its swap took the only reference.
    let p = unsafe { System.alloc(RESERVE_LAYOUT) };
    // The pages are not touched: what runs out under `ulimit -v` (and what Nix reports as
    // out of memory) is address space, and untouched pages cost no resident memory.
    if !p.is_null()
        && RESERVE
            .compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        // SAFETY: `p` came from `System.alloc(RESERVE_LAYOUT)` just above and was not
        // published.
        unsafe { System.dealloc(p, RESERVE_LAYOUT) };
    }
}

fn release_reserve() {
    let p = RESERVE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: a non-null RESERVE was allocated by `arm_reserve` with `System` and
        // `RESERVE_LAYOUT`; the swap took the only reference, so it is freed once.
        unsafe { System.dealloc(p, RESERVE_LAYOUT) };
    }
}

/// Called by the global allocator when an allocation fails, before it retries once: gives
/// back the reserve and stops the running evaluation. It neither allocates nor unwinds, so
/// it is safe to call from inside a `GlobalAlloc`.
#[cold]
pub fn allocation_failed() {
    OUT_OF_MEMORY.store(true, Ordering::Relaxed);
    crate::INTERRUPTED.store(true, Ordering::Relaxed);
    release_reserve();
}

/// After an out-of-memory error was reported and what the failed evaluation held was
/// freed (a REPL line): clears the condition and takes a new reserve.
pub fn recover() {
    OUT_OF_MEMORY.store(false, Ordering::Relaxed);
    crate::INTERRUPTED.store(false, Ordering::Relaxed);
    arm_reserve();
}

/// Nix's message, as the allocator prints it when it ends the process.
pub const MESSAGE: &str = "error: out of memory\n";
