//! Generates the gridd.v1 messages and services from `proto/` with the protoc binary that the
//! `protoc-bin-vendored` crate ships, so a fresh machine needs no system protoc.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["common", "auth", "intake", "dispatch", "squad", "grid", "records"].map(|f| root.join(format!("gridd/v1/{f}.proto")));
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.include_file("gridd_v1.rs");
    // Well-known types with serde support, so that every message has the proto3 JSON
    // mapping the browser speaks (generated below by pbjson-build).
    config.compile_well_known_types();
    config.extern_path(".google.protobuf", "::pbjson_types");
    // Services and clients use `codec::StrictCodec`: a message that does not decode is the
    // client's INVALID_ARGUMENT, not the INTERNAL of tonic_prost's codec.
    tonic_prost_build::configure()
        .codec_path("crate::codec::StrictCodec")
        .file_descriptor_set_path(out.join("gridd_v1_descriptor.bin"))
        .compile_with_config(config, &files, std::slice::from_ref(&root))?;
    // Serialize and Deserialize in the proto3 JSON mapping for every gridd.v1 message.
    let descriptors = std::fs::read(out.join("gridd_v1_descriptor.bin"))?;
    pbjson_build::Builder::new().register_descriptors(&descriptors)?.build(&[".gridd"])?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
