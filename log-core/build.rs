//! Generates the gRPC code for `proto/fjord/broker/v1/broker.proto` (the inter-broker services)
//! with protox, a protobuf compiler written in Rust, so building needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["fjord/broker/v1/broker.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".")
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
