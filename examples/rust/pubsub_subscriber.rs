//! A subscriber: subscribes to the topics starting with any of the given prefixes (none:
//! every topic) and prints `topic: payload` for each message until the publisher closes,
//! and how many messages were dropped for it if any were.
//!
//! `pubsub_subscriber <endpoint> [prefix]...`

use libipc::ErrorKind;
use libipc::pubsub::Subscriber;

fn main() -> libipc::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "ticker".to_owned());
    let prefixes: Vec<String> = args.collect();
    let subscriber = Subscriber::connect_topics(endpoint.as_str(), &prefixes)?;
    loop {
        match subscriber.recv() {
            Ok(m) => {
                if m.dropped() > 0 {
                    println!("({} dropped)", m.dropped());
                }
                println!(
                    "{}: {}",
                    String::from_utf8_lossy(m.topic()),
                    String::from_utf8_lossy(m.payload())
                );
            }
            Err(e) if e.kind() == ErrorKind::Closed => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
