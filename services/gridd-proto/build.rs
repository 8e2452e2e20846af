//! Generates the gridd.v1 messages and services from `proto/` with the protoc binary that the
//! `protoc-bin-vendored` crate ships, so a fresh machine needs no system protoc.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["common", "intake", "dispatch", "squad", "grid", "records"].map(|f| root.join(format!("gridd/v1/{f}.proto")));
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.include_file("gridd_v1.rs");
    tonic_prost_build::configure().file_descriptor_set_path(out.join("gridd_v1_descriptor.bin")).compile_with_config(
        config,
        &files,
        std::slice::from_ref(&root),
    )?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
