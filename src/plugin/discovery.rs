//! Where plugins are looked for, in order:
//!
//! 1. each directory of the environment variable `DLOPT_AI2_PLUGIN_PATH` (separated by
//!    `:`); empty and relative entries are ignored (a relative entry would be resolved
//!    against the current directory, which is never searched);
//! 2. the folder `dlopt-plugins/` beside the library file that holds dlopt (found with
//!    `dladdr` on one of dlopt's own functions: `libdlopt.so`, or the executable when dlopt
//!    is linked statically).
//!
//! Every file whose name ends in `.so` in those directories is a candidate, in name order
//! within a directory. A directory that does not exist is skipped quietly.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use super::log;

/// The environment variable listing plugin directories.
pub const PATH_VARIABLE: &str = "DLOPT_AI2_PLUGIN_PATH";

/// The folder beside the library that holds installed plugins.
pub const BESIDE_LIBRARY: &str = "dlopt-plugins";

/// The directories searched, in order, without duplicates.
pub fn search_directories() -> Vec<PathBuf> {
    let mut directories: Vec<PathBuf> = Vec::new();
    if let Some(value) = std::env::var_os(PATH_VARIABLE) {
        for entry in std::env::split_paths(&value) {
            if entry.as_os_str().is_empty() {
                continue;
            }
            if entry.is_relative() {
                log::log(
                    log::WARNING,
                    "plugin search",
                    &format!(
                        "{PATH_VARIABLE} entry '{}' is relative and is ignored (give absolute directories)",
                        entry.display()
                    ),
                );
                continue;
            }
            if !directories.contains(&entry) {
                directories.push(entry);
            }
        }
    }
    if let Some(beside) = library_directory().map(|dir| dir.join(BESIDE_LIBRARY)) {
        if !directories.contains(&beside) {
            directories.push(beside);
        }
    }
    directories
}

/// The directory of the file holding this code, if `dladdr` gives an absolute path.
pub fn library_directory() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let anchor = library_directory as fn() -> Option<PathBuf> as *const libc::c_void;
    // SAFETY: dladdr only reads the address and fills `info`.
    let found = unsafe { libc::dladdr(anchor, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so `info` is initialized.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    let file = unsafe { CStr::from_ptr(info.dli_fname) }.to_str().ok()?;
    let path = Path::new(file);
    if path.is_absolute() {
        return path.parent().map(Path::to_path_buf);
    }
    // A program started by a relative path (or a library found through a relative
    // LD_LIBRARY_PATH entry) has a relative name here, which the current directory would
    // resolve; the kernel's map of this address has the absolute one.
    mapped_file(anchor as usize)?.parent().map(Path::to_path_buf)
}

/// The absolute path of the file mapped at `address`, from `/proc/self/maps`.
fn mapped_file(address: usize) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let (start, end) =
            (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
        let path = fields.nth(4)?;
        ((start..end).contains(&address) && path.starts_with('/')).then(|| PathBuf::from(path))
    })
}

/// The candidate files of `directory` (`*.so`, regular files or links to them), sorted.
pub fn candidates(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "so"))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_so_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.so", "a.so", "notes.txt", "c.so.1"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.so")).unwrap();
        let found: Vec<String> = candidates(dir.path())
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["a.so", "b.so"]);
        assert!(candidates(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn the_library_directory_is_absolute() {
        let directory = library_directory().expect("dladdr finds the test executable");
        assert!(directory.is_absolute());
        let anchor = library_directory as fn() -> Option<PathBuf> as usize;
        let mapped = mapped_file(anchor).expect("the test executable is mapped");
        assert_eq!(mapped.parent().unwrap(), directory);
    }
}
