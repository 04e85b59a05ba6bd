//! Files as every operator reads and writes them: written atomically, read defensively, with
//! HALCON's file error numbers and messages naming the path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{H_ERR_CNOF, H_ERR_EDWF, H_ERR_FNF, H_ERR_WFIN, HalconError, Result};

/// Checks a file name given by the caller: not empty.
pub fn checked_path(name: &str) -> Result<PathBuf> {
    if name.is_empty() {
        return Err(HalconError::new(H_ERR_WFIN, "the file name is empty"));
    }
    Ok(PathBuf::from(name))
}

fn read_error(path: &Path, error: io::Error) -> HalconError {
    match error.kind() {
        io::ErrorKind::NotFound => {
            HalconError::new(H_ERR_FNF, format!("file '{}' not found", path.display()))
        }
        _ => HalconError::new(H_ERR_CNOF, format!("cannot read '{}': {error}", path.display())),
    }
}

fn write_error(path: &Path, error: io::Error) -> HalconError {
    HalconError::new(H_ERR_EDWF, format!("cannot write '{}': {error}", path.display()))
}

/// Reads a whole file. The buffer is reserved fallibly from the file's size, so a huge file
/// is an error (6001), never an abort.
pub fn read_whole(path: &Path) -> Result<Vec<u8>> {
    let mut file = File::open(path).map_err(|error| read_error(path, error))?;
    let metadata = file.metadata().map_err(|error| read_error(path, error))?;
    if metadata.is_dir() {
        return Err(HalconError::new(
            H_ERR_CNOF,
            format!("'{}' is a directory, not a file", path.display()),
        ));
    }
    let length = usize::try_from(metadata.len())
        .map_err(|_| HalconError::out_of_memory("reading a file", usize::MAX))?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(length).map_err(|_| {
        HalconError::out_of_memory(&format!("reading '{}'", path.display()), length)
    })?;
    file.read_to_end(&mut bytes).map_err(|error| read_error(path, error))?;
    Ok(bytes)
}

static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: into a temporary file beside it, flushed to disk,
/// then renamed over `path`. A crash at any point leaves either the old file or the new one,
/// never a torn one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        HalconError::new(H_ERR_WFIN, format!("'{}' names no file", path.display()))
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temporary = directory.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // Make the rename itself durable; not every file system supports syncing a directory.
        if let Ok(directory) = File::open(&directory) {
            let _ = directory.sync_all();
        }
        Ok(())
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(write_error(path, error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_files() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("out.bin");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(read_whole(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(directory.path()).unwrap().count(), 1);
    }

    #[test]
    fn failures_name_the_path_and_keep_the_old_file() {
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("missing");
        let error = read_whole(&missing).unwrap_err();
        assert_eq!(error.code, H_ERR_FNF);
        assert!(error.message.contains("missing"));
        let error = write_atomically(&directory.path().join("no/such/dir/file"), b"x").unwrap_err();
        assert_eq!(error.code, H_ERR_EDWF);
        assert_eq!(read_whole(directory.path()).unwrap_err().code, H_ERR_CNOF);
    }
}
