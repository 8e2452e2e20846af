//! The proto3 JSON mapping for the fields serde cannot derive: what the HTTP routes send.

use serde::Serializer;

/// A timestamp as RFC 3339 text in UTC (`2026-12-01T08:30:00Z`), as the proto3 JSON mapping
/// writes `google.protobuf.Timestamp`; absent is `null`.
pub fn timestamp<S: Serializer>(t: &Option<prost_types::Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t.as_ref().and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))) {
        Some(at) => s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        None => s.serialize_none(),
    }
}
