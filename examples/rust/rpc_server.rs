//! A request/reply server (async: each request is handled as a task of its own, so slow ones
//! do not hold up the others): a tiny calculator. `add 2 3` is answered `5`; anything it does
//! not understand gets an error reply with status 400 and a reason.

use libipc::Error;
use libipc::rpc::{AsyncServer, Request};

fn calculate(text: &str) -> Result<i64, String> {
    let mut words = text.split_whitespace();
    let op = words.next().ok_or("empty request")?;
    let args: Vec<i64> = words
        .map(|w| w.parse().map_err(|_| format!("{w:?} is not a number")))
        .collect::<Result<_, _>>()?;
    match op {
        "add" => Ok(args.iter().sum()),
        "mul" => Ok(args.iter().product()),
        other => Err(format!("unknown operation {other:?}")),
    }
}

async fn handle(req: Request) -> libipc::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(req.body());
    calculate(&text)
        .map(|n| n.to_string().into_bytes())
        .map_err(|why| Error::remote(400, why))
}

#[tokio::main]
async fn main() -> libipc::Result<()> {
    let endpoint = std::env::args().nth(1).unwrap_or_else(|| "calc".to_owned());
    let server = AsyncServer::bind(endpoint.as_str()).await?;
    println!("serving on {}", server.local_endpoint());
    server.serve(handle).await
}
