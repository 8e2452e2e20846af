//! The gridd.v1 contracts: generated protobuf messages, gRPC clients and servers, the
//! descriptor set for reflection, and the conversions between wire types and the core.
//!
//! Every crate uses `tonic` and `prost` through the re-exports here, so there is one version.

/// The well-known types (`Timestamp`), with the proto3 JSON mapping.
pub use pbjson_types as prost_types;
pub use {prost, tonic, tonic_types};

pub mod codec;
mod convert;
pub mod status;

pub use convert::*;

#[allow(missing_docs, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/gridd_v1.rs"));
}

/// The proto3 JSON mapping of every message (what the browser sends and receives).
#[allow(missing_docs, clippy::all)]
mod generated_json {
    use crate::generated::gridd::v1::*;
    include!(concat!(env!("OUT_DIR"), "/gridd.v1.serde.rs"));
}

/// Package `gridd.v1`.
pub mod v1 {
    pub use crate::generated::gridd::v1::*;
}

/// The encoded descriptor set of every gridd.v1 file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gridd_v1_descriptor.bin"));
