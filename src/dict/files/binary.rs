//! dlopt's compact binary dict format (`'hdict'` file type; not HALCON's own layout).
//!
//! ```text
//! header   magic "DLOPTDCT" | major u16 | minor u16 | reserved u32
//!          | payload length u64 | payload CRC-32 u32 | reserved u32        (32 bytes)
//! payload  dict
//! dict     entry count u32, then per entry: key, value
//! key      0 i64 (integer key) | 1 string
//! value    0 tuple | 1 image
//! tuple    element count u32, then elements:
//!          0 i64 | 1 f64 | 2 string | 3 dict | 4 NULL handle | 5 undefined
//! string   byte length u32, UTF-8 bytes (no NUL)
//! image    pixel type u8 (index into PixelType::ALL), width u64, height u64,
//!          channel count u32, then each channel's row-major bytes
//! ```
//!
//! All numbers are little-endian. A reader checks every length against the bytes that are
//! left before it allocates, so a truncated or hostile file is an error, never a crash or a
//! huge allocation. Unknown major versions are refused; newer minor versions are read.

use crate::error::{
    H_ERR_FTS1, H_ERR_HANDLE_CLEARED, H_ERR_HANDLE_NOSER, H_ERR_WFV, HalconError, Result,
};
use crate::handle::{HandleKind, HandleRef};
use crate::image::{ChannelBuffer, Image, ImageSize, PixelType};
use crate::tuple::{Element, HandleValue, Tuple, TupleString};

use super::super::copy::UnserializablePolicy;
use super::super::nesting::{NestingPath, check_depth};
use super::super::{Dict, DictKey, DictValue};

/// The first bytes of every binary dict file.
pub const MAGIC: &[u8; 8] = b"DLOPTDCT";
const MAJOR_VERSION: u16 = 1;
const MINOR_VERSION: u16 = 0;
const HEADER_LENGTH: usize = 32;

/// Whether `bytes` start like a binary dict file.
pub fn looks_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Encodes the dict behind `dict` with everything nested in it.
pub fn encode(dict: &HandleRef, policy: UnserializablePolicy) -> Result<Vec<u8>> {
    let mut payload = Vec::new();
    let mut path = NestingPath::default();
    Encoder { out: &mut payload, path: &mut path, policy }.dict(dict)?;
    let mut bytes = Vec::with_capacity(HEADER_LENGTH + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&MAJOR_VERSION.to_le_bytes());
    bytes.extend_from_slice(&MINOR_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    path: &'a mut NestingPath,
    policy: UnserializablePolicy,
}

impl Encoder<'_> {
    fn u32(&mut self, value: usize, what: &str) -> Result<()> {
        let value = u32::try_from(value).map_err(|_| {
            HalconError::new(
                H_ERR_HANDLE_NOSER,
                format!("{what} {value} exceeds the format's limit"),
            )
        })?;
        self.out.extend_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn string(&mut self, text: &str) -> Result<()> {
        self.u32(text.len(), "string length")?;
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn dict(&mut self, handle: &HandleRef) -> Result<()> {
        let dict = handle.object_arc::<Dict>()?;
        self.path.enter(handle.number())?;
        let written = self.entries(&dict);
        self.path.leave();
        written
    }

    fn entries(&mut self, dict: &Dict) -> Result<()> {
        let mut entries = dict.snapshot();
        if self.policy == UnserializablePolicy::Substitute {
            // An image that is gone cannot become a NULL handle: its entry is left out.
            entries.retain(
                |(_, value)| !matches!(value, DictValue::Object(image) if image.is_cleared()),
            );
        }
        self.u32(entries.len(), "entry count")?;
        for (key, value) in &entries {
            match key {
                DictKey::Integer(value) => {
                    self.out.push(0);
                    self.out.extend_from_slice(&value.to_le_bytes());
                }
                DictKey::String(text) => {
                    self.out.push(1);
                    self.string(text)?;
                }
            }
            self.value(value).map_err(|error| error.context(format_args!("key {key}")))?;
        }
        Ok(())
    }

    fn value(&mut self, value: &DictValue) -> Result<()> {
        match value {
            DictValue::Tuple(tuple) => {
                self.out.push(0);
                self.u32(tuple.len(), "tuple length")?;
                for element in tuple.elements() {
                    self.element(element)?;
                }
                Ok(())
            }
            DictValue::Object(image) => {
                self.out.push(1);
                self.image(image)
            }
        }
    }

    fn element(&mut self, element: &Element) -> Result<()> {
        match element {
            Element::Integer(value) => {
                self.out.push(0);
                self.out.extend_from_slice(&value.to_le_bytes());
            }
            Element::Real(value) => {
                self.out.push(1);
                self.out.extend_from_slice(&value.to_bits().to_le_bytes());
            }
            Element::String(text) => {
                self.out.push(2);
                self.string(text.as_str())?;
            }
            Element::Undefined => self.out.push(5),
            Element::Handle(value) => {
                let outcome = match value.as_ref() {
                    Ok(handle) if handle.kind() == HandleKind::Dict => {
                        let mark = self.out.len();
                        self.out.push(3);
                        let outcome = self.dict(handle);
                        if outcome.is_err() {
                            self.out.truncate(mark);
                        }
                        outcome
                    }
                    Ok(handle) => Err(HalconError::new(
                        H_ERR_HANDLE_NOSER,
                        format!(
                            "a '{}' handle cannot be written to a file",
                            handle.kind().semantic_type()
                        ),
                    )),
                    Err(error) => Err(error),
                };
                match outcome {
                    Ok(()) => {}
                    Err(error) if self.substitutes(&error) => self.out.push(4),
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(())
    }

    fn substitutes(&self, error: &HalconError) -> bool {
        self.policy == UnserializablePolicy::Substitute
            && [
                H_ERR_HANDLE_NOSER,
                H_ERR_HANDLE_CLEARED,
                crate::error::H_ERR_HANDLE_NULL,
                crate::error::H_ERR_WHDL,
            ]
            .contains(&error.code)
    }

    fn image(&mut self, handle: &HandleRef) -> Result<()> {
        let image = handle.object::<Image>()?;
        let type_index = PixelType::ALL.iter().position(|&t| t == image.pixel_type()).unwrap_or(0);
        self.out.push(type_index as u8);
        self.out.extend_from_slice(&(image.size().width as u64).to_le_bytes());
        self.out.extend_from_slice(&(image.size().height as u64).to_le_bytes());
        self.u32(image.channels().len(), "channel count")?;
        for channel in image.channels() {
            self.out.extend_from_slice(channel.bytes());
        }
        Ok(())
    }
}

fn corrupt(message: impl Into<String>) -> HalconError {
    HalconError::new(H_ERR_FTS1, message.into())
}

/// Decodes a binary dict file.
pub fn decode(bytes: &[u8]) -> Result<Dict> {
    if bytes.len() < HEADER_LENGTH || !looks_binary(bytes) {
        return Err(HalconError::new(
            H_ERR_WFV,
            "not a dlopt binary dict file (wrong magic bytes)",
        ));
    }
    let mut header = Reader { bytes: &bytes[MAGIC.len()..HEADER_LENGTH], at: 0 };
    let major = header.u16()?;
    let minor = header.u16()?;
    if major != MAJOR_VERSION {
        return Err(HalconError::new(
            H_ERR_WFV,
            format!(
                "dict file format version {major}.{minor} is not supported (this library reads {MAJOR_VERSION}.x)"
            ),
        ));
    }
    header.u32()?;
    let length = header.u64()?;
    let checksum = header.u32()?;
    let payload = &bytes[HEADER_LENGTH..];
    if length != payload.len() as u64 {
        return Err(corrupt(format!(
            "the file is truncated or padded: the header announces {length} payload bytes, the file has {}",
            payload.len()
        )));
    }
    if crc32fast::hash(payload) != checksum {
        return Err(corrupt("the file is corrupt: payload checksum mismatch"));
    }
    let mut reader = Reader { bytes: payload, at: 0 };
    let dict = reader.dict(1)?;
    if reader.at != payload.len() {
        return Err(corrupt(format!(
            "{} unexpected bytes after the dict",
            payload.len() - reader.at
        )));
    }
    Ok(dict)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8]> {
        if count > self.bytes.len() - self.at {
            return Err(corrupt(format!(
                "the file ends early: {count} bytes needed at offset {}, {} left",
                self.at,
                self.bytes.len() - self.at
            )));
        }
        let slice = &self.bytes[self.at..self.at + count];
        self.at += count;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<&'a str> {
        let length = self.u32()? as usize;
        let bytes = self.take(length)?;
        let text = std::str::from_utf8(bytes).map_err(|_| {
            corrupt(format!("invalid UTF-8 in a string at offset {}", self.at - length))
        })?;
        if text.contains('\0') {
            return Err(corrupt("a string contains a NUL character"));
        }
        Ok(text)
    }

    fn dict(&mut self, depth: usize) -> Result<Dict> {
        check_depth(depth)?;
        let count = self.u32()?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let key = match self.u8()? {
                0 => DictKey::Integer(self.u64()? as i64),
                1 => DictKey::String(self.string()?.into()),
                tag => {
                    return Err(corrupt(format!(
                        "unknown key tag {tag} at offset {}",
                        self.at - 1
                    )));
                }
            };
            let value = match self.u8()? {
                0 => DictValue::Tuple(self.tuple(depth)?),
                1 => DictValue::Object(HandleRef::new(self.image()?)?),
                tag => {
                    return Err(corrupt(format!(
                        "unknown value tag {tag} at offset {}",
                        self.at - 1
                    )));
                }
            };
            entries.push((key, value));
        }
        Ok(Dict::from_entries(entries))
    }

    fn tuple(&mut self, depth: usize) -> Result<Tuple> {
        let count = self.u32()?;
        // Every element takes at least one byte: the count cannot outrun the file.
        if count as usize > self.bytes.len() - self.at {
            return Err(corrupt(format!("a tuple of {count} elements does not fit in the file")));
        }
        let mut elements = Vec::with_capacity(count as usize);
        for _ in 0..count {
            elements.push(match self.u8()? {
                0 => Element::Integer(self.u64()? as i64),
                1 => Element::Real(f64::from_bits(self.u64()?)),
                2 => Element::String(TupleString::new(self.string()?)?),
                3 => Element::handle(HandleRef::new(self.dict(depth + 1)?)?),
                4 => Element::Handle(HandleValue::Invalid {
                    number: 0,
                    code: crate::error::H_ERR_HANDLE_NULL,
                }),
                5 => Element::Undefined,
                tag => {
                    return Err(corrupt(format!(
                        "unknown element tag {tag} at offset {}",
                        self.at - 1
                    )));
                }
            });
        }
        Ok(Tuple::from_elements(elements))
    }

    fn image(&mut self) -> Result<Image> {
        let type_index = self.u8()?;
        let pixel_type = *PixelType::ALL
            .get(type_index as usize)
            .ok_or_else(|| corrupt(format!("unknown pixel type {type_index}")))?;
        let width = self.u64()?;
        let height = self.u64()?;
        let size =
            ImageSize::new(width.min(i64::MAX as u64) as i64, height.min(i64::MAX as u64) as i64)
                .map_err(|_| corrupt(format!("invalid image size {width} x {height}")))?;
        let channel_count = self.u32()? as usize;
        let length = Image::channel_length(pixel_type, size);
        if channel_count == 0
            || length
                .checked_mul(channel_count)
                .is_none_or(|total| total > self.bytes.len() - self.at)
        {
            return Err(corrupt(format!(
                "an image of {channel_count} channels of {width} x {height} '{pixel_type}' pixels does not fit in the file"
            )));
        }
        let channels = (0..channel_count)
            .map(|_| ChannelBuffer::copy_of(self.take(length)?))
            .collect::<Result<Vec<_>>>()?;
        Image::from_channels(pixel_type, size, channels)
    }
}
