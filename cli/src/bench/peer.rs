//! The peer process, `ipc __bench-peer SPEC...`, and the commands it obeys.
//!
//! One peer thread serves every link (each raw baseline and each libipc transport), so all
//! systems run between the same two threads and share whatever CPU placement the scheduler
//! picks; measuring them from separate processes let placement, not the code, decide results.
//!
//! It obeys the commands of the shared bench library ([`libipc_bench::peer`]: `echo N`,
//! `sink N`, `cpu`, `goto I`, `quit`); after `quit` the bench closes every link, and the peer
//! follows.

use std::str::FromStr;

use libipc::Channel;

use libipc_bench::{IpcLink, Link, Pattern};

use super::cpu_time;
use super::raw::RawLink;
use super::raw_shm::{Inherited, ShmLink};
use super::{BASELINES, Baseline, INHERITED};
use crate::fail::{Fail, Result};

/// Which implementation a link speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    /// A raw baseline; no libipc code.
    Raw(Baseline),
    /// A libipc channel.
    Libipc,
}

impl System {
    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Raw(_) => "raw",
            System::Libipc => "libipc",
        }
    }

    /// The patterns it is measured with.
    pub(crate) fn patterns(self) -> &'static [Pattern] {
        match self {
            System::Raw(baseline) => baseline.patterns(),
            System::Libipc => &Pattern::ALL,
        }
    }
}

/// One link for the peer to open: `raw:unix=SOCKET_PATH`, `raw:unix-spin=SOCKET_PATH`,
/// `raw:pipe=FIFO_BASE`, `raw:pipe-spin=FIFO_BASE` (`FIFO_BASE.down` and `FIFO_BASE.up`),
/// `raw:shm-futex=MEMFD,ALIVE`,
/// `raw:shm-spin=MEMFD,ALIVE` (descriptor numbers inherited from the bench) or
/// `libipc@SPIN_US=ENDPOINT` (`libipc@0=inherited:LIBIPC_CHANNEL_FD`: the channel whose socket
/// this process inherited, opened with `Channel::from_env`).
#[derive(Debug, Clone)]
pub(crate) struct LinkSpec {
    pub(crate) system: System,
    pub(crate) endpoint: String,
    /// Shared-memory spin time in microseconds (libipc links only).
    pub(crate) spin_us: u64,
}

impl LinkSpec {
    pub(crate) fn to_arg(&self) -> String {
        match self.system {
            System::Raw(baseline) => format!("raw:{}={}", baseline.name(), self.endpoint),
            System::Libipc => format!("libipc@{}={}", self.spin_us, self.endpoint),
        }
    }
}

impl FromStr for LinkSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<LinkSpec, String> {
        let expected = || {
            format!(
                "expected raw:unix=PATH, raw:unix-spin=PATH, raw:pipe=PATH, raw:pipe-spin=PATH, \
                 raw:shm-futex=MEMFD,ALIVE, \
                 raw:shm-spin=MEMFD,ALIVE or libipc@SPIN_US=ENDPOINT, got {s:?}"
            )
        };
        let (head, endpoint) = s.split_once('=').ok_or_else(expected)?;
        let system = match head.split_once(':') {
            Some(("raw", name)) => BASELINES
                .into_iter()
                .find(|b| b.name() == name)
                .map(System::Raw)
                .ok_or_else(expected)?,
            None if head.starts_with("libipc@") => System::Libipc,
            _ => return Err(expected()),
        };
        if let System::Raw(b) = system
            && b.wait().is_some()
            && Inherited::parse_arg(endpoint).is_none()
        {
            return Err(expected());
        }
        let spin_us = match head.strip_prefix("libipc@") {
            Some(us) => us.parse().map_err(|_| expected())?,
            None => 0,
        };
        Ok(LinkSpec {
            system,
            endpoint: endpoint.to_owned(),
            spin_us,
        })
    }
}

/// Arguments of the hidden `__bench-peer` subcommand.
#[derive(Debug, clap::Args)]
pub struct PeerArgs {
    /// Links to open, in order: raw:unix=SOCKET_PATH, raw:unix-spin=SOCKET_PATH,
    /// raw:pipe=FIFO_BASE, raw:pipe-spin=FIFO_BASE,
    /// raw:shm-futex=MEMFD,ALIVE, raw:shm-spin=MEMFD,ALIVE or
    /// libipc@SPIN_MICROSECONDS=ENDPOINT.
    #[arg(required = true, value_name = "SPEC")]
    links: Vec<LinkSpec>,
}

pub(crate) fn run(args: PeerArgs) -> Result {
    // Claim the inherited descriptors before this process opens any of its own, so that the
    // numbers can only name what the bench passed; each number once.
    let mut claimed = Vec::new();
    let mut inherited = Vec::new();
    for spec in &args.links {
        let shm = match spec.system {
            System::Raw(b) => b.wait(),
            System::Libipc => None,
        };
        inherited.push(match shm {
            Some(wait) => {
                let fds = Inherited::parse_arg(&spec.endpoint)
                    .ok_or_else(|| Fail::new(format!("bad descriptors {:?}", spec.endpoint)))?;
                if fds.iter().any(|fd| claimed.contains(fd)) {
                    return Err(Fail::new(format!("descriptors {fds:?} named twice")));
                }
                claimed.extend(fds);
                Some((wait, Inherited::take(fds)?))
            }
            None => None,
        });
    }
    let mut links: Vec<Box<dyn Link>> = Vec::new();
    for (spec, inherited) in args.links.iter().zip(inherited) {
        links.push(match (spec.system, inherited) {
            (_, Some((wait, fds))) => Box::new(ShmLink::open(wait, fds)?),
            (System::Raw(b), None) if b.is_pipe() => {
                Box::new(RawLink::open_pipe(spec.endpoint.as_ref(), b.stream_spin())?)
            }
            (System::Raw(b), None) => {
                Box::new(RawLink::connect(spec.endpoint.as_ref(), b.stream_spin())?)
            }
            (System::Libipc, None) if spec.endpoint == INHERITED => {
                Box::new(IpcLink::new(Channel::from_env()?))
            }
            (System::Libipc, None) => {
                let opts = libipc::Options::new()
                    .with_shm_spin(std::time::Duration::from_micros(spec.spin_us));
                Box::new(IpcLink::new(Channel::connect_with(
                    spec.endpoint.as_str(),
                    &opts,
                )?))
            }
        });
    }
    libipc_bench::serve(&mut links, Some(cpu_time))
        .map_err(|e| Fail::new(format!("bench peer: {e}")))?;
    // After `quit` the bench closes every link; wait for that before closing ours, so each
    // side's close finds the other still there (a close racing a vanished peer can stall).
    for link in &mut links {
        while link.recv().is_ok() {}
        link.close();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{LinkSpec, System};
    use crate::bench::Baseline;

    #[test]
    fn link_specs_parse() {
        let spec: LinkSpec = "libipc@20=tcp://127.0.0.1:9".parse().unwrap();
        assert_eq!(spec.system, System::Libipc);
        assert_eq!(spec.endpoint, "tcp://127.0.0.1:9");
        assert_eq!(spec.to_arg(), "libipc@20=tcp://127.0.0.1:9");
        let spec: LinkSpec = "raw:unix=/tmp/x=y.sock".parse().unwrap();
        assert_eq!(spec.system, System::Raw(Baseline::Unix));
        assert_eq!(spec.endpoint, "/tmp/x=y.sock");
        assert_eq!(spec.to_arg(), "raw:unix=/tmp/x=y.sock");
        let spec: LinkSpec = "raw:shm-spin=5,6".parse().unwrap();
        assert_eq!(spec.system, System::Raw(Baseline::ShmSpin));
        assert_eq!(spec.to_arg(), "raw:shm-spin=5,6");
        for bad in [
            "shm=x",
            "raw=/p",
            "raw:shm=5,6",
            "raw:shm-futex=5",
            "raw:shm-futex=5,5",
            "raw:shm-futex=1,6",
            "libipc:unix=x",
        ] {
            assert!(bad.parse::<LinkSpec>().is_err(), "{bad}");
        }
    }
}
