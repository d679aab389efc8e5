// Parsing and evaluation allocate many small objects; mimalloc serves them much faster
// than the system allocator. `Guarded` turns its failures into Nix's `error: out of memory`.
#[global_allocator]
static GLOBAL: Guarded = Guarded(mimalloc::MiMalloc);

use std::alloc::{GlobalAlloc, Layout};
use std::io::Write;

/// The global allocator: mimalloc, and on a failed allocation what Nix does when it runs
/// out of memory (see `ferrix_eval::memory`): the emergency reserve goes back, the running
/// evaluation stops at its next step, and the allocation is tried once more. If that fails
/// too, a one-shot command prints `error: out of memory` and exits with status 1 (Rust's
/// own handling would abort with a signal); a REPL gets the null pointer, which bumpalo
/// turns into a panic the REPL catches.
struct Guarded(mimalloc::MiMalloc);

impl Guarded {
    #[cold]
    #[inline(never)]
    fn failed(&self, retry: impl FnOnce() -> *mut u8) -> *mut u8 {
        ferrix_eval::memory::allocation_failed();
        let p = retry();
        if p.is_null() && !ferrix_eval::memory::recoverable() {
            use std::sync::atomic::Ordering;
            let fd = ferrix::commands::daemon::OOM_FD.load(Ordering::SeqCst);
            if fd >= 0 {
                let m = ferrix::commands::daemon::OOM_MSG.load(Ordering::SeqCst);
                let n = ferrix::commands::daemon::OOM_LEN.load(Ordering::SeqCst);
                // SAFETY: a daemon connection's process: `m`/`n` describe a leaked buffer
                // that lives until the process ends, set before `fd` was; `write` and
                // `_exit` neither allocate nor touch Rust state. The client gets Nix's
                // `Nix daemon out of memory` error instead of a broken pipe.
                unsafe {
                    libc::write(fd, m.cast(), n);
                    libc::_exit(1);
                }
            }
            let msg = ferrix_eval::memory::MESSAGE.as_bytes();
            // SAFETY: `write` reads `msg.len()` bytes from a live static string and `_exit`
            // ends the process at once; neither allocates nor touches Rust state, so both are
            // fine inside the allocator. What the command had not yet printed is lost, as it
            // would be when Nix's process dies of `std::bad_alloc`.
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(1);
            }
        }
        p
    }
}

/// The alignment mimalloc's plain entry points (`mi_malloc`, `mi_zalloc`, `mi_realloc`)
/// guarantee for a block of at least that size (`MI_MAX_ALIGN_SIZE`). Most requests fit, and
/// the plain entry points skip the aligned ones' extra steps (about 1% of an evaluation's
/// instructions went to them).
const PLAIN_ALIGN: usize = 16;

/// Whether a block of `size` bytes aligned to `align` can come from a plain entry point.
#[inline]
fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

impl Guarded {
    /// A block for `layout`, from mimalloc.
    ///
    /// # Safety
    /// `layout` has a non-zero size (`GlobalAlloc::alloc`'s contract).
    #[inline]
    unsafe fn get(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        if plain(layout.align(), layout.size()) {
            // SAFETY: a plain block of `size` bytes is aligned to `align` (see `plain`).
            unsafe {
                if zeroed {
                    libmimalloc_sys::mi_zalloc(layout.size()).cast()
                } else {
                    libmimalloc_sys::mi_malloc(layout.size()).cast()
                }
            }
        } else if zeroed {
            // SAFETY: the caller's contract for `layout` is passed on unchanged.
            unsafe { self.0.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { self.0.alloc(layout) }
        }
    }

    /// `ptr` (a block of `layout`) resized to `new_size`, from mimalloc.
    ///
    /// # Safety
    /// `GlobalAlloc::realloc`'s contract.
    #[inline]
    unsafe fn resize(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(layout.align(), new_size) {
            // SAFETY: `ptr` is a live mimalloc block; the new block is aligned as `plain`
            // says, and a failure leaves `ptr` as it was.
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast() }
        } else {
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { self.0.realloc(ptr, layout, new_size) }
        }
    }
}

// SAFETY: every request goes to mimalloc, a correct allocator, either unchanged or (for the
// alignments its plain entry points guarantee) to those; every pointer returned is one
// mimalloc returned for that request (or null). The failure path only stores atomics, frees
// the reserve (a block of the system allocator, not of this one), retries the same request,
// and neither allocates through `self` nor unwinds.
unsafe impl GlobalAlloc for Guarded {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `layout` is passed on unchanged.
        let p = unsafe { self.get(layout, false) };
        if p.is_null() {
            // SAFETY: as above.
            return self.failed(|| unsafe { self.get(layout, false) });
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `layout` is passed on unchanged.
        let p = unsafe { self.get(layout, true) };
        if p.is_null() {
            // SAFETY: as above.
            return self.failed(|| unsafe { self.get(layout, true) });
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from mimalloc, with `layout`.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract (`ptr` from this allocator with `layout`, a valid
        // `new_size`) is passed on unchanged; a failed realloc leaves `ptr` allocated, so
        // retrying with the same arguments is allowed.
        let p = unsafe { self.resize(ptr, layout, new_size) };
        if p.is_null() {
            // SAFETY: as above.
            return self.failed(|| unsafe { self.resize(ptr, layout, new_size) });
        }
        p
    }
}

fn main() {
    ferrix_eval::memory::arm_reserve();
    // A panic that comes of running out of memory (bumpalo's, in a REPL) is reported as
    // `error: out of memory` where it is caught; the default hook's message and backtrace
    // (which would need memory too) are skipped.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !ferrix_eval::memory::out_of_memory() {
            default_hook(info);
        }
    }));
    let code = ferrix::main_entry();
    // Everything that needed dropping has been dropped; what is left is the allocator's
    // exit-time bookkeeping (returning every page of a large heap to the system), which the
    // process's end does anyway.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; no Rust state is used after it.
    unsafe { libc::_exit(code) }
}
