//! The protobuf codec of every gridd.v1 service (selected in `build.rs` with
//! `codec_path`): `tonic_prost`'s codec, except that a message that does not decode (invalid
//! UTF-8 in a string field, a truncated or garbled message) is `INVALID_ARGUMENT`, the client's
//! fault, rather than the `INTERNAL` that `tonic_prost` answers. The status names the field
//! where prost could tell (e.g. `SubmitCitizenReportRequest.description: invalid string
//! value: data is not UTF-8 encoded`).
//!
//! Clients generated from the same contracts use it too, so a response that does not decode
//! is `INVALID_ARGUMENT` there; the message says it was the message that did not decode.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

/// Longest decode error text a status carries, in characters (prost's are short; this keeps
/// them so).
const MAX_DETAIL_CHARS: usize = 300;

/// A [`Codec`] for prost messages: encodes as [`ProstCodec`] does, decodes with [`StrictDecoder`].
#[derive(Debug, Clone)]
pub struct StrictCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for StrictCodec<T, U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<T, U> Codec for StrictCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = StrictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder { _pd: PhantomData }
    }
}

/// Decodes a `U`; a message that does not decode is `INVALID_ARGUMENT` (see [`malformed`]).
#[derive(Debug, Clone, Default)]
pub struct StrictDecoder<U> {
    _pd: PhantomData<U>,
}

impl<U: Message + Default> Decoder for StrictDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| malformed(&e))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// The status for a message that does not decode: `INVALID_ARGUMENT`, saying why.
pub fn malformed(e: &prost::DecodeError) -> Status {
    let detail = e.to_string();
    let detail = match detail.char_indices().nth(MAX_DETAIL_CHARS) {
        None => detail,
        Some((cut, _)) => format!("{}…", &detail[..cut]),
    };
    Status::invalid_argument(format!("malformed request: the message is not valid protobuf ({detail})"))
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use prost::bytes::BufMut;
    use tonic::Code;
    use tonic::codec::{EncodeBody, EncodeBuf, Encoder, Streaming};
    use tonic::codegen::tokio_stream;

    use super::*;
    use crate::v1;

    /// Writes the bytes it is given as they are: a client sending whatever it likes.
    struct RawEncoder;

    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = Status;

        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    /// Receives `bytes`, framed as one gRPC message, the way a generated server does: through
    /// tonic's `Streaming` with the codec's decoder.
    fn receive<U: Message + Default + Send + 'static>(bytes: &[u8]) -> Result<Option<U>, Status> {
        let source = tokio_stream::iter([Ok::<_, Status>(bytes.to_vec())]);
        let body = EncodeBody::new_client(RawEncoder, source, None, None);
        let mut codec = StrictCodec::<v1::IntakeReceipt, U>::default();
        let mut stream = Streaming::new_request(codec.decoder(), body, None, None);
        let Poll::Ready(result) = pin!(stream.message()).poll(&mut Context::from_waker(Waker::noop())) else {
            unreachable!("an in-memory body is always ready")
        };
        result
    }

    #[test]
    fn well_formed_messages_decode() {
        let req = v1::SubmitCitizenReportRequest { description: "井盖缺失".into(), ..Default::default() };
        assert_eq!(receive::<v1::SubmitCitizenReportRequest>(&req.encode_to_vec()).expect("decodes"), Some(req));
    }

    #[test]
    fn invalid_utf8_is_invalid_argument_naming_the_field() {
        // Field 9 (`description`), length-delimited, holding bytes that are not UTF-8.
        let bytes = [(9 << 3) | 2, 3, 0xff, 0xfe, 0xfd];
        let status = receive::<v1::SubmitCitizenReportRequest>(&bytes).expect_err("not UTF-8");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let message = status.message();
        assert!(message.starts_with("malformed request:"), "{message}");
        assert!(message.contains("SubmitCitizenReportRequest.description") && message.contains("UTF-8"), "{message}");
    }

    #[test]
    fn truncated_and_garbled_messages_are_invalid_argument() {
        let req = v1::SubmitCitizenReportRequest { description: "a description long enough to cut".into(), ..Default::default() };
        let bytes = req.encode_to_vec();
        let status = receive::<v1::SubmitCitizenReportRequest>(&bytes[..bytes.len() - 5]).expect_err("truncated");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with("malformed request:"), "{}", status.message());
        let status = receive::<v1::SubmitCitizenReportRequest>(&[0xff; 16]).expect_err("garbage");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }

    #[test]
    fn encoding_is_prost_encoding() {
        let receipt = v1::IntakeReceipt { reference: "261122-0K3F9ZQ2".into(), ..Default::default() };
        let mut codec = StrictCodec::<v1::IntakeReceipt, v1::IntakeReceipt>::default();
        let source = tokio_stream::iter([Ok::<_, Status>(receipt.clone())]);
        let body = EncodeBody::new_client(codec.encoder(), source, None, None);
        let mut stream = Streaming::new_request(codec.decoder(), body, None, None);
        let Poll::Ready(result) = pin!(stream.message()).poll(&mut Context::from_waker(Waker::noop())) else {
            unreachable!("an in-memory body is always ready")
        };
        assert_eq!(result.expect("round trip"), Some(receipt));
    }
}
