//! A client: sends each argument as a message and prints the reply.

use std::time::Duration;

use libipc::{Channel, Options};

fn main() -> libipc::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "demo".to_owned());
    let opts = Options::new().with_connect_timeout(Duration::from_secs(5));
    let channel = Channel::connect_with(endpoint.as_str(), &opts)?;
    for text in args {
        channel.send(text.as_bytes())?;
        let reply = channel.recv_timeout(Duration::from_secs(5))?;
        println!("{}", String::from_utf8_lossy(&reply));
    }
    channel.close();
    Ok(())
}
