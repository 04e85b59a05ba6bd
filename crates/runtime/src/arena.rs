//! The memory of one run: one 64-byte aligned buffer per slot of the memory plan, viewed as
//! the element type of whatever value lives there at the time.

use half::{bf16, f16};

use dlopt_graph::{DataType, TensorData};

use crate::op::{OutputInfo, Scratch};
use crate::view::{DataMut, DataRef, TensorView, TensorViewMut};

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Buffers for every slot of a memory plan, plus scratch memory for kernels.
pub struct Arena {
    /// The slot buffers.
    pub buffers: SlotBuffers,
    /// Working memory kernels borrow.
    pub scratch: Scratch,
}

impl Arena {
    /// Zeroed buffers of the given byte sizes.
    pub fn new(slot_bytes: &[usize]) -> Arena {
        let slots =
            slot_bytes.iter().map(|&bytes| vec![Line([0; 64]); bytes.div_ceil(64)]).collect();
        Arena { buffers: SlotBuffers { slots }, scratch: Scratch::default() }
    }
}

/// One 64-byte aligned buffer per slot.
pub struct SlotBuffers {
    slots: Vec<Vec<Line>>,
}

impl SlotBuffers {
    fn elements(info: &OutputInfo) -> usize {
        info.shape.iter().product()
    }

    /// A read view of the value in `slot`.
    ///
    /// # Safety
    /// No mutable view of `slot` may be alive; the slot holds a value of `info`'s type,
    /// written by its producer.
    pub unsafe fn view<'a>(&'a self, slot: usize, info: &'a OutputInfo) -> TensorView<'a> {
        let base = self.slots[slot].as_ptr() as *const u8;
        let count = Self::elements(info);
        debug_assert!(count * info.data_type.size() <= self.slots[slot].len() * 64);
        let data = unsafe {
            match info.data_type {
                DataType::F32 => {
                    DataRef::F32(std::slice::from_raw_parts(base.cast::<f32>(), count))
                }
                DataType::F16 => {
                    DataRef::F16(std::slice::from_raw_parts(base.cast::<f16>(), count))
                }
                DataType::BF16 => {
                    DataRef::BF16(std::slice::from_raw_parts(base.cast::<bf16>(), count))
                }
                DataType::I8 => DataRef::I8(std::slice::from_raw_parts(base.cast::<i8>(), count)),
                DataType::U8 => DataRef::U8(std::slice::from_raw_parts(base, count)),
                DataType::I32 => {
                    DataRef::I32(std::slice::from_raw_parts(base.cast::<i32>(), count))
                }
                DataType::I64 => {
                    DataRef::I64(std::slice::from_raw_parts(base.cast::<i64>(), count))
                }
                DataType::Bool => {
                    DataRef::Bool(std::slice::from_raw_parts(base.cast::<bool>(), count))
                }
            }
        };
        TensorView { shape: &info.shape, data }
    }

    /// A write view of `slot` for a value of `info`.
    ///
    /// # Safety
    /// No other view of `slot` may be alive while the returned one is.
    #[allow(clippy::mut_from_ref)] // distinct slots are distinct allocations
    pub unsafe fn view_mut<'a>(&'a self, slot: usize, info: &'a OutputInfo) -> TensorViewMut<'a> {
        let base = self.slots[slot].as_ptr() as *mut u8;
        let count = Self::elements(info);
        debug_assert!(count * info.data_type.size() <= self.slots[slot].len() * 64);
        let data = unsafe {
            match info.data_type {
                DataType::F32 => {
                    DataMut::F32(std::slice::from_raw_parts_mut(base.cast::<f32>(), count))
                }
                DataType::F16 => {
                    DataMut::F16(std::slice::from_raw_parts_mut(base.cast::<f16>(), count))
                }
                DataType::BF16 => {
                    DataMut::BF16(std::slice::from_raw_parts_mut(base.cast::<bf16>(), count))
                }
                DataType::I8 => {
                    DataMut::I8(std::slice::from_raw_parts_mut(base.cast::<i8>(), count))
                }
                DataType::U8 => DataMut::U8(std::slice::from_raw_parts_mut(base, count)),
                DataType::I32 => {
                    DataMut::I32(std::slice::from_raw_parts_mut(base.cast::<i32>(), count))
                }
                DataType::I64 => {
                    DataMut::I64(std::slice::from_raw_parts_mut(base.cast::<i64>(), count))
                }
                DataType::Bool => {
                    // Bytes left by a value of another type may not be valid bools.
                    std::ptr::write_bytes(base, 0, count);
                    DataMut::Bool(std::slice::from_raw_parts_mut(base.cast::<bool>(), count))
                }
            }
        };
        TensorViewMut { shape: &info.shape, data }
    }
}

/// A write view of owned tensor data.
pub fn view_of_data<'a>(data: &'a mut TensorData, shape: &'a [usize]) -> TensorViewMut<'a> {
    let data = match data {
        TensorData::F32(values) => DataMut::F32(values),
        TensorData::F16(values) => DataMut::F16(values),
        TensorData::BF16(values) => DataMut::BF16(values),
        TensorData::I8(values) => DataMut::I8(values),
        TensorData::U8(values) => DataMut::U8(values),
        TensorData::I32(values) => DataMut::I32(values),
        TensorData::I64(values) => DataMut::I64(values),
        TensorData::Bool(values) => DataMut::Bool(values),
    };
    TensorViewMut { shape, data }
}
