//! Errors as HALCON reports them: a HALCON error number plus a precise message.
//!
//! Every operator returns an `Herror`. Inside the library, fallible code returns
//! [`Result<T>`], whose error carries the number and a message that names the parameter and
//! the offending value. The FFI boundary turns it into the returned number and records the
//! message as the calling thread's last error (see [`last_error`]).

pub mod codes;
pub mod last_error;

use std::fmt;

pub use codes::*;

/// The status code every operator returns: `H_MSG_TRUE` (2) on success, a HALCON error
/// number otherwise.
pub type Herror = i32;

/// A HALCON error number with a message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HalconError {
    /// The HALCON error number, e.g. `H_ERR_DICT_KEY` (2894).
    pub code: Herror,
    /// What went wrong, naming the parameter and the value involved.
    pub message: String,
}

/// The result type of every fallible function in the library.
pub type Result<T> = std::result::Result<T, HalconError>;

impl HalconError {
    /// An error with the given number and message.
    pub fn new(code: Herror, message: impl Into<String>) -> Self {
        HalconError { code, message: message.into() }
    }

    /// Wrong type of control parameter `position` (1-based): 1200 + `position`.
    pub fn wrong_type(position: u32, message: impl Into<String>) -> Self {
        Self::new(parameter_code(1200, position), message)
    }

    /// Wrong value of control parameter `position` (1-based): 1300 + `position`.
    pub fn wrong_value(position: u32, message: impl Into<String>) -> Self {
        Self::new(parameter_code(1300, position), message)
    }

    /// Wrong number of values of control parameter `position` (1-based): 1400 + `position`.
    pub fn wrong_count(position: u32, message: impl Into<String>) -> Self {
        Self::new(parameter_code(1400, position), message)
    }

    /// Wrong number of values of iconic (object) parameter `position` (1-based): 1500 + `position`.
    pub fn wrong_object_count(position: u32, message: impl Into<String>) -> Self {
        Self::new(1500 + position.clamp(1, 9) as Herror, message)
    }

    /// Not enough memory for an allocation of `bytes` bytes (`H_ERR_MEM`, 6001).
    pub fn out_of_memory(what: &str, bytes: usize) -> Self {
        Self::new(H_ERR_MEM, format!("not enough memory for {what} ({bytes} bytes)"))
    }

    /// Prefixes the message with context, keeping the number.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

/// HALCON numbers parameters 1..20; positions beyond that share the last number.
fn parameter_code(base: Herror, position: u32) -> Herror {
    base + position.clamp(1, 20) as Herror
}

impl fmt::Display for HalconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HALCON error #{}: {}", self.code, self.message)
    }
}

impl std::error::Error for HalconError {}

/// The text of any error number this library uses; a generic text for unknown numbers.
pub fn error_text(code: Herror) -> &'static str {
    halcon_error_text(code).unwrap_or("Unknown error number")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_the_reference_table_has_its_constant_and_text() {
        let table = include_str!("../../tools/halcon_error_codes.tsv");
        let mut rows = 0;
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 3, "malformed row {line:?}");
            let code: Herror = fields[0].parse().unwrap();
            let text = halcon_error_text(code).unwrap_or_else(|| panic!("no text for {code}"));
            // H_MSG_OK and H_MSG_TRUE share number 2; the first row's text wins.
            if code != 2 {
                assert_eq!(text, fields[2], "text of {code} drifted from the table");
            }
            rows += 1;
        }
        assert!(rows > 290, "reference table shrank to {rows} rows");
        assert_eq!(halcon_error_text(7_000_000), None);
    }

    #[test]
    fn parameter_errors_follow_halcon_numbering() {
        assert_eq!(HalconError::wrong_type(1, "").code, H_ERR_WIPT1);
        assert_eq!(HalconError::wrong_value(3, "").code, H_ERR_WIPV3);
        assert_eq!(HalconError::wrong_count(20, "").code, H_ERR_WIPN20);
        assert_eq!(HalconError::wrong_count(25, "").code, H_ERR_WIPN20);
        assert_eq!(HalconError::wrong_object_count(1, "").code, H_ERR_WION1);
    }
}
