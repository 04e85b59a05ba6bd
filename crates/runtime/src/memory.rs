//! Memory planning: which buffer each intermediate value of a plan lives in.
//!
//! Values get slots in an arena; a slot is reused once every value in it is dead. The
//! assignment is computed once per plan; every run then uses one arena (taken from a pool),
//! so a run allocates nothing per node.

/// Where one step's values live: `slot_of[value]` for values that need a slot.
#[derive(Clone, Debug, Default)]
pub struct MemoryPlan {
    /// The slot of each value, by value index (`None`: constant, run input, or unused).
    pub slot_of: Vec<Option<usize>>,
    /// The size of each slot in bytes.
    pub slot_bytes: Vec<usize>,
}

/// One step as the planner sees it: which values it reads and writes.
pub struct StepValues<'a> {
    /// Values read (only those living in slots matter).
    pub reads: &'a [usize],
    /// Values written.
    pub writes: &'a [usize],
}

/// Assigns slots. `bytes[v]` is the size of value `v` if it needs a slot (`None`
/// otherwise); `pinned[v]` values (graph outputs) get a slot of their own that is never
/// reused. Outputs of a step never share a slot with its inputs or with each other.
pub fn plan_memory(
    steps: &[StepValues<'_>],
    bytes: &[Option<usize>],
    pinned: &[bool],
) -> MemoryPlan {
    let mut last_use = vec![None; bytes.len()];
    for (at, step) in steps.iter().enumerate() {
        for &value in step.reads.iter().chain(step.writes) {
            last_use[value] = Some(at);
        }
    }
    let mut plan = MemoryPlan { slot_of: vec![None; bytes.len()], slot_bytes: Vec::new() };
    let mut free: Vec<usize> = Vec::new();
    for (at, step) in steps.iter().enumerate() {
        for &value in step.writes {
            let Some(size) = bytes[value] else { continue };
            let slot =
                if pinned[value] { None } else { take_best_fit(&mut free, &plan.slot_bytes, size) };
            let slot = match slot {
                Some(slot) => {
                    plan.slot_bytes[slot] = plan.slot_bytes[slot].max(size);
                    slot
                }
                None => {
                    plan.slot_bytes.push(size);
                    plan.slot_bytes.len() - 1
                }
            };
            plan.slot_of[value] = Some(slot);
        }
        // Release after the step: its outputs never land in its inputs' slots.
        for &value in step.reads.iter().chain(step.writes) {
            if last_use[value] == Some(at) && !pinned[value] {
                if let Some(slot) = plan.slot_of[value] {
                    if !free.contains(&slot) {
                        free.push(slot);
                    }
                }
            }
        }
    }
    plan
}

/// The free slot that fits `size` most tightly, else the largest free slot (it will grow).
fn take_best_fit(free: &mut Vec<usize>, slot_bytes: &[usize], size: usize) -> Option<usize> {
    let fitting = free
        .iter()
        .enumerate()
        .filter(|&(_, &slot)| slot_bytes[slot] >= size)
        .min_by_key(|&(_, &slot)| slot_bytes[slot]);
    let chosen = match fitting {
        Some((at, _)) => at,
        None => free.iter().enumerate().max_by_key(|&(_, &slot)| slot_bytes[slot])?.0,
    };
    Some(free.swap_remove(chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_reuse_two_slots_and_outputs_stay_pinned() {
        // v0 -> v1 -> v2 -> v3 -> v4 (output)
        let reads = [[0], [1], [2], [3]];
        let writes = [[1], [2], [3], [4]];
        let steps: Vec<StepValues> =
            (0..4).map(|at| StepValues { reads: &reads[at], writes: &writes[at] }).collect();
        let bytes = [None, Some(100), Some(50), Some(200), Some(10)];
        let pinned = [false, false, false, false, true];
        let plan = plan_memory(&steps, &bytes, &pinned);
        let slots: Vec<usize> = (1..5).map(|v| plan.slot_of[v].unwrap()).collect();
        // A step's output never shares its input's slot.
        for at in 0..3 {
            assert_ne!(slots[at], slots[at + 1]);
        }
        assert_eq!(slots[0], slots[2], "v3 reuses v1's slot");
        assert_eq!(plan.slot_bytes[slots[2]], 200, "the reused slot grew");
        assert!(!slots[..3].contains(&slots[3]), "the output has its own slot");
        assert_eq!(plan.slot_bytes.len(), 3);
    }
}
