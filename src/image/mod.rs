//! Images: HALCON's iconic objects, here as handles. An image has a pixel type, a size and
//! one or more channels of row-major pixels of that size and type.

mod buffer;
mod pixel_type;

use std::ptr::NonNull;

pub use buffer::{CHANNEL_ALIGNMENT, ChannelBuffer, ClearProc};
pub use pixel_type::PixelType;

use crate::error::{HalconError, Result};
use crate::handle::{HandleKind, HandleObject};

/// The largest width or height accepted (HALCON XL's limit, 2^30).
pub const MAX_IMAGE_DIMENSION: i64 = 1 << 30;
/// The largest number of pixels per channel accepted (2^32).
pub const MAX_IMAGE_PIXELS: u64 = 1 << 32;
/// The largest number of channels accepted.
pub const MAX_IMAGE_CHANNELS: usize = 1 << 16;

/// Width and height of an image, checked against the limits above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSize {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// Why a size was refused: which dimension, and the message.
#[derive(Debug)]
pub enum SizeError {
    /// The width is out of range.
    Width(String),
    /// The height is out of range.
    Height(String),
    /// Each is fine, but the product is too large.
    Area(String),
}

impl ImageSize {
    /// Checks a size given by the caller. Overflow and absurd sizes are errors, never
    /// allocations.
    pub fn new(width: i64, height: i64) -> std::result::Result<ImageSize, SizeError> {
        let range = |name: &str, value: i64| {
            format!("{name} {value} is out of range (allowed: 1 to {MAX_IMAGE_DIMENSION})")
        };
        if !(1..=MAX_IMAGE_DIMENSION).contains(&width) {
            return Err(SizeError::Width(range("width", width)));
        }
        if !(1..=MAX_IMAGE_DIMENSION).contains(&height) {
            return Err(SizeError::Height(range("height", height)));
        }
        let pixels = width as u64 * height as u64;
        if pixels > MAX_IMAGE_PIXELS {
            return Err(SizeError::Area(format!(
                "{width} x {height} = {pixels} pixels exceeds the limit of {MAX_IMAGE_PIXELS} pixels per channel"
            )));
        }
        Ok(ImageSize { width: width as usize, height: height as usize })
    }

    /// Pixels per channel.
    pub fn pixels(self) -> usize {
        self.width * self.height
    }
}

/// An image.
pub struct Image {
    pixel_type: PixelType,
    size: ImageSize,
    channels: Vec<ChannelBuffer>,
}

impl HandleObject for Image {
    const KIND: HandleKind = HandleKind::Image;
}

impl Image {
    /// Bytes per channel of an image of this type and size.
    pub fn channel_length(pixel_type: PixelType, size: ImageSize) -> usize {
        // At most 2^32 pixels of at most 8 bytes: no overflow on 64-bit targets.
        size.pixels() * pixel_type.size()
    }

    /// An image from channel buffers that have the right length for the type and size.
    pub fn from_channels(
        pixel_type: PixelType,
        size: ImageSize,
        channels: Vec<ChannelBuffer>,
    ) -> Result<Image> {
        let length = Self::channel_length(pixel_type, size);
        if channels.is_empty() || channels.len() > MAX_IMAGE_CHANNELS {
            return Err(HalconError::new(
                crate::error::H_ERR_WRNUMCHAN,
                format!(
                    "an image needs 1 to {MAX_IMAGE_CHANNELS} channels, got {}",
                    channels.len()
                ),
            ));
        }
        if let Some(bad) = channels.iter().position(|channel| channel.bytes().len() != length) {
            return Err(HalconError::new(
                crate::error::H_ERR_DL_INTERNAL,
                format!(
                    "channel {bad} has {} bytes, expected {length}",
                    channels[bad].bytes().len()
                ),
            ));
        }
        Ok(Image { pixel_type, size, channels })
    }

    /// An image of `channel_count` channels, all pixels 0 (`gen_image_const`).
    pub fn zeroed(pixel_type: PixelType, size: ImageSize, channel_count: usize) -> Result<Image> {
        let length = Self::channel_length(pixel_type, size);
        let channels = (0..channel_count)
            .map(|_| ChannelBuffer::zeroed(length))
            .collect::<Result<Vec<_>>>()?;
        Self::from_channels(pixel_type, size, channels)
    }

    /// An image holding copies of the caller's row-major channels (`gen_image1`, `gen_image3`).
    ///
    /// # Safety
    /// Every pointer must be readable for `channel_length(pixel_type, size)` bytes.
    pub unsafe fn copied_from(
        pixel_type: PixelType,
        size: ImageSize,
        sources: &[NonNull<u8>],
    ) -> Result<Image> {
        let length = Self::channel_length(pixel_type, size);
        let channels = sources
            .iter()
            .map(|source| {
                let bytes = unsafe { std::slice::from_raw_parts(source.as_ptr(), length) };
                ChannelBuffer::copy_of(bytes)
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_channels(pixel_type, size, channels)
    }

    /// An image using the caller's memory (`gen_image1_extern`). `clear` is called once per
    /// distinct pointer when the image dies; on error it is not called and the memory stays
    /// the caller's.
    ///
    /// # Safety
    /// Every pointer must stay valid for reads and writes of the channel length until
    /// `clear` is called for it (or, without `clear`, as long as the image lives).
    pub unsafe fn using_external(
        pixel_type: PixelType,
        size: ImageSize,
        pointers: &[NonNull<u8>],
        clear: Option<ClearProc>,
    ) -> Result<Image> {
        let length = Self::channel_length(pixel_type, size);
        let channels = pointers
            .iter()
            .enumerate()
            .map(|(at, &pointer)| {
                // The same memory passed for several channels is cleared once.
                let first_use = !pointers[..at].contains(&pointer);
                unsafe { ChannelBuffer::external(pointer, length, clear.filter(|_| first_use)) }
            })
            .collect();
        Self::from_channels(pixel_type, size, channels)
    }

    /// A copy with its own pixel memory.
    pub fn deep_copy(&self) -> Result<Image> {
        let channels = self
            .channels
            .iter()
            .map(|channel| ChannelBuffer::copy_of(channel.bytes()))
            .collect::<Result<Vec<_>>>()?;
        Self::from_channels(self.pixel_type, self.size, channels)
    }

    /// The pixel type.
    pub fn pixel_type(&self) -> PixelType {
        self.pixel_type
    }

    /// The size.
    pub fn size(&self) -> ImageSize {
        self.size
    }

    /// The channels.
    pub fn channels(&self) -> &[ChannelBuffer] {
        &self.channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_before_any_allocation() {
        assert!(matches!(ImageSize::new(0, 5), Err(SizeError::Width(_))));
        assert!(matches!(ImageSize::new(5, -1), Err(SizeError::Height(_))));
        assert!(matches!(ImageSize::new(1 << 30, 1 << 30), Err(SizeError::Area(_))));
        assert!(matches!(ImageSize::new(i64::MAX, 1), Err(SizeError::Width(_))));
        assert_eq!(ImageSize::new(640, 480).unwrap().pixels(), 307_200);
    }

    #[test]
    fn copies_are_independent_and_aligned() {
        let size = ImageSize::new(3, 2).unwrap();
        let data: Vec<u16> = (0..6).collect();
        let source = NonNull::new(data.as_ptr() as *mut u8).unwrap();
        let image = unsafe { Image::copied_from(PixelType::Uint2, size, &[source]) }.unwrap();
        assert_eq!(image.channels()[0].bytes().len(), 12);
        assert_eq!(image.channels()[0].pointer() as usize % CHANNEL_ALIGNMENT, 0);
        let copy = image.deep_copy().unwrap();
        assert_eq!(copy.channels()[0].bytes(), image.channels()[0].bytes());
        assert_ne!(copy.channels()[0].pointer(), image.channels()[0].pointer());
    }
}
