//! HALCON's pixel types and their storage sizes.

use std::fmt;

/// The pixel type of an image, by HALCON name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelType {
    /// `'byte'`: unsigned 8-bit.
    Byte,
    /// `'int1'`: signed 8-bit.
    Int1,
    /// `'uint2'`: unsigned 16-bit.
    Uint2,
    /// `'int2'`: signed 16-bit.
    Int2,
    /// `'int4'`: signed 32-bit.
    Int4,
    /// `'int8'`: signed 64-bit.
    Int8,
    /// `'real'`: 32-bit float.
    Real,
}

impl PixelType {
    /// Every supported type, in HALCON's usual listing order.
    pub const ALL: [PixelType; 7] = [
        PixelType::Byte,
        PixelType::Int1,
        PixelType::Uint2,
        PixelType::Int2,
        PixelType::Int4,
        PixelType::Int8,
        PixelType::Real,
    ];

    /// The HALCON name, e.g. `"byte"`.
    pub fn name(self) -> &'static str {
        match self {
            PixelType::Byte => "byte",
            PixelType::Int1 => "int1",
            PixelType::Uint2 => "uint2",
            PixelType::Int2 => "int2",
            PixelType::Int4 => "int4",
            PixelType::Int8 => "int8",
            PixelType::Real => "real",
        }
    }

    /// Parses a HALCON name.
    pub fn from_name(name: &str) -> Option<PixelType> {
        PixelType::ALL.into_iter().find(|pixel_type| pixel_type.name() == name)
    }

    /// Bytes per pixel.
    pub fn size(self) -> usize {
        match self {
            PixelType::Byte | PixelType::Int1 => 1,
            PixelType::Uint2 | PixelType::Int2 => 2,
            PixelType::Int4 | PixelType::Real => 4,
            PixelType::Int8 => 8,
        }
    }

    /// A comma-separated list of the supported names, for messages.
    pub fn names_list() -> String {
        PixelType::ALL.map(|pixel_type| format!("'{}'", pixel_type.name())).join(", ")
    }
}

impl fmt::Display for PixelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
