//! The peer's claim on descriptors inherited from the bench across exec.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use libipc_bench::{Fail, Result};

use crate::kind::Inherit;

/// Take ownership of the descriptors every link named, in order, each list one link's.
///
/// Call this before the process opens any descriptor of its own, so that the numbers can only
/// name what the bench passed. Fails if a number is named twice, is not open, or is not of
/// the kind named.
pub(crate) fn take(links: &[Vec<Inherit>]) -> Result<Vec<Vec<OwnedFd>>> {
    let mut claimed: Vec<RawFd> = Vec::new();
    for inherit in links.iter().flatten() {
        if inherit.fd <= 2 {
            return Err(Fail::new(format!(
                "descriptor {} from the bench is stdin, stdout or stderr",
                inherit.fd
            )));
        }
        if claimed.contains(&inherit.fd) {
            return Err(Fail::new(format!("descriptor {} named twice", inherit.fd)));
        }
        claimed.push(inherit.fd);
        // Check, without touching the descriptor, that it is open and of the right kind.
        let target = std::fs::read_link(format!("/proc/self/fd/{}", inherit.fd))
            .map_err(|e| Fail::new(format!("descriptor {} from the bench: {e}", inherit.fd)))?;
        let target = target.to_string_lossy();
        if !target.trim_start_matches('/').starts_with(inherit.kind) {
            return Err(Fail::new(format!(
                "descriptor {} from the bench is {target}, not {}",
                inherit.fd, inherit.kind
            )));
        }
    }
    Ok(links
        .iter()
        .map(|fds| {
            fds.iter()
                .map(|inherit| {
                    // SAFETY: the descriptor is open (checked above), it is one the bench
                    // passed across exec (the caller runs before this process opens any of
                    // its own), and no number is claimed twice (checked above), so each has
                    // this one owner.
                    unsafe { OwnedFd::from_raw_fd(inherit.fd) }
                })
                .collect()
        })
        .collect())
}
