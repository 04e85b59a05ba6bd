//! Bounded parallelism on the caller's rayon pool.
//!
//! Every kernel takes `threads`: the most workers it may keep busy at once. `threads <= 1`
//! runs on the calling thread without touching rayon. Otherwise the kernel starts at most
//! `threads` rayon jobs on the *current* pool (the one the caller `install`ed, else the
//! global one), and the jobs pull work items from a shared counter, so uneven items still
//! balance while the number of busy threads never exceeds `threads`. The runtime sizes
//! its pool to the machine, so nothing is oversubscribed.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

/// How many workers to use for `items` work items with a budget of `threads`.
pub(crate) fn workers_for(threads: usize, items: usize) -> usize {
    threads.max(1).min(items.max(1))
}

/// Runs `work(item, state)` for every `item` in `0..items`, one worker per element of
/// `states` (each worker owns its state, e.g. a scratch buffer). With one state everything
/// runs on the calling thread, in order.
pub(crate) fn for_each_item<S: Send, F>(states: &mut [S], items: usize, work: F)
where
    F: Fn(usize, &mut S) + Sync,
{
    if states.len() <= 1 || items <= 1 {
        if let Some(state) = states.first_mut() {
            (0..items).for_each(|item| work(item, state));
        }
        return;
    }
    let next = AtomicUsize::new(0);
    states.par_iter_mut().for_each(|state| {
        loop {
            let item = next.fetch_add(1, Ordering::Relaxed);
            if item >= items {
                break;
            }
            work(item, state);
        }
    });
}

/// Runs `work(item)` for every item in `0..items` on at most `threads` workers.
pub(crate) fn for_each<F>(threads: usize, items: usize, work: F)
where
    F: Fn(usize) + Sync,
{
    let mut states = vec![(); workers_for(threads, items)];
    for_each_item(&mut states, items, |item, _| work(item));
}

/// A mutable slice shared between workers that write provably disjoint parts of it.
///
/// Rust cannot express "worker i writes columns p0..p1 of every row" with `split_at_mut`,
/// so the kernels hand out sub-slices through this wrapper; each use site states why its
/// ranges are disjoint.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: `SharedMut` only hands out sub-slices through the `unsafe fn slice`, whose
// callers guarantee that concurrently used ranges never overlap.
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// Wraps `data` for the duration of a parallel section.
    pub(crate) fn new(data: &mut [f32]) -> SharedMut {
        SharedMut { ptr: data.as_mut_ptr(), len: data.len() }
    }

    /// Elements of the wrapped slice.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The raw pointer at element `offset` (bounds-checked).
    pub(crate) fn ptr_at(&self, offset: usize) -> *mut f32 {
        assert!(offset <= self.len, "SharedMut offset {offset} past length {}", self.len);
        // SAFETY: offset <= len, so the pointer stays within (or one past) the allocation.
        unsafe { self.ptr.add(offset) }
    }

    /// The elements `offset..offset + len` (bounds-checked).
    ///
    /// # Safety
    /// No other live reference, and no other worker, may access any of these elements
    /// while the returned slice is alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, offset: usize, len: usize) -> &mut [f32] {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "SharedMut range {offset}+{len} past length {}",
            self.len
        );
        // SAFETY: in bounds (checked above); exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(offset), len) }
    }
}
