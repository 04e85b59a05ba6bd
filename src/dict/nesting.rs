//! The path of dicts a recursive walk (deep copy, file writing) is inside, to refuse cycles
//! (`H_ERR_HANDLE_CYCLES`, 2456) and absurd depth (`H_ERR_DICT_NESTED_TOO_DEEP`, 2899).

use crate::error::{H_ERR_DICT_NESTED_TOO_DEEP, H_ERR_HANDLE_CYCLES, HalconError, Result};

use super::MAX_NESTING_DEPTH;

/// Handle numbers of the dicts from the root to the current one.
#[derive(Default)]
pub(crate) struct NestingPath {
    numbers: Vec<u64>,
}

impl NestingPath {
    /// Enters the dict with handle `number`; fails on a cycle or beyond the depth limit.
    pub fn enter(&mut self, number: u64) -> Result<()> {
        if self.numbers.contains(&number) {
            return Err(HalconError::new(
                H_ERR_HANDLE_CYCLES,
                format!("dict {number:#x} contains itself (a reference cycle of dict handles)"),
            ));
        }
        check_depth(self.numbers.len() + 1)?;
        self.numbers.push(number);
        Ok(())
    }

    /// Leaves the innermost dict.
    pub fn leave(&mut self) {
        self.numbers.pop();
    }
}

/// Fails if dicts are nested `depth` levels deep, beyond [`MAX_NESTING_DEPTH`].
pub(crate) fn check_depth(depth: usize) -> Result<()> {
    if depth > MAX_NESTING_DEPTH {
        return Err(HalconError::new(
            H_ERR_DICT_NESTED_TOO_DEEP,
            format!("dicts are nested more than {MAX_NESTING_DEPTH} levels deep"),
        ));
    }
    Ok(())
}
