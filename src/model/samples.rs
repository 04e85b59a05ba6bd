//! Samples (`DLSample` dicts) to network input: each sample's `'image'` is checked against the
//! model's image geometry and copied into one NCHW float tensor per batch.

use std::sync::Arc;

use dlopt_graph::Tensor;

use crate::dict::{Dict, DictValue, KeyRef};
use crate::error::{
    H_ERR_CNN_INVALID_SHAPE, H_ERR_DL_INPUTS_MISSING, H_ERR_WIT, H_ERR_WRNUMCHAN, HalconError,
    Result,
};
use crate::handle::HandleRef;
use crate::image::{Image, PixelType};

use super::geometry::ImageGeometry;

/// The image of one sample, checked.
pub struct SampleImage {
    /// The image (kept alive while the batch is processed).
    pub image: Arc<Image>,
}

/// Reads and checks the `'image'` of sample `index` of parameter `what` (for messages, e.g.
/// `DLSampleBatch`) in `dict`.
///
/// Errors: no `'image'` key (7783), not an image (7783), pixel type other than `'real'`
/// (9001), wrong channel count (3359), size different from the model's (7735).
pub fn sample_image(
    what: &str,
    index: usize,
    dict: &HandleRef,
    geometry: &ImageGeometry,
) -> Result<SampleImage> {
    let dict =
        dict.object_arc::<Dict>().map_err(|error| error.context(format!("{what}[{index}]")))?;
    let missing = || {
        HalconError::new(
            H_ERR_DL_INPUTS_MISSING,
            format!("{what}[{index}] has no 'image' (an iconic object)"),
        )
    };
    let value =
        dict.snapshot().into_iter().find(|(key, _)| key.as_key_ref() == KeyRef::String("image"));
    let handle = match value {
        Some((_, DictValue::Object(handle))) => handle,
        Some((_, DictValue::Tuple(_))) => {
            return Err(HalconError::new(
                H_ERR_DL_INPUTS_MISSING,
                format!(
                    "{what}[{index}]: 'image' holds a tuple, not an image (use set_dict_object)"
                ),
            ));
        }
        None => return Err(missing()),
    };
    let image = handle
        .object_arc::<Image>()
        .map_err(|error| error.context(format!("{what}[{index}] 'image'")))?;
    if image.pixel_type() != PixelType::Real {
        return Err(HalconError::new(
            H_ERR_WIT,
            format!(
                "{what}[{index}]: 'image' has pixel type '{}', apply_dl_model needs a preprocessed 'real' image",
                image.pixel_type()
            ),
        ));
    }
    let channels = image.channels().len();
    if let Some(expected) = geometry.channels.size() {
        if channels != expected {
            return Err(HalconError::new(
                H_ERR_WRNUMCHAN,
                format!(
                    "{what}[{index}]: 'image' has {channels} channels, the model takes {expected}"
                ),
            ));
        }
    }
    let size = image.size();
    for (name, actual, expected) in [
        ("width", size.width, geometry.width.size()),
        ("height", size.height, geometry.height.size()),
    ] {
        if let Some(expected) = expected {
            if actual != expected {
                return Err(HalconError::new(
                    H_ERR_CNN_INVALID_SHAPE,
                    format!(
                        "{what}[{index}]: 'image' is {} x {}, the model's image_{name} is {expected}",
                        size.width, size.height
                    ),
                ));
            }
        }
    }
    Ok(SampleImage { image })
}

/// Copies `images` (all of one size and channel count) into an NCHW tensor of `batch` images;
/// positions beyond `images.len()` are zero padding.
pub fn batch_tensor(images: &[&SampleImage], batch: usize, first_index: usize) -> Result<Tensor> {
    let first = &images[0].image;
    let (width, height, channels) =
        (first.size().width, first.size().height, first.channels().len());
    for (offset, sample) in images.iter().enumerate() {
        let size = sample.image.size();
        if size.width != width || size.height != height || sample.image.channels().len() != channels
        {
            return Err(HalconError::new(
                H_ERR_CNN_INVALID_SHAPE,
                format!(
                    "DLSampleBatch[{}] is {} x {} x {}, but DLSampleBatch[{first_index}] in the same batch is {width} x {height} x {channels}: \
                     images of one batch must have one size (set 'image_width' / 'image_height' to fix it)",
                    first_index + offset,
                    size.width,
                    size.height,
                    sample.image.channels().len()
                ),
            ));
        }
    }
    let plane = width * height;
    let mut data = Vec::new();
    let total = batch * channels * plane;
    data.try_reserve_exact(total)
        .map_err(|_| HalconError::out_of_memory("a batch of images", total * 4))?;
    for sample in images {
        for channel in sample.image.channels() {
            // Channels are 64-byte aligned 'real' (f32) pixels: no prefix, no remainder.
            let (prefix, pixels, suffix) = unsafe { channel.bytes().align_to::<f32>() };
            debug_assert!(prefix.is_empty() && suffix.is_empty());
            data.extend_from_slice(pixels);
        }
    }
    data.resize(total, 0.0);
    Tensor::from_f32(vec![batch, channels, height, width], data)
        .map_err(|error| HalconError::new(crate::error::H_ERR_DL_INTERNAL, error.message))
}
