//! Build script: the gRPC stubs for the `grpc` peer (src/peers/grpc.rs) and the request/reply
//! rows (src/rpc.rs), generated from Rust
//! with `tonic_build::manual` (no .proto file, no protoc, no prost). Nothing without that
//! feature (Cargo sets `CARGO_FEATURE_GRPC` and the `feature = "grpc"` cfg together).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "grpc")]
    grpc();
}

/// `bench.Link/Exchange`: one bidirectional stream of raw byte messages each way, carried by
/// the raw-bytes codec `RawCodec` in the peer's module. Written to `$OUT_DIR/bench.Link.rs`.
#[cfg(feature = "grpc")]
fn grpc() {
    use tonic_build::manual::{Builder, Method, Service};
    let exchange = Method::builder()
        .name("exchange")
        .route_name("Exchange")
        .input_type("::bytes::Bytes")
        .output_type("::bytes::Bytes")
        .codec_path("crate::peers::grpc::RawCodec")
        .client_streaming()
        .server_streaming()
        .build();
    let service = Service::builder()
        .name("Link")
        .package("bench")
        .method(exchange)
        .build();
    // `bench.Rpc/Call`: one unary call per request, for the request/reply rows (src/rpc.rs).
    let call = Method::builder()
        .name("call")
        .route_name("Call")
        .input_type("::bytes::Bytes")
        .output_type("::bytes::Bytes")
        .codec_path("crate::peers::grpc::RawCodec")
        .build();
    let rpc = Service::builder()
        .name("Rpc")
        .package("bench")
        .method(call)
        .build();
    Builder::new().compile(&[service, rpc]);
}
