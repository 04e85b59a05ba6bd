//! Segmentation results: `'segmentation_image'`, the class id per pixel (a `'byte'` image,
//! `'uint2'` beyond 256 classes), and `'segmentation_confidence'`, the winning class's score
//! (a `'real'` image). The output is [N, classes, H, W]; with one class the score is a
//! foreground probability and pixels above 0.5 get class 1.

use std::ptr::NonNull;

use crate::dict::{Dict, KeyRef};
use crate::error::{H_ERR_DL_INVALID_OUTPUT, HalconError, Result};
use crate::handle::HandleRef;
use crate::image::{Image, ImageSize, PixelType};

use super::{BatchOutputs, ModelState};

/// The result keys.
pub const KEYS: &[&str] = &["segmentation_image", "segmentation_confidence"];

fn image_of(pixel_type: PixelType, width: usize, height: usize, bytes: &[u8]) -> Result<HandleRef> {
    let size = ImageSize::new(width as i64, height as i64).map_err(|_| {
        HalconError::new(
            H_ERR_DL_INVALID_OUTPUT,
            format!("output map {width} x {height} is not a valid image size"),
        )
    })?;
    let source = NonNull::new(bytes.as_ptr() as *mut u8).expect("slices are never null");
    // SAFETY: `bytes` holds exactly width x height pixels of `pixel_type`.
    let image = unsafe { Image::copied_from(pixel_type, size, &[source]) }?;
    HandleRef::new(image)
}

pub fn results(
    state: &ModelState,
    outputs: &BatchOutputs<'_>,
    keys: &[String],
) -> Result<Vec<Dict>> {
    let (data, shape) = outputs.first_f32()?;
    if shape.len() != 4 {
        return Err(HalconError::new(
            H_ERR_DL_INVALID_OUTPUT,
            format!(
                "a segmentation model needs an output of shape [N, classes, H, W], got {shape:?}"
            ),
        ));
    }
    let (classes, height, width) = (shape[1], shape[2], shape[3]);
    let (ids, _) = state.class_ids_and_names(classes.max(2))?;
    let plane = height * width;
    let mut dicts = Vec::with_capacity(outputs.samples);
    for sample in 0..outputs.samples {
        let scores = &data[sample * classes * plane..(sample + 1) * classes * plane];
        let mut winners = vec![0usize; plane];
        let mut confidence = vec![0f32; plane];
        if classes == 1 {
            for (at, &p) in scores.iter().enumerate() {
                winners[at] = (p > 0.5) as usize;
                confidence[at] = if p > 0.5 { p } else { 1.0 - p };
            }
        } else {
            confidence.copy_from_slice(&scores[..plane]);
            for class in 1..classes {
                let map = &scores[class * plane..(class + 1) * plane];
                for at in 0..plane {
                    if map[at] > confidence[at] {
                        confidence[at] = map[at];
                        winners[at] = class;
                    }
                }
            }
        }
        let dict = Dict::new();
        for key in keys {
            let image = if key == "segmentation_image" {
                let max_id = ids.iter().copied().max().unwrap_or(0);
                if max_id < 256 {
                    let pixels: Vec<u8> = winners.iter().map(|&c| ids[c] as u8).collect();
                    image_of(PixelType::Byte, width, height, &pixels)?
                } else {
                    let pixels: Vec<u16> = winners.iter().map(|&c| ids[c] as u16).collect();
                    let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_ne_bytes()).collect();
                    image_of(PixelType::Uint2, width, height, &bytes)?
                }
            } else {
                let bytes: Vec<u8> = confidence.iter().flat_map(|p| p.to_ne_bytes()).collect();
                image_of(PixelType::Real, width, height, &bytes)?
            };
            dict.set_object(KeyRef::String(key), image);
        }
        dicts.push(dict);
    }
    Ok(dicts)
}
