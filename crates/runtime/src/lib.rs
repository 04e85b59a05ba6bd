//! dlopt's native runtime: executes graphs of the IR in float32 (and the integer types
//! shape arithmetic needs) on the CPU.
//!
//! A [`plan::Plan`] is a graph specialised for concrete input shapes: operators are built
//! once (shapes checked, weights prepared), everything that only depends on shapes is
//! computed while building, and memory is planned so that a run allocates nothing per node.

pub mod arena;
pub mod memory;
pub mod op;
pub mod ops;
pub mod plan;
pub mod view;

pub use op::{BuildOptions, InputInfo, Kernel, OutputInfo, RunContext};
pub use plan::Plan;
pub use view::{DataMut, DataRef, TensorView, TensorViewMut};
