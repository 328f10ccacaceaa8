//! An echo server: every message each client sends comes back to it.
//!
//! ```sh
//! cargo run -p libipc-examples --example echo_server -- demo
//! cargo run -p libipc-examples --example client -- demo hello world
//! ```

use libipc::Listener;

fn main() -> libipc::Result<()> {
    let endpoint = std::env::args().nth(1).unwrap_or_else(|| "demo".to_owned());
    let listener = Listener::bind(endpoint.as_str())?;
    println!("echoing on {}", listener.local_endpoint());
    for channel in listener.incoming() {
        let channel = channel?;
        std::thread::spawn(move || {
            let peer = channel.peer();
            for message in channel.iter() {
                match message {
                    Ok(m) => {
                        if let Err(e) = channel.send(&m) {
                            eprintln!("echo to {peer:?} failed: {e}");
                            return;
                        }
                    }
                    Err(e) => eprintln!("client {peer:?}: {e}"),
                }
            }
        });
    }
    Ok(())
}
