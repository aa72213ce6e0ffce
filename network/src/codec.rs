//! The packet-handover wire format: one length-prefixed frame per request
//! and per response.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes (an
//! encoded [`crate::Envelope`]). A length above the configured maximum is
//! refused before anything is read, and the body is read incrementally, so
//! a lying length prefix cannot make us allocate more than was actually
//! sent.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// The protocol name of packet handover.
pub const PACKET_PROTOCOL: StreamProtocol = StreamProtocol::new("/credit/packet/1.0.0");

/// Length-prefixed frames of at most `max_message_size` bytes.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    max_message_size: usize,
}

impl FrameCodec {
    /// A codec refusing frames above `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> FrameCodec {
        FrameCodec { max_message_size }
    }
}

async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max} bytes"),
        ));
    }
    let mut buf = Vec::new();
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "frame announced {len} bytes, stream ended after {}",
                buf.len()
            ),
        ));
    }
    Ok(buf)
}

async fn write_frame<T>(io: &mut T, bytes: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|len| *len as usize <= max)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame of {} bytes exceeds the limit of {max} bytes",
                    bytes.len()
                ),
            )
        })?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_message_size).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_message_size).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.max_message_size).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.max_message_size).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn frames_round_trip() {
        let mut wire = Cursor::new(Vec::new());
        block_on(write_frame(&mut wire, b"hello", 16)).unwrap();
        let mut read = Cursor::new(wire.into_inner());
        assert_eq!(block_on(read_frame(&mut read, 16)).unwrap(), b"hello");
    }

    #[test]
    fn an_oversized_length_is_refused_before_reading() {
        let mut bytes = u32::MAX.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        let err = block_on(read_frame(&mut Cursor::new(bytes), 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_short_frame_is_an_error_not_a_panic() {
        let mut bytes = 100u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[1; 10]);
        let err = block_on(read_frame(&mut Cursor::new(bytes), 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(block_on(read_frame(&mut Cursor::new(vec![0, 1]), 1024)).is_err());
    }

    #[test]
    fn writing_an_oversized_frame_fails() {
        let mut wire = Cursor::new(Vec::new());
        assert!(block_on(write_frame(&mut wire, &[0; 17], 16)).is_err());
    }
}
