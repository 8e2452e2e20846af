//! The gridd.v1 contracts: generated protobuf messages, gRPC clients and servers, the
//! descriptor set for reflection, and the conversions between wire types and the core.
//!
//! Every crate uses `tonic` and `prost` through the re-exports here, so there is one version.

pub use {prost, prost_types, tonic, tonic_types};

pub mod codec;
mod convert;
pub mod json;
pub mod status;

pub use convert::*;

#[allow(missing_docs, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/gridd_v1.rs"));
}

/// Package `gridd.v1`.
pub mod v1 {
    pub use crate::generated::gridd::v1::*;
}

/// The encoded descriptor set of every gridd.v1 file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gridd_v1_descriptor.bin"));
