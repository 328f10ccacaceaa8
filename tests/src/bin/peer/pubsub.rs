//! `ipc-test-peer subscribe` and `ipc-test-peer publish`: the two ends of publish/subscribe in
//! their own processes, for the cross-process tests (tests/tests/pubsub.rs).
//!
//! ```text
//! ipc-test-peer subscribe <endpoint> [--topic P]... [--slow-us N] [--max-message N]
//!     Subscribe (to topics starting with each P; none: all); print `ready`; receive until
//!     the subscription ends, sleeping N µs after each message. Each payload starts with the
//!     publisher's u64 LE index of the message, and an unfiltered subscriber checks that it
//!     is the first one's index plus the sequence number (so every gap is a reported drop).
//!     Then print `done received R dropped D first F last L end KIND` (F, L: indices of the
//!     first and last message; -1 if none) and exit 0; a check failing prints `bad ...` and
//!     exits 1.
//! ipc-test-peer publish <endpoint> --subscribers K --count N [--size S] [--block-ms T]
//!         [--depth D] [--topic T]
//!     Bind a publisher (drop-oldest, or block for T ms when given); print `ready <endpoint>`;
//!     wait for K subscribers; publish N messages of S bytes (default 64) whose payload starts
//!     with the index, under topic T (default empty); close, waiting for the subscribers; print
//!     `done published N dropped D cut_off C`.
//! ```

use std::time::Duration;

use libipc::Wait;
use libipc::pubsub::{Policy, Publisher, Subscriber};

use super::{Args, Fail};

/// A payload of `size` bytes (at least 8) starting with `index`.
pub(crate) fn payload(index: u64, size: usize) -> Vec<u8> {
    let mut v = index.to_le_bytes().to_vec();
    v.resize(size.max(8), (index % 251) as u8);
    v
}

pub(crate) fn subscribe(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(0, "endpoint")?;
    let opts = args.options()?;
    let topics: Vec<String> = args.all("--topic");
    let slow = Duration::from_micros(args.get("--slow-us", 0)?);
    let s = Subscriber::connect_with(ep, &opts, &topics)?;
    println!("ready");
    let (mut received, mut first, mut last) = (0u64, None::<u64>, None::<u64>);
    let end = loop {
        match s.recv() {
            Ok(d) => {
                if d.payload().len() < 8 {
                    println!("bad payload of {} bytes", d.payload().len());
                    std::process::exit(1);
                }
                let index = u64::from_le_bytes(d.payload()[..8].try_into().expect("8 bytes"));
                let f = *first.get_or_insert(index - d.seq().min(index));
                if topics.is_empty() && index != f + d.seq() {
                    println!("bad index {index}: first {f}, sequence {}", d.seq());
                    std::process::exit(1);
                }
                if last.is_some_and(|l| index <= l) {
                    println!("bad order: {index} after {}", last.unwrap_or(0));
                    std::process::exit(1);
                }
                last = Some(index);
                received += 1;
                if !slow.is_zero() {
                    std::thread::sleep(slow);
                }
            }
            Err(e) => break e.kind(),
        }
    };
    let show = |v: Option<u64>| v.map_or("-1".to_owned(), |v| v.to_string());
    println!(
        "done received {received} dropped {} first {} last {} end {}",
        s.dropped(),
        show(first),
        show(last),
        end.name()
    );
    Ok(())
}

pub(crate) fn publish(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(0, "endpoint")?;
    let opts = args.options()?;
    let subscribers: usize = args.get("--subscribers", 1)?;
    let count: u64 = args.get("--count", 0)?;
    let size: usize = args.get("--size", 64)?;
    let depth: usize = args.get("--depth", libipc::pubsub::DEFAULT_DEPTH)?;
    let topic: String = args.get("--topic", String::new())?;
    let policy = match args.get::<u64>("--block-ms", 0)? {
        0 => Policy::drop_oldest(depth),
        ms => Policy::block(Duration::from_millis(ms), depth),
    };
    let p = Publisher::bind_with(ep, &opts, policy)?;
    println!("ready {}", p.local_endpoint());
    p.wait_for_subscribers(subscribers, Wait::forever())?;
    for i in 0..count {
        p.publish(topic.as_bytes(), &payload(i, size))?;
    }
    p.close();
    let st = p.stats();
    println!(
        "done published {} dropped {} cut_off {}",
        st.published, st.dropped, st.cut_off
    );
    Ok(())
}
