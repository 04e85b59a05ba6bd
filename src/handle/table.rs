//! The global handle table: maps the 64-bit handle numbers C code holds to live objects.
//!
//! A handle number packs a slot index, the object kind and the slot's generation:
//!
//! ```text
//!   bits 63..32  generation (1.., bumped each time the slot is reused)
//!   bits 31..24  kind (HandleKind)
//!   bits 23..0   slot index
//! ```
//!
//! so a number is never 0, a cleared handle never comes back to life (its slot's generation
//! has moved on or the slot is free), and a number that was never issued is recognised as
//! unknown. The table holds only weak references: the objects live as long as some tuple,
//! dict or C owner reference ([`super::HandleRef`]) holds them, or until `clear_handle`.
//!
//! The lock is a leaf: nothing is called and nothing is dropped while it is held.

use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::{ErasedEntry, HandleKind};
use crate::error::{
    H_ERR_HANDLE_CLEARED, H_ERR_HANDLE_NULL, H_ERR_MEM, H_ERR_WHDL, HalconError, Result,
};

const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const KIND_SHIFT: u32 = 24;
const GENERATION_SHIFT: u32 = 32;
/// The table refuses to grow past this many live handles (16.7 million).
const MAX_SLOTS: usize = 1 << INDEX_BITS;

/// The parts of a handle number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HandleNumber {
    pub index: u32,
    pub kind_bits: u8,
    pub generation: u32,
}

impl HandleNumber {
    pub fn pack(self) -> u64 {
        ((self.generation as u64) << GENERATION_SHIFT)
            | ((self.kind_bits as u64) << KIND_SHIFT)
            | (self.index as u64 & INDEX_MASK)
    }

    pub fn unpack(number: u64) -> HandleNumber {
        HandleNumber {
            index: (number & INDEX_MASK) as u32,
            kind_bits: ((number >> KIND_SHIFT) & 0xff) as u8,
            generation: (number >> GENERATION_SHIFT) as u32,
        }
    }
}

struct LiveSlot {
    kind: HandleKind,
    entry: Weak<dyn ErasedEntry>,
    /// References owned by C code through a raw number (iconic objects, `Hobject`), released
    /// with `clear_obj`; `anchor` keeps the entry alive while there are any.
    c_references: u64,
    anchor: Option<Arc<dyn ErasedEntry>>,
}

struct Slot {
    /// The generation of the newest handle issued from this slot (0: never used).
    generation: u32,
    live: Option<LiveSlot>,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

static TABLE: RwLock<Slots> = RwLock::new(Slots { slots: Vec::new(), free: Vec::new() });

/// Creates a handle for a new entry: `make` receives the number and builds the entry.
pub(crate) fn insert(
    kind: HandleKind,
    make: impl FnOnce(u64) -> Arc<dyn ErasedEntry>,
) -> Result<Arc<dyn ErasedEntry>> {
    let mut table = TABLE.write();
    let index = match table.free.pop() {
        Some(index) => index,
        None => {
            if table.slots.len() >= MAX_SLOTS {
                return Err(HalconError::new(
                    H_ERR_MEM,
                    format!("the handle table is full ({MAX_SLOTS} live handles)"),
                ));
            }
            table.slots.push(Slot { generation: 0, live: None });
            (table.slots.len() - 1) as u32
        }
    };
    let slot = &mut table.slots[index as usize];
    slot.generation += 1;
    let number = HandleNumber { index, kind_bits: kind as u8, generation: slot.generation }.pack();
    let entry = make(number);
    slot.live =
        Some(LiveSlot { kind, entry: Arc::downgrade(&entry), c_references: 0, anchor: None });
    Ok(entry)
}

/// Frees the slot of `number` if it still belongs to it. Returns the C-owner anchor, which
/// the caller drops after this returns (never under the lock).
pub(crate) fn remove(number: u64) -> Option<Arc<dyn ErasedEntry>> {
    let parts = HandleNumber::unpack(number);
    let mut table = TABLE.write();
    let table = &mut *table;
    let slot = table.slots.get_mut(parts.index as usize)?;
    if slot.generation != parts.generation || slot.live.is_none() {
        return None;
    }
    let live = slot.live.take()?;
    // A slot whose generation is exhausted is retired instead of reused.
    if slot.generation < u32::MAX {
        table.free.push(parts.index);
    }
    live.anchor
}

/// Looks up a handle number C code passed in.
///
/// Errors: 0 gives `H_ERR_HANDLE_NULL` (2453); a number of a cleared or destroyed object
/// gives `H_ERR_HANDLE_CLEARED` (2454); a number that was never issued gives `H_ERR_WHDL`
/// (2450).
pub(crate) fn resolve(number: u64) -> Result<Arc<dyn ErasedEntry>> {
    if number == 0 {
        return Err(HalconError::new(H_ERR_HANDLE_NULL, "the handle is NULL (0)"));
    }
    let parts = HandleNumber::unpack(number);
    let unknown =
        || HalconError::new(H_ERR_WHDL, format!("{number:#x} is not a handle issued by dlopt"));
    let cleared =
        || HalconError::new(H_ERR_HANDLE_CLEARED, format!("handle {number:#x} was cleared"));
    let table = TABLE.read();
    let slot = table.slots.get(parts.index as usize).ok_or_else(unknown)?;
    if parts.generation == 0 || parts.generation > slot.generation {
        return Err(unknown());
    }
    if parts.generation < slot.generation {
        return Err(cleared());
    }
    let live = slot.live.as_ref().ok_or_else(cleared)?;
    if live.kind as u8 != parts.kind_bits {
        return Err(unknown());
    }
    live.entry.upgrade().ok_or_else(cleared)
}

/// Adds a C-owned reference to a live handle (an `Hobject` handed out to C).
pub(crate) fn add_c_reference(entry: &Arc<dyn ErasedEntry>) -> Result<()> {
    let parts = HandleNumber::unpack(entry.number());
    let mut table = TABLE.write();
    let live = table
        .slots
        .get_mut(parts.index as usize)
        .filter(|slot| slot.generation == parts.generation)
        .and_then(|slot| slot.live.as_mut())
        .ok_or_else(|| {
            HalconError::new(
                H_ERR_HANDLE_CLEARED,
                format!("handle {:#x} was cleared", entry.number()),
            )
        })?;
    live.c_references += 1;
    if live.anchor.is_none() {
        live.anchor = Some(entry.clone());
    }
    Ok(())
}

/// Releases one C-owned reference. Returns the anchor when it was the last one: the caller
/// drops it after this returns, which may destroy the object.
pub(crate) fn release_c_reference(number: u64) -> Result<Option<Arc<dyn ErasedEntry>>> {
    let entry = resolve(number)?;
    let parts = HandleNumber::unpack(number);
    let mut table = TABLE.write();
    let live = table
        .slots
        .get_mut(parts.index as usize)
        .filter(|slot| slot.generation == parts.generation)
        .and_then(|slot| slot.live.as_mut());
    let released = match live {
        Some(live) if live.c_references > 0 => {
            live.c_references -= 1;
            if live.c_references == 0 { live.anchor.take() } else { None }
        }
        Some(_) if !entry.is_cleared() => {
            drop(table);
            drop(entry);
            return Err(HalconError::new(
                H_ERR_WHDL,
                format!("object {number:#x} is not owned by the caller (already released?)"),
            ));
        }
        // Cleared (or destroyed) between the lookup and the write lock: a racing clear_handle.
        _ => {
            drop(table);
            drop(entry);
            return Err(HalconError::new(
                H_ERR_HANDLE_CLEARED,
                format!("object {number:#x} was cleared"),
            ));
        }
    };
    drop(table);
    drop(entry);
    Ok(released)
}

/// Number of live handles (for tests and diagnostics).
pub fn live_handle_count() -> usize {
    TABLE.read().slots.iter().filter(|slot| slot.live.is_some()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_numbers_round_trip_and_are_never_zero() {
        let parts = HandleNumber { index: 0, kind_bits: 1, generation: 1 };
        let number = parts.pack();
        assert_ne!(number, 0);
        assert_eq!(HandleNumber::unpack(number), parts);
        let parts =
            HandleNumber { index: (MAX_SLOTS - 1) as u32, kind_bits: 255, generation: u32::MAX };
        assert_eq!(HandleNumber::unpack(parts.pack()), parts);
    }

    #[test]
    fn unknown_and_null_numbers_are_told_apart() {
        assert_eq!(resolve(0).err().unwrap().code, H_ERR_HANDLE_NULL);
        assert_eq!(resolve(u64::MAX).err().unwrap().code, H_ERR_WHDL);
        let never_issued = HandleNumber { index: 0xff_fff0, kind_bits: 1, generation: 7 }.pack();
        assert_eq!(resolve(never_issued).err().unwrap().code, H_ERR_WHDL);
    }
}
