//! A request/reply client: sends every argument as a request, all at once (many requests may
//! be in flight on one connection), then prints each reply in order, or the error reply.

use std::time::Duration;

use libipc::rpc::Client;
use libipc::{ErrorKind, Options, Wait};

fn main() -> libipc::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "calc".to_owned());
    let opts = Options::new().with_connect_timeout(Duration::from_secs(5));
    let client = Client::connect_with(endpoint.as_str(), &opts)?;
    let pending = args
        .map(|text| client.start(text.as_bytes()))
        .collect::<libipc::Result<Vec<_>>>()?;
    for p in pending {
        match p.wait(Wait::timeout(Duration::from_secs(5))) {
            Ok(reply) => println!("{}", String::from_utf8_lossy(&reply)),
            Err(e) if e.kind() == ErrorKind::Remote => {
                println!("error {}: {}", e.status().unwrap_or(0), e.message());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
