//! Keyword options (the core's names and defaults) and times in seconds.

use std::time::Duration;

use libipc::{ErrorKind, Options};
use pyo3::prelude::*;

use crate::errors;

/// Seconds as a `Duration`: finite and not negative, else `InvalidArgumentError`.
pub(crate) fn seconds(py: Python<'_>, what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        errors::raise(
            py,
            ErrorKind::InvalidArgument.code(),
            &format!("{what} must be a finite, non-negative number of seconds, not {s}"),
        )
    })
}

/// A whole-number option: in range for `T`, else `InvalidArgumentError` (not `OverflowError`).
pub(crate) fn whole<T: TryFrom<i128>>(py: Python<'_>, what: &str, v: i128) -> PyResult<T> {
    T::try_from(v).map_err(|_| {
        errors::raise(
            py,
            ErrorKind::InvalidArgument.code(),
            &format!("{what} is out of range: {v}"),
        )
    })
}

/// A timeout argument: `None` = no limit.
pub(crate) fn timeout(py: Python<'_>, t: Option<f64>) -> PyResult<Option<Duration>> {
    t.map(|s| seconds(py, "timeout", s)).transpose()
}

/// The options both sides share, from keyword arguments (`None` = the core's default).
#[derive(Debug, Default)]
pub(crate) struct Common {
    pub(crate) max_message_size: Option<i128>,
    pub(crate) handshake_timeout: Option<f64>,
    pub(crate) allowed_uids: Option<Vec<i128>>,
    pub(crate) allowed_gids: Option<Vec<i128>>,
    pub(crate) shm_spin: Option<f64>,
    pub(crate) stream_spin: Option<f64>,
    pub(crate) shm_posix_fallback: Option<bool>,
    pub(crate) frame_timeout: Option<f64>,
}

impl Common {
    pub(crate) fn build(self, py: Python<'_>) -> PyResult<Options> {
        let mut o = Options::new();
        if let Some(n) = self.max_message_size {
            o = o.with_max_message_size(whole(py, "max_message_size", n)?);
        }
        if let Some(t) = self.handshake_timeout {
            o = o.with_handshake_timeout(seconds(py, "handshake_timeout", t)?);
        }
        if let Some(uids) = self.allowed_uids {
            let uids: Vec<u32> = uids
                .into_iter()
                .map(|u| whole(py, "allowed_uids entry", u))
                .collect::<PyResult<_>>()?;
            o = o.with_allowed_uids(uids);
        }
        if let Some(gids) = self.allowed_gids {
            let gids: Vec<u32> = gids
                .into_iter()
                .map(|g| whole(py, "allowed_gids entry", g))
                .collect::<PyResult<_>>()?;
            o = o.with_allowed_gids(gids);
        }
        if let Some(t) = self.shm_spin {
            o = o.with_shm_spin(seconds(py, "shm_spin", t)?);
        }
        if let Some(t) = self.stream_spin {
            o = o.with_stream_spin(seconds(py, "stream_spin", t)?);
        }
        if let Some(on) = self.shm_posix_fallback {
            o = o.with_shm_posix_fallback(on);
        }
        if let Some(t) = self.frame_timeout {
            // Zero: no limit.
            o = o.with_frame_timeout(seconds(py, "frame_timeout", t)?);
        }
        Ok(o)
    }
}
