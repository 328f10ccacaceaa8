//! The runtime directory bare names resolve into, and its permission checks.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

pub(crate) fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

pub(crate) fn runtime_dir() -> Result<PathBuf> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = from_env("LIBIPC_RUNTIME_DIR") {
        return absolute(dir, "LIBIPC_RUNTIME_DIR");
    }
    if let Some(dir) = from_env("XDG_RUNTIME_DIR") {
        return Ok(absolute(dir, "XDG_RUNTIME_DIR")?.join("libipc"));
    }
    Ok(std::env::temp_dir().join(format!("libipc-{}", current_uid())))
}

fn absolute(dir: PathBuf, var: &str) -> Result<PathBuf> {
    if dir.is_absolute() {
        Ok(dir)
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("${var} must be an absolute path, got {}", dir.display()),
        ))
    }
}

/// Check an existing runtime directory is private (for connecting): missing is `NotFound`.
pub(crate) fn check_private_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::new(
            ErrorKind::NotFound,
            format!("nobody is listening: {} does not exist", dir.display()),
        )),
        Err(e) => Err(Error::from_io(
            &e,
            format_args!("checking {}", dir.display()),
        )),
        Ok(_) => verify_private_dir(dir),
    }
}

/// Create `dir` with mode 0700 if missing, then insist it is a real directory, owned by us,
/// with no group or other permissions.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Error::from_io(
                &e,
                format_args!("creating runtime directory {}", dir.display()),
            )
        })?;
    verify_private_dir(dir)
}

fn verify_private_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::from_io(&e, format_args!("checking {}", dir.display())))?;
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("{} is not a directory", dir.display()),
        ));
    }
    if meta.uid() != current_uid() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} is owned by uid {}, not by this user ({})",
                dir.display(),
                meta.uid(),
                current_uid()
            ),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} has mode {:o}; it must not be accessible to group or others (0700)",
                dir.display(),
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    Ok(())
}
