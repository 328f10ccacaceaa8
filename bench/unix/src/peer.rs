//! The peer process (`ipc __bench-peer SPEC...`, or another bench's hidden subcommand), which
//! opens the links it is told about and obeys the commands on them.
//!
//! One peer thread serves every link (each raw baseline, each libipc transport, each other
//! system), so all systems run between the same two threads and share whatever CPU placement
//! the scheduler picks; measuring them from separate processes let placement, not the code,
//! decide results.
//!
//! It obeys the commands of the shared bench library ([`libipc_bench::peer`]: `echo N`,
//! `sink N`, `cpu`, `goto I`, `quit`); after `quit` the bench closes every link, and the peer
//! follows.

use libipc_bench::{Fail, Link, Result};

use crate::kind::{LinkKind, LinkSpec, find};
use crate::{cpu_time, monotonic_ns};

/// Open the links `specs` names (each one of `kinds`, parsed with [`LinkSpec::parse`]), in
/// order, and serve them until `quit`.
pub fn run_peer(kinds: &[&dyn LinkKind], specs: &[LinkSpec]) -> Result {
    // A bench killed mid-run cannot tell us `quit`, and some links never report a vanished
    // peer (a ZeroMQ PAIR socket, a busy-polled shared-memory ring): die with it.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
            .map_err(|e| Fail::new(format!("bench peer: PR_SET_PDEATHSIG: {e}")))?;
    }
    let mut named = Vec::new();
    for spec in specs {
        let kind = find(kinds, spec)
            .ok_or_else(|| Fail::new(format!("unknown link {}", spec.to_arg())))?;
        named.push((kind, kind.inherits(&spec.arg)?));
    }
    // Claim the inherited descriptors before this process opens any of its own, so that the
    // numbers can only name what the bench passed; each number once.
    let inherits: Vec<_> = named.iter().map(|(_, fds)| fds.clone()).collect();
    let inherited = crate::inherit::take(&inherits)?;
    let mut links: Vec<Box<dyn Link>> = Vec::new();
    let mut opened_ns = Vec::new();
    for ((spec, (kind, _)), fds) in specs.iter().zip(named).zip(inherited) {
        opened_ns.push(monotonic_ns());
        links.push(kind.peer_side(&spec.arg, fds)?);
    }
    libipc_bench::serve(&mut links, Some(cpu_time), &opened_ns)
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
    use crate::kind::LinkSpec;

    #[test]
    fn link_specs_parse() {
        let kinds = crate::kinds();
        let spec = LinkSpec::parse("libipc:tcp=tcp://127.0.0.1:9", &kinds).unwrap();
        assert_eq!(
            (spec.system.as_str(), spec.transport.as_str()),
            ("libipc", "tcp")
        );
        assert_eq!(spec.arg, "tcp://127.0.0.1:9");
        assert_eq!(spec.to_arg(), "libipc:tcp=tcp://127.0.0.1:9");
        let spec = LinkSpec::parse("raw:unix=/tmp/x=y.sock", &kinds).unwrap();
        assert_eq!(
            (spec.system.as_str(), spec.transport.as_str()),
            ("raw", "unix")
        );
        assert_eq!(spec.arg, "/tmp/x=y.sock");
        assert_eq!(spec.to_arg(), "raw:unix=/tmp/x=y.sock");
        let spec = LinkSpec::parse("raw:shm-spin=5,6", &kinds).unwrap();
        assert_eq!(spec.transport, "shm-spin");
        assert_eq!(spec.to_arg(), "raw:shm-spin=5,6");
        for bad in [
            "shm=x",
            "raw=/p",
            "raw:shm=5,6",
            "raw:shm-futex=5",
            "raw:shm-futex=5,5",
            "raw:shm-futex=1,6",
            "libipc:carrier-pigeon=x",
            "libipc@20=unix:///x",
            "zmq:ipc=x",
        ] {
            assert!(LinkSpec::parse(bad, &kinds).is_err(), "{bad}");
        }
    }
}
