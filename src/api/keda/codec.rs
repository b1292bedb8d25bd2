//! The protobuf codec of the KEDA scaler: tonic's own [`ProstCodec`], except that a message that
//! does not decode is `INVALID_ARGUMENT` rather than `INTERNAL`.
//!
//! `ProstCodec` turns prost's `DecodeError` into `Status::internal`, which tells a client the
//! server failed when it was the client's bytes that were wrong (and `INTERNAL` is the code a
//! client is told to retry on, which would only fail again). Its decoder fails in no other
//! way, so every error it returns is mapped. The generated code names this codec
//! (`codec_path` in `tests/keda.rs`, `generated_code_is_current`).

use tonic::Status;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// [`ProstCodec`] with decoding errors as `INVALID_ARGUMENT` (see the module doc).
#[derive(Debug, Clone)]
pub struct ProtobufCodec<T, U> {
    inner: ProstCodec<T, U>,
}

impl<T, U> Default for ProtobufCodec<T, U> {
    fn default() -> Self {
        ProtobufCodec {
            inner: ProstCodec::default(),
        }
    }
}

impl<T, U> tonic::codec::Codec for ProtobufCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProtobufDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProtobufDecoder {
            inner: self.inner.decoder(),
        }
    }
}

/// [`ProstDecoder`] whose errors are `INVALID_ARGUMENT` naming the expected message type.
#[derive(Debug)]
pub struct ProtobufDecoder<U> {
    inner: ProstDecoder<U>,
}

impl<U: prost::Message + Default> Decoder for ProtobufDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.inner
            .decode(src)
            .map_err(|status| invalid::<U>(status.message()))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.inner.buffer_settings()
    }
}

/// The status for bytes that are not a `U`: the message type's name and prost's reason.
fn invalid<U>(reason: &str) -> Status {
    let full = std::any::type_name::<U>();
    let name = full.rsplit("::").next().unwrap_or(full);
    Status::invalid_argument(format!(
        "the request is not a valid protobuf message of type externalscaler.{name}: {reason}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::keda::externalscaler::ScaledObjectRef;
    use tonic::Code;

    #[test]
    fn a_decode_error_names_the_type_and_is_invalid_argument() {
        let status =
            invalid::<ScaledObjectRef>("failed to decode Protobuf message: buffer underflow");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .contains("not a valid protobuf message of type externalscaler.ScaledObjectRef"),
            "{}",
            status.message()
        );
    }
}
