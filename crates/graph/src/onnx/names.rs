//! Unique names for what a model leaves unnamed: nodes, omitted outputs in the middle of a
//! node's output list, unknown dimensions.

use std::collections::{HashMap, HashSet};

/// A set of taken names that hands out new ones: `base`, else `base_2`, `base_3`, ...
#[derive(Debug, Default)]
pub(crate) struct UniqueNames {
    taken: HashSet<String>,
    /// Per base, the suffix to try next, so that many claims of one base stay linear.
    next_suffix: HashMap<String, usize>,
}

impl UniqueNames {
    /// A set already holding `names`.
    pub(crate) fn with_taken<'a>(names: impl IntoIterator<Item = &'a str>) -> UniqueNames {
        UniqueNames {
            taken: names.into_iter().map(str::to_string).collect(),
            next_suffix: HashMap::new(),
        }
    }

    /// A name not taken yet, starting with `base`; it is taken from now on.
    pub(crate) fn claim(&mut self, base: &str) -> String {
        if self.taken.insert(base.to_string()) {
            return base.to_string();
        }
        let mut suffix = self.next_suffix.get(base).copied().unwrap_or(2);
        // Terminates: `taken` is finite, so some suffix is free.
        loop {
            let candidate = format!("{base}_{suffix}");
            suffix += 1;
            if self.taken.insert(candidate.clone()) {
                self.next_suffix.insert(base.to_string(), suffix);
                return candidate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_skip_taken_names_and_never_repeat() {
        let mut names = UniqueNames::with_taken(["Relu_0", "Relu_0_2"]);
        assert_eq!(names.claim("Relu_1"), "Relu_1");
        assert_eq!(names.claim("Relu_0"), "Relu_0_3");
        assert_eq!(names.claim("Relu_0"), "Relu_0_4");
        assert_eq!(names.claim("Relu_1"), "Relu_1_2");
        assert_eq!(names.claim("x"), "x");
        assert_eq!(names.claim("x"), "x_2");
    }
}
