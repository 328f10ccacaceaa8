//! The async API: an echo server task and a client in one tokio program.

use libipc::aio::{AsyncChannel, AsyncListener};

#[tokio::main]
async fn main() -> libipc::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:0".to_owned());
    let listener = AsyncListener::bind(endpoint.as_str()).await?;
    let local = listener.local_endpoint().to_string();
    tokio::spawn(async move {
        while let Ok(channel) = listener.accept().await {
            tokio::spawn(async move {
                while let Ok(message) = channel.recv().await {
                    if channel.send(&message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });

    let channel = AsyncChannel::connect(local.as_str()).await?;
    for text in ["one", "two", "three"] {
        channel.send(text.as_bytes()).await?;
        let reply = channel.recv().await?;
        println!("{}", String::from_utf8_lossy(&reply));
    }
    channel.close().await;
    Ok(())
}
