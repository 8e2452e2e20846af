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
    // The browser calls the same messages in the proto3 JSON mapping (lowerCamelCase names,
    // timestamps as RFC 3339 text); the messages the HTTP routes use derive serde here.
    for request in ["SignInRequest", "RefreshRequest", "SignOutRequest"] {
        config.type_attribute(format!("gridd.v1.{request}"), "#[derive(serde::Deserialize)] #[serde(rename_all = \"camelCase\", default)]");
    }
    for response in ["SignInResponse", "SignOutResponse", "Principal"] {
        config.type_attribute(format!("gridd.v1.{response}"), "#[derive(serde::Serialize)] #[serde(rename_all = \"camelCase\")]");
    }
    for field in ["SignInResponse.access_expires_at", "SignInResponse.refresh_expires_at"] {
        config.field_attribute(format!("gridd.v1.{field}"), "#[serde(serialize_with = \"crate::json::timestamp\")]");
    }
    // Services and clients use `codec::StrictCodec`: a message that does not decode is the
    // client's INVALID_ARGUMENT, not the INTERNAL of tonic_prost's codec.
    tonic_prost_build::configure()
        .codec_path("crate::codec::StrictCodec")
        .file_descriptor_set_path(out.join("gridd_v1_descriptor.bin"))
        .compile_with_config(config, &files, std::slice::from_ref(&root))?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
