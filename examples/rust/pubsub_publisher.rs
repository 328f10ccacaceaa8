//! A publisher: waits for the given number of subscribers, publishes each `topic=payload`
//! argument, then closes (each subscriber gets everything, then the end).
//!
//! `pubsub_publisher <endpoint> <subscribers> <topic=payload>...`

use libipc::Wait;
use libipc::pubsub::Publisher;

fn main() -> libipc::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "ticker".to_owned());
    let subscribers: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let publisher = Publisher::bind(endpoint.as_str())?;
    publisher.wait_for_subscribers(subscribers, Wait::forever())?;
    for arg in args {
        let (topic, payload) = arg.split_once('=').unwrap_or(("", arg.as_str()));
        publisher.publish(topic.as_bytes(), payload.as_bytes())?;
    }
    publisher.close();
    Ok(())
}
