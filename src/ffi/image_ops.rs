//! The image operators: create images from pixel data, read their pointers and properties,
//! and release them (`clear_obj`).
//!
//! An `Hobject` an operator hands out is a reference owned by the caller, released with
//! `clear_obj`. Dicts that store the image hold their own references, so the image lives
//! while any reference remains.

use std::ptr::NonNull;

use super::boundary::{input, operator, output, output_object, write_tuple};
use super::types::{Hobject, Htuple};
use crate::error::{H_ERR_WRNUMCHAN, HalconError, Herror, Result};
use crate::handle::HandleRef;
use crate::image::{ClearProc, Image, ImageSize, PixelType, SizeError};
use crate::tuple::params::Param;
use crate::tuple::{Element, Tuple};

/// Looks up an input image `Hobject` (iconic parameter `name`).
pub(crate) fn image_from_object(object: Hobject, name: &str) -> Result<HandleRef> {
    let handle = HandleRef::from_number(object).map_err(|error| error.context(name))?;
    handle.object::<Image>().map_err(|error| error.context(name))?;
    Ok(handle)
}

fn parse_pixel_type(param: &Param<'_>) -> Result<PixelType> {
    let name = param.string()?;
    PixelType::from_name(name).ok_or_else(|| {
        param.wrong_value(format_args!(
            "unknown pixel type '{name}' (supported: {})",
            PixelType::names_list()
        ))
    })
}

fn image_size(width: &Param<'_>, height: &Param<'_>) -> Result<ImageSize> {
    ImageSize::new(width.integer()?, height.integer()?).map_err(|error| match error {
        SizeError::Width(message) | SizeError::Area(message) => width.wrong_value(message),
        SizeError::Height(message) => height.wrong_value(message),
    })
}

fn pixel_address(param: &Param<'_>) -> Result<NonNull<u8>> {
    let address = param.integer()?;
    NonNull::new(address as usize as *mut u8)
        .ok_or_else(|| param.wrong_value("the pixel pointer is NULL"))
}

/// Registers a new image and hands its first reference to the caller.
fn hand_out(out: &mut Hobject, image: Image) -> Result<()> {
    let handle = HandleRef::new(image)?;
    handle.add_c_reference()?;
    *out = handle.number();
    Ok(())
}

struct ImageParams<'a> {
    pixel_type: PixelType,
    size: ImageSize,
    pointers: Vec<Param<'a>>,
}

/// Reads the shared `Type, Width, Height, pointers...` parameters of the gen_image family.
unsafe fn image_params<'a>(
    pixel_type: Htuple,
    width: Htuple,
    height: Htuple,
    pointers: &[(Htuple, &'static str)],
) -> Result<ImageParams<'a>> {
    let type_param = unsafe { input(pixel_type, 1, "Type") }?;
    let width = unsafe { input(width, 2, "Width") }?;
    let height = unsafe { input(height, 3, "Height") }?;
    let pixel_type = parse_pixel_type(&type_param)?;
    let size = image_size(&width, &height)?;
    let pointers = pointers
        .iter()
        .enumerate()
        .map(|(at, &(tuple, name))| unsafe { input(tuple, 4 + at as u32, name) })
        .collect::<Result<Vec<_>>>()?;
    Ok(ImageParams { pixel_type, size, pointers })
}

/// Creates a one-channel image of `Type` (`'byte'`, `'int1'`, `'uint2'`, `'int2'`,
/// `'int4'`, `'int8'`, `'real'`), `Width` x `Height`, copying the row-major pixels at
/// `PixelPointer` (an integer holding the address). The caller keeps its buffer.
///
/// `*Image` receives a reference owned by the caller (release with `clear_obj`). Errors:
/// unknown type (1301), width / height outside 1..2^30 or more than 2^32 pixels (1302 /
/// 1303), NULL pointer (1304), not enough memory (6001).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gen_image1(
    image: *mut Hobject,
    pixel_type: Htuple,
    width: Htuple,
    height: Htuple,
    pixel_pointer: Htuple,
) -> Herror {
    operator("gen_image1", || {
        let out = unsafe { output_object(image, 1, "Image") }?;
        let params =
            unsafe { image_params(pixel_type, width, height, &[(pixel_pointer, "PixelPointer")]) }?;
        let sources = params.pointers.iter().map(pixel_address).collect::<Result<Vec<_>>>()?;
        let created = unsafe { Image::copied_from(params.pixel_type, params.size, &sources) }?;
        hand_out(out, created)
    })
}

/// Creates a three-channel image, copying the channels at `PixelPointerRed`,
/// `PixelPointerGreen` and `PixelPointerBlue`. As `gen_image1` otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gen_image3(
    image_rgb: *mut Hobject,
    pixel_type: Htuple,
    width: Htuple,
    height: Htuple,
    pixel_pointer_red: Htuple,
    pixel_pointer_green: Htuple,
    pixel_pointer_blue: Htuple,
) -> Herror {
    operator("gen_image3", || {
        let out = unsafe { output_object(image_rgb, 1, "ImageRGB") }?;
        let params = unsafe {
            image_params(
                pixel_type,
                width,
                height,
                &[
                    (pixel_pointer_red, "PixelPointerRed"),
                    (pixel_pointer_green, "PixelPointerGreen"),
                    (pixel_pointer_blue, "PixelPointerBlue"),
                ],
            )
        }?;
        let sources = params.pointers.iter().map(pixel_address).collect::<Result<Vec<_>>>()?;
        let created = unsafe { Image::copied_from(params.pixel_type, params.size, &sources) }?;
        hand_out(out, created)
    })
}

/// Creates a one-channel image whose pixels are all 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gen_image_const(
    image: *mut Hobject,
    pixel_type: Htuple,
    width: Htuple,
    height: Htuple,
) -> Herror {
    operator("gen_image_const", || {
        let out = unsafe { output_object(image, 1, "Image") }?;
        let params = unsafe { image_params(pixel_type, width, height, &[]) }?;
        hand_out(out, Image::zeroed(params.pixel_type, params.size, 1)?)
    })
}

fn clear_proc(param: &Param<'_>) -> Result<Option<ClearProc>> {
    let address = param.integer()?;
    // SAFETY: the caller passes the address of a `void (*)(void *)` function, or 0.
    Ok(unsafe { std::mem::transmute::<usize, Option<ClearProc>>(address as usize) })
}

/// Creates a one-channel image that uses the caller's memory at `PixelPointer` without
/// copying. `ClearProc` is the address of a `void clear(void *pointer)` function, or 0: it
/// is called exactly once, with `PixelPointer`, when the image's last reference goes (the
/// caller's `clear_obj`, dicts that stored it, ...). The memory must stay valid until then.
/// On error nothing is taken over and `ClearProc` is not called.
///
/// `ClearProc` may run on any thread that releases the last reference.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gen_image1_extern(
    image: *mut Hobject,
    pixel_type: Htuple,
    width: Htuple,
    height: Htuple,
    pixel_pointer: Htuple,
    clear_procedure: Htuple,
) -> Herror {
    operator("gen_image1_extern", || {
        let out = unsafe { output_object(image, 1, "Image") }?;
        let params =
            unsafe { image_params(pixel_type, width, height, &[(pixel_pointer, "PixelPointer")]) }?;
        let clear = clear_proc(&unsafe { input(clear_procedure, 5, "ClearProc") }?)?;
        let pointers = params.pointers.iter().map(pixel_address).collect::<Result<Vec<_>>>()?;
        let created =
            unsafe { Image::using_external(params.pixel_type, params.size, &pointers, clear) }?;
        hand_out(out, created)
    })
}

/// Creates a three-channel image using the caller's memory (see `gen_image1_extern`).
/// `ClearProc` is called once for each distinct channel pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gen_image3_extern(
    image: *mut Hobject,
    pixel_type: Htuple,
    width: Htuple,
    height: Htuple,
    pointer_red: Htuple,
    pointer_green: Htuple,
    pointer_blue: Htuple,
    clear_procedure: Htuple,
) -> Herror {
    operator("gen_image3_extern", || {
        let out = unsafe { output_object(image, 1, "Image") }?;
        let params = unsafe {
            image_params(
                pixel_type,
                width,
                height,
                &[
                    (pointer_red, "PointerRed"),
                    (pointer_green, "PointerGreen"),
                    (pointer_blue, "PointerBlue"),
                ],
            )
        }?;
        let clear = clear_proc(&unsafe { input(clear_procedure, 7, "ClearProc") }?)?;
        let pointers = params.pointers.iter().map(pixel_address).collect::<Result<Vec<_>>>()?;
        let created =
            unsafe { Image::using_external(params.pixel_type, params.size, &pointers, clear) }?;
        hand_out(out, created)
    })
}

fn write_properties(
    image: &Image,
    type_out: &mut Htuple,
    width: &mut Htuple,
    height: &mut Htuple,
) -> Result<()> {
    write_tuple(type_out, Tuple::single(Element::string(image.pixel_type().name())?));
    write_tuple(width, Tuple::from_integers([image.size().width as i64]));
    write_tuple(height, Tuple::from_integers([image.size().height as i64]));
    Ok(())
}

fn pointer_tuple(image: &Image, channel: usize) -> Tuple {
    Tuple::from_integers([image.channels()[channel].pointer() as usize as i64])
}

/// Returns the first channel's pixel pointer (as an integer), type, width and height. The
/// pointer stays valid while the image lives; writing through it changes the image for
/// everyone who shares it (dicts, copies made by `set_dict_object`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_image_pointer1(
    image: Hobject,
    pointer: *mut Htuple,
    pixel_type: *mut Htuple,
    width: *mut Htuple,
    height: *mut Htuple,
) -> Herror {
    operator("get_image_pointer1", || {
        let handle = image_from_object(image, "Image")?;
        let pointer = unsafe { output(pointer, 1, "Pointer") }?;
        let type_out = unsafe { output(pixel_type, 2, "Type") }?;
        let width = unsafe { output(width, 3, "Width") }?;
        let height = unsafe { output(height, 4, "Height") }?;
        let image = handle.object::<Image>()?;
        write_tuple(pointer, pointer_tuple(&image, 0));
        write_properties(&image, type_out, width, height)
    })
}

/// Returns the three channel pointers, type, width and height of a three-channel image.
/// Errors: the image does not have exactly 3 channels `H_ERR_WRNUMCHAN` (3359).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_image_pointer3(
    image_rgb: Hobject,
    pointer_red: *mut Htuple,
    pointer_green: *mut Htuple,
    pointer_blue: *mut Htuple,
    pixel_type: *mut Htuple,
    width: *mut Htuple,
    height: *mut Htuple,
) -> Herror {
    operator("get_image_pointer3", || {
        let handle = image_from_object(image_rgb, "ImageRGB")?;
        let red = unsafe { output(pointer_red, 1, "PointerRed") }?;
        let green = unsafe { output(pointer_green, 2, "PointerGreen") }?;
        let blue = unsafe { output(pointer_blue, 3, "PointerBlue") }?;
        let type_out = unsafe { output(pixel_type, 4, "Type") }?;
        let width = unsafe { output(width, 5, "Width") }?;
        let height = unsafe { output(height, 6, "Height") }?;
        let image = handle.object::<Image>()?;
        if image.channels().len() != 3 {
            return Err(HalconError::new(
                H_ERR_WRNUMCHAN,
                format!("ImageRGB: expected 3 channels, the image has {}", image.channels().len()),
            ));
        }
        write_tuple(red, pointer_tuple(&image, 0));
        write_tuple(green, pointer_tuple(&image, 1));
        write_tuple(blue, pointer_tuple(&image, 2));
        write_properties(&image, type_out, width, height)
    })
}

/// Returns the width and height of an image.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_image_size(
    image: Hobject,
    width: *mut Htuple,
    height: *mut Htuple,
) -> Herror {
    operator("get_image_size", || {
        let handle = image_from_object(image, "Image")?;
        let width = unsafe { output(width, 1, "Width") }?;
        let height = unsafe { output(height, 2, "Height") }?;
        let image = handle.object::<Image>()?;
        write_tuple(width, Tuple::from_integers([image.size().width as i64]));
        write_tuple(height, Tuple::from_integers([image.size().height as i64]));
        Ok(())
    })
}

/// Returns the number of channels of an image.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn count_channels(
    multi_channel_image: Hobject,
    channels: *mut Htuple,
) -> Herror {
    operator("count_channels", || {
        let handle = image_from_object(multi_channel_image, "MultiChannelImage")?;
        let out = unsafe { output(channels, 1, "Channels") }?;
        let count = handle.object::<Image>()?.channels().len();
        write_tuple(out, Tuple::from_integers([count as i64]));
        Ok(())
    })
}

/// Returns the pixel type name of an image (`'byte'`, `'real'`, ...).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_image_type(image: Hobject, pixel_type: *mut Htuple) -> Herror {
    operator("get_image_type", || {
        let handle = image_from_object(image, "Image")?;
        let out = unsafe { output(pixel_type, 1, "Type") }?;
        let name = handle.object::<Image>()?.pixel_type().name();
        write_tuple(out, Tuple::single(Element::string(name)?));
        Ok(())
    })
}

/// Releases the caller's reference to `Objects` (received from `gen_image1`,
/// `get_dict_object`, ...). The image is destroyed when no dict refers to it either.
/// Releasing a reference the caller does not own (twice, or never received) is an error:
/// `H_ERR_WHDL` (2450) while the object still lives (held by a dict), 2454 once it is gone
/// (destroyed, or cleared by `clear_handle`). 0 is accepted and ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clear_obj(objects: Hobject) -> Herror {
    operator("clear_obj", || {
        if objects == 0 {
            return Ok(());
        }
        HandleRef::release_c_reference(objects).map_err(|error| error.context("Objects"))
    })
}
