//! Handles: reference-counted objects behind the 64-bit numbers C code holds.
//!
//! HALCON semantics:
//! - a handle stored in a tuple or a dict is a reference that shares the object (no copy);
//! - the object is destroyed when its last reference goes;
//! - `clear_handle` destroys the object at once, whoever still refers to it; every later use
//!   reports `H_ERR_HANDLE_CLEARED` (2454).
//!
//! A [`HandleRef`] is one such reference. Reading the object behind it
//! ([`HandleRef::object`]) writes no shared memory (the object pointer is loaded through
//! `arc-swap`), so threads reading the same dict do not contend. Long operations take a
//! strong `Arc` instead ([`HandleRef::object_arc`]) so that a concurrent `clear_handle`
//! cannot pull the object from under them; the object then dies when they finish.

pub mod table;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwapOption, Guard};

use crate::error::{H_ERR_HANDLE_CLEARED, H_ERR_WRONG_HANDLE_TYPE, HalconError, Result};

/// The kinds of objects handles refer to, with HALCON's semantic type names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HandleKind {
    /// A dictionary (`create_dict`): semantic type `'dict'`.
    Dict = 1,
    /// An iconic object (image): semantic type `'image'`.
    Image = 2,
    /// A deep-learning model: semantic type `'dl_model'`.
    DlModel = 3,
    /// A deep-learning device: semantic type `'dl_device'`.
    DlDevice = 4,
}

impl HandleKind {
    /// HALCON's semantic type name, as `tuple_sem_type` reports it.
    pub fn semantic_type(self) -> &'static str {
        match self {
            HandleKind::Dict => "dict",
            HandleKind::Image => "image",
            HandleKind::DlModel => "dl_model",
            HandleKind::DlDevice => "dl_device",
        }
    }
}

/// An object that can live behind a handle.
pub trait HandleObject: Send + Sync + 'static {
    /// The kind every handle of this type has.
    const KIND: HandleKind;
}

/// The type-erased face of an [`Entry`], so tuples can hold handles of any kind.
pub(crate) trait ErasedEntry: Send + Sync + 'static {
    fn number(&self) -> u64;
    fn kind(&self) -> HandleKind;
    fn is_cleared(&self) -> bool;
    /// Takes the object out; the caller drops it after releasing every lock.
    fn take_object(&self) -> Option<Box<dyn Any + Send>>;
    fn as_any(&self) -> &dyn Any;
}

/// One handle's cell: its number and the object, until it is cleared.
struct Entry<T: HandleObject> {
    number: u64,
    object: ArcSwapOption<T>,
}

impl<T: HandleObject> ErasedEntry for Entry<T> {
    fn number(&self) -> u64 {
        self.number
    }
    fn kind(&self) -> HandleKind {
        T::KIND
    }
    fn is_cleared(&self) -> bool {
        self.object.load().is_none()
    }
    fn take_object(&self) -> Option<Box<dyn Any + Send>> {
        self.object.swap(None).map(|object| Box::new(object) as Box<dyn Any + Send>)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T: HandleObject> Drop for Entry<T> {
    fn drop(&mut self) {
        // The last reference went: free the slot. The object itself drops with `self`.
        let anchor = table::remove(self.number);
        debug_assert!(anchor.is_none(), "an anchored entry cannot be dropped");
    }
}

/// A counted reference to a handle's object (HALCON semantics, see the module docs).
#[derive(Clone)]
pub struct HandleRef {
    entry: Arc<dyn ErasedEntry>,
}

/// A borrowed view of a handle's object; cheap, and keeps the object alive while it lives.
/// Hold it only for short, non-blocking work (no calls out, no waiting).
pub struct ObjectGuard<T: HandleObject>(Guard<Option<Arc<T>>>);

impl<T: HandleObject> std::ops::Deref for ObjectGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().expect("an ObjectGuard is only made for a present object")
    }
}

impl HandleRef {
    /// Creates a new handle for `object`.
    pub fn new<T: HandleObject>(object: T) -> Result<HandleRef> {
        let object = Arc::new(object);
        let entry = table::insert(T::KIND, move |number| {
            Arc::new(Entry { number, object: ArcSwapOption::new(Some(object)) })
                as Arc<dyn ErasedEntry>
        })?;
        Ok(HandleRef { entry })
    }

    /// Looks up a handle number that C code passed in (see [`table::resolve`] for errors).
    pub fn from_number(number: u64) -> Result<HandleRef> {
        table::resolve(number).map(|entry| HandleRef { entry })
    }

    /// The handle number C code sees.
    pub fn number(&self) -> u64 {
        self.entry.number()
    }

    /// The kind of object this handle refers to.
    pub fn kind(&self) -> HandleKind {
        self.entry.kind()
    }

    /// Whether `clear_handle` destroyed the object.
    pub fn is_cleared(&self) -> bool {
        self.entry.is_cleared()
    }

    fn typed_entry<T: HandleObject>(&self) -> Result<&Entry<T>> {
        self.entry.as_any().downcast_ref::<Entry<T>>().ok_or_else(|| {
            HalconError::new(
                H_ERR_WRONG_HANDLE_TYPE,
                format!(
                    "handle {:#x} is a '{}', expected a '{}'",
                    self.number(),
                    self.kind().semantic_type(),
                    T::KIND.semantic_type()
                ),
            )
        })
    }

    fn cleared_error(&self) -> HalconError {
        HalconError::new(
            H_ERR_HANDLE_CLEARED,
            format!("{} handle {:#x} was cleared", self.kind().semantic_type(), self.number()),
        )
    }

    /// Borrows the object for a short operation. Errors: 2404 for another kind, 2454 if cleared.
    pub fn object<T: HandleObject>(&self) -> Result<ObjectGuard<T>> {
        let guard = self.typed_entry::<T>()?.object.load();
        if guard.is_none() {
            return Err(self.cleared_error());
        }
        Ok(ObjectGuard(guard))
    }

    /// Takes a strong reference to the object for a long operation.
    pub fn object_arc<T: HandleObject>(&self) -> Result<Arc<T>> {
        self.typed_entry::<T>()?.object.load_full().ok_or_else(|| self.cleared_error())
    }

    /// Destroys the object now (`clear_handle`). Every later use reports 2454. Clearing an
    /// already cleared handle does nothing.
    pub fn clear(&self) {
        let object = self.entry.take_object();
        let anchor = table::remove(self.number());
        // Dropped here, after the table lock is released: dropping may run user callbacks.
        drop(object);
        drop(anchor);
    }

    /// Hands one reference to C code (an `Hobject` output); released by [`Self::release_c_reference`].
    pub fn add_c_reference(&self) -> Result<()> {
        table::add_c_reference(&self.entry)
    }

    /// Releases a reference C code owned through `number` (`clear_obj`).
    pub fn release_c_reference(number: u64) -> Result<()> {
        let anchor = table::release_c_reference(number)?;
        drop(anchor);
        Ok(())
    }

    /// Whether two references refer to the same handle.
    pub fn same_handle(&self, other: &HandleRef) -> bool {
        Arc::ptr_eq(&self.entry, &other.entry)
    }
}

impl fmt::Debug for HandleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:#x}", self.kind().semantic_type(), self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe(Arc<std::sync::atomic::AtomicUsize>);
    impl HandleObject for Probe {
        const KIND: HandleKind = HandleKind::DlDevice;
    }
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn last_reference_destroys_and_clear_destroys_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let drops = Arc::new(AtomicUsize::new(0));
        let first = HandleRef::new(Probe(drops.clone())).unwrap();
        let copy = first.clone();
        let number = first.number();
        drop(first);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert!(HandleRef::from_number(number).is_ok());
        drop(copy);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(HandleRef::from_number(number).err().unwrap().code, H_ERR_HANDLE_CLEARED);

        let second = HandleRef::new(Probe(drops.clone())).unwrap();
        let holder = second.clone();
        second.clear();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert_eq!(holder.object::<Probe>().err().unwrap().code, H_ERR_HANDLE_CLEARED);
        assert_eq!(
            HandleRef::from_number(holder.number()).err().unwrap().code,
            H_ERR_HANDLE_CLEARED
        );
    }

    #[test]
    fn wrong_kind_is_reported() {
        use std::sync::atomic::AtomicUsize;
        let probe = HandleRef::new(Probe(Arc::new(AtomicUsize::new(0)))).unwrap();
        struct Other;
        impl HandleObject for Other {
            const KIND: HandleKind = HandleKind::DlModel;
        }
        assert_eq!(probe.object::<Other>().err().unwrap().code, H_ERR_WRONG_HANDLE_TYPE);
    }
}
