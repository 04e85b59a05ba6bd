//! Pixel memory of one image channel: allocated by dlopt (64-byte aligned, for SIMD), or
//! handed over by the caller together with a clear procedure (`gen_image1_extern`).

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc};
use std::ffi::c_void;
use std::ptr::NonNull;

use crate::error::{HalconError, Result};

/// The procedure `gen_image1_extern` calls, exactly once, with the pixel pointer when the
/// image's last reference goes.
pub type ClearProc = unsafe extern "C" fn(*mut c_void);

/// Alignment of channels dlopt allocates.
pub const CHANNEL_ALIGNMENT: usize = 64;

enum Owner {
    /// dlopt allocated it with this layout.
    Allocated(Layout),
    /// The caller's memory; the procedure (if any) frees it.
    External(Option<ClearProc>),
}

/// The pixels of one channel.
pub struct ChannelBuffer {
    pointer: NonNull<u8>,
    length: usize,
    owner: Owner,
}

// The buffer is plain memory; concurrent writes through pointers handed to C are the
// caller's to synchronise (documented at get_image_pointer1).
unsafe impl Send for ChannelBuffer {}
unsafe impl Sync for ChannelBuffer {}

impl ChannelBuffer {
    fn allocate(length: usize, zeroed: bool) -> Result<ChannelBuffer> {
        let layout = Layout::from_size_align(length.max(1), CHANNEL_ALIGNMENT)
            .map_err(|_| HalconError::out_of_memory("an image channel", length))?;
        let raw = unsafe { if zeroed { alloc_zeroed(layout) } else { alloc(layout) } };
        let pointer = NonNull::new(raw)
            .ok_or_else(|| HalconError::out_of_memory("an image channel", length))?;
        Ok(ChannelBuffer { pointer, length, owner: Owner::Allocated(layout) })
    }

    /// A channel of `length` zero bytes.
    pub fn zeroed(length: usize) -> Result<ChannelBuffer> {
        Self::allocate(length, true)
    }

    /// A channel holding a copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Result<ChannelBuffer> {
        let buffer = Self::allocate(bytes.len(), false)?;
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.pointer.as_ptr(), bytes.len())
        };
        Ok(buffer)
    }

    /// Takes over the caller's memory; `clear` (if given) is called once when dropped.
    ///
    /// # Safety
    /// `pointer` must be valid for reads and writes of `length` bytes until `clear` is called
    /// (or, without `clear`, for as long as the image lives).
    pub unsafe fn external(
        pointer: NonNull<u8>,
        length: usize,
        clear: Option<ClearProc>,
    ) -> ChannelBuffer {
        ChannelBuffer { pointer, length, owner: Owner::External(clear) }
    }

    /// The pixel bytes.
    pub fn bytes(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.pointer.as_ptr(), self.length) }
    }

    /// The pixel bytes, for filling a buffer dlopt just created and has not shared yet.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.pointer.as_ptr(), self.length) }
    }

    /// The address C code receives from `get_image_pointer1`.
    pub fn pointer(&self) -> *mut u8 {
        self.pointer.as_ptr()
    }
}

impl Drop for ChannelBuffer {
    fn drop(&mut self) {
        match self.owner {
            Owner::Allocated(layout) => unsafe { dealloc(self.pointer.as_ptr(), layout) },
            Owner::External(Some(clear)) => unsafe { clear(self.pointer.as_ptr().cast()) },
            Owner::External(None) => {}
        }
    }
}
