//! Where concatenated strings go. A loop that appends to a string (`go (n - 1)
//! "${acc}${x}"`) would copy the whole string at every step and keep every copy, since the
//! arena frees nothing. Long results instead go to an append area, and a concatenation whose
//! first piece ends exactly where that area's free space starts writes only the rest there:
//! no string in the area reaches past that point, so the bytes beyond are nobody's.

use std::cell::Cell;

use crate::Evaluator;

/// Results shorter than this are ordinary arena strings.
const APPEND_MIN: usize = 256;
/// The least size of a new region of the append area.
const REGION: usize = 64 * 1024;

pub(crate) struct AppendArea {
    /// Start of the free space in the current region, and its end.
    top: Cell<*mut u8>,
    end: Cell<*mut u8>,
}

impl AppendArea {
    pub(crate) fn new() -> Self {
        AppendArea {
            top: Cell::new(std::ptr::null_mut()),
            end: Cell::new(std::ptr::null_mut()),
        }
    }

    /// Forgets the current region (a collection has moved its strings).
    pub(crate) fn reset(&self) {
        self.top.set(std::ptr::null_mut());
        self.end.set(std::ptr::null_mut());
    }

    fn free(&self) -> usize {
        self.end.get() as usize - self.top.get() as usize
    }
}

impl<'a> Evaluator<'a> {
    /// The concatenation of `pieces`, as bytes that live as long as the arena.
    pub(crate) fn concat_bytes(&self, pieces: &[&[u8]]) -> &'a [u8] {
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        if len < APPEND_MIN {
            let out: &'a mut [u8] = self.bump().alloc_slice_fill_copy(len, 0);
            let mut at = 0;
            for p in pieces {
                out[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            return out;
        }
        let area = &self.append;
        let top = area.top.get();
        if let [first, rest @ ..] = pieces {
            let grow = len - first.len();
            if !first.is_empty()
                && first.as_ptr_range().end == top.cast_const()
                && area.free() >= grow
            {
                // SAFETY: `top..top + grow` is free space of the current region, which no
                // string covers, and the pieces all end at or below `top`. `first` lies in
                // the current region: it ends at `top`, above the region's start (a region
                // is filled as soon as it is made), and only the area writes the region's
                // bytes, never a string across its edge. So the result, `first`'s bytes
                // and the new ones, is made from `top`, whose provenance is the whole
                // region's: `first`'s own covers only its bytes (as Stacked Borrows has it).
                unsafe {
                    write_pieces(top, rest);
                    area.top.set(top.add(grow));
                    return std::slice::from_raw_parts(top.sub(first.len()), len);
                }
            }
        }
        if area.free() < len {
            let size = REGION.max(len.saturating_mul(4));
            let layout = std::alloc::Layout::from_size_align(size, 1).expect("a byte region");
            let start = self.bump().alloc_layout(layout).as_ptr();
            area.top.set(start);
            // SAFETY: the region is `size` bytes long.
            area.end.set(unsafe { start.add(size) });
        }
        let top = area.top.get();
        // SAFETY: as above; the region has room for `len` bytes.
        unsafe {
            write_pieces(top, pieces);
            area.top.set(top.add(len));
            std::slice::from_raw_parts(top, len)
        }
    }
}

/// Copies the pieces one after another to `at`.
///
/// # Safety
/// `at` must have room for all of them, outside every piece.
unsafe fn write_pieces(mut at: *mut u8, pieces: &[&[u8]]) {
    for p in pieces {
        std::ptr::copy_nonoverlapping(p.as_ptr(), at, p.len());
        at = at.add(p.len());
    }
}
