//! A link kind from outside the crate, measured next to a raw baseline the way a second bench
//! (one with peer libraries) would: this test binary is both the bench and, re-run with its
//! own hidden subcommand, the peer. It has its own `main` (`harness = false`).
//!
//! The kind, `demo:unix`, is a Unix socket with its own framing (a big-endian 4-byte length,
//! written separately from the payload), compared with the raw `unix` row.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use libipc_bench::{Budget, Context, Fail, Link, Method, Pattern, Result};
use libipc_bench_unix::{
    BASELINES, Baseline, BenchSide, LinkKind, LinkSpec, Noise, Peer, Plan, Report, Rerun,
    ScratchDir, Setup, cpu_time,
};

const PEER: &str = "__demo-peer";

/// A Unix socket carrying big-endian length-prefixed messages.
struct Demo {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Link for Demo {
    fn send(&mut self, msg: &[u8]) -> Result {
        self.stream.write_all(&(msg.len() as u32).to_be_bytes())?;
        Ok(self.stream.write_all(msg)?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        self.buf.resize(u32::from_be_bytes(len) as usize, 0);
        self.stream.read_exact(&mut self.buf)?;
        Ok(&self.buf)
    }

    fn echo(&mut self) -> Result {
        self.recv()?;
        let msg = std::mem::take(&mut self.buf);
        self.send(&msg)?;
        self.buf = msg;
        Ok(())
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}

struct DemoKind;

impl LinkKind for DemoKind {
    fn system(&self) -> &str {
        "demo"
    }

    fn transport(&self) -> &str {
        "unix"
    }

    fn patterns(&self) -> &[Pattern] {
        &Pattern::ALL
    }

    fn same_wait(&self) -> Option<&str> {
        Some(Baseline::Unix.name())
    }

    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide> {
        let path = setup.dir.join("demo.sock");
        let listener = UnixListener::bind(&path).context("binding the demo socket")?;
        listener.set_nonblocking(true)?;
        Ok(BenchSide {
            arg: path.to_string_lossy().into_owned(),
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |started| {
                let stream = started.wait_for(|| match listener.accept() {
                    Ok((stream, _)) => Ok(Some(stream)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                        Ok(None)
                    }
                    Err(e) => Err(e.into()),
                })?;
                stream.set_nonblocking(false)?;
                Ok(Box::new(Demo {
                    stream,
                    buf: Vec::new(),
                }))
            }),
        })
    }

    fn peer_side(&self, arg: &str, _: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        Ok(Box::new(Demo {
            stream: UnixStream::connect(arg)?,
            buf: Vec::new(),
        }))
    }
}

fn kinds() -> Vec<&'static dyn LinkKind> {
    let mut kinds = libipc_bench_unix::kinds();
    kinds.push(&DemoKind);
    kinds
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(PEER) {
        let kinds = kinds();
        let specs: Vec<LinkSpec> = args[1..]
            .iter()
            .map(|a| LinkSpec::parse(a, &kinds).expect("a spec the bench wrote"))
            .collect();
        if let Err(e) = libipc_bench_unix::run_peer(&kinds, &specs) {
            eprintln!("demo peer: {e}");
            std::process::exit(1);
        }
        return;
    }
    // Run by `cargo test` (maybe with filter arguments, which this one test ignores).
    if let Err(e) = bench() {
        panic!("{e}");
    }
    println!("test another_kind ... ok");
}

fn bench() -> Result {
    let dir = ScratchDir::new()?;
    let kinds: Vec<&dyn LinkKind> = vec![&BASELINES[0], &DemoKind, &BASELINES[4]];
    let mut peer = Peer::start(&Rerun::current_exe(PEER)?, dir.path(), &kinds, 4096)?;
    let plan = Plan::new(&peer, &[64, 4096]);
    // rtt and stream, for each of the three links, at two sizes.
    assert_eq!(plan.total(), 12);
    let method = Method {
        budget: Budget::QUICK,
        cpu_time: Some(cpu_time),
    };
    let outcome = plan.run(&mut peer, &method)?;
    peer.finish()?;
    let noise = Noise::judge(None, None, outcome.worst, false);
    let report = Report::new(outcome.rows, None, noise);

    let table = report.table();
    for line in ["demo    unix", "raw     shm-futex", "x unix"] {
        assert!(table.contains(line), "{line:?} in\n{table}");
    }
    let json_path = dir.path().join("out.json");
    let file = std::fs::File::create(&json_path)?;
    report.write_json(file, &json_path)?;
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path)?)
        .map_err(|e| Fail::new(e.to_string()))?;
    let rows = doc["results"].as_array().expect("results");
    assert_eq!(rows.len(), 12, "{doc}");
    let demo: Vec<_> = rows.iter().filter(|r| r["system"] == "demo").collect();
    assert_eq!(demo.len(), 4, "{doc}");
    for row in demo {
        assert_eq!(row["transport"], "unix", "{row}");
        assert_eq!(row["same_wait_baseline"], "unix", "{row}");
        assert!(
            row["vs_same_wait"].as_f64().is_some_and(|v| v > 0.0),
            "{row}"
        );
        assert!(row.get("blocking_baseline").is_none(), "{row}");
        assert!(
            row["cpu_us_per_msg"].as_f64().is_some_and(|v| v > 0.0),
            "{row}"
        );
        match row["pattern"].as_str() {
            Some("rtt") => assert!(row["p50_us"].as_f64().is_some_and(|v| v > 0.0), "{row}"),
            Some("stream") => assert!(row["msgs_per_s"].as_f64().is_some(), "{row}"),
            other => panic!("pattern {other:?}"),
        }
    }
    Ok(())
}
