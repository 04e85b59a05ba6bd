//! The C types of the ABI.

use crate::tuple::Tuple;

/// A 64-bit signed integer, as HALCON/C's `Hlong` on 64-bit platforms.
pub type Hlong = i64;

/// A handle number (dict, dl_model, dl_device, ...): a non-zero 64-bit id that carries the
/// object's type and a generation, so a cleared handle is never mistaken for a live one.
/// 0 is the NULL handle.
pub type Hhandle = u64;

/// An iconic object (an image): a handle number, owned by the C code that received it from
/// an operator (`gen_image1`, `get_dict_object`, ...) until it calls `clear_obj`.
/// 0 means "no object".
pub type Hobject = u64;

/// The storage of a tuple. Opaque: use the tuple functions.
pub struct HtupleData {
    pub(crate) tuple: Tuple,
}

/// A tuple of control values (integers, reals, strings, handles), as in HALCON/C.
///
/// An `Htuple` is a small value that refers to tuple storage; copying the struct copies the
/// reference, not the tuple. Initialize it with `HTUPLE_INITIALIZER` or by an operator or
/// `create_tuple*`, which allocate the storage; release it with `destroy_tuple`.
///
/// Operators take input tuples by value (`const Htuple`) and write output tuples through
/// `Htuple *`: an output tuple receives new storage, so pass a variable that holds none
/// (destroy what it held first, or it leaks).
///
/// Thread safety: a tuple is plain data owned by the caller. Several threads may read the
/// same tuple at once (pass it to operators, `get_*`); changing it (`set_*`,
/// `resize_tuple`, `destroy_tuple`) while another thread uses it is a data race.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Htuple {
    /// The tuple storage, or NULL. Treat as opaque.
    pub data: *mut HtupleData,
}
