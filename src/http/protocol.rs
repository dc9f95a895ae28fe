//! Requests that are not HTTP at all get a problem+json answer like every other error.
//!
//! actix-http's dispatcher answers a request head it cannot parse (a malformed request line, a
//! bad header, heads over 128 KiB or 96 headers) with a bare 400 or 431 of its own and offers no
//! hook to shape it. So each connection's bytes are read first by the same HTTP/1 codec the
//! dispatcher uses, and only what that codec accepted is passed on: heads whole, bodies as they
//! arrive. A head it refuses is replaced by a request for [`PATH`], which the application answers
//! as a problem, and the connection is closed after that answer. The dispatcher never sees a head
//! it would refuse, so its bare answers cannot occur.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_codec::Decoder;
use actix_http::error::ParseError;
use actix_http::h1::Codec;
use actix_http::ServiceConfig;
use actix_web::http::ConnectionType;
use actix_web::{web, HttpResponse, ResponseError};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ApiError;

/// Where a refused head is sent instead, as `PATH/<status>/<cause>`. Requesting it directly only
/// returns the same problem, so it needs no guard.
pub const PATH: &str = "/_protocol-error";

const READ_CHUNK: usize = 16 * 1024;

/// A connection whose request heads are checked before the dispatcher reads them.
pub struct Checked<IO> {
    io: IO,
    codec: Codec,
    /// Bytes read from the peer that the codec has not consumed yet.
    unread: BytesMut,
    /// The same bytes, kept as received, to pass on once the codec has consumed them.
    raw: BytesMut,
    /// Bytes accepted and not yet handed to the dispatcher.
    accepted: BytesMut,
    state: State,
}

#[derive(PartialEq)]
enum State {
    Checking,
    /// The peer closed its side: what is held is handed on, then the end.
    Ended,
    /// A head was refused: its substitute is handed on, and nothing after it.
    Refused,
}

impl<IO> Checked<IO> {
    pub fn new(io: IO) -> Self {
        Checked {
            io,
            codec: Codec::new(ServiceConfig::default()),
            unread: BytesMut::new(),
            raw: BytesMut::new(),
            accepted: BytesMut::new(),
            state: State::Checking,
        }
    }

    /// Runs the codec over what has arrived and moves what it consumed to `accepted`.
    fn check(&mut self) {
        loop {
            let before = self.unread.len();
            let decoded = self.codec.decode(&mut self.unread);
            // A head refused after its bytes were split off (a repeated Content-Length, no Host)
            // is not passed on either.
            if let Err(error) = decoded {
                return self.refuse(&error);
            }
            let consumed = before - self.unread.len();
            self.accepted.extend_from_slice(&self.raw.split_to(consumed));
            if decoded.is_ok_and(|d| d.is_none()) {
                return;
            }
        }
    }

    fn refuse(&mut self, error: &ParseError) {
        let (status, cause) = match error {
            ParseError::TooLarge => (431, "too-large"),
            ParseError::Method => (400, "method"),
            ParseError::Uri(_) => (400, "uri"),
            ParseError::Version => (400, "version"),
            ParseError::Header => (400, "header"),
            _ => (400, "malformed"),
        };
        let head = format!("GET {PATH}/{status}/{cause} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        self.accepted.extend_from_slice(head.as_bytes());
        self.unread.clear();
        self.raw.clear();
        self.state = State::Refused;
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Checked<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.accepted.is_empty() {
                let n = this.accepted.len().min(buf.remaining());
                buf.put_slice(&this.accepted.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match this.state {
                State::Ended => return Poll::Ready(Ok(())),
                // The substitute asked to close; the dispatcher closes once it has answered.
                State::Refused => return Poll::Pending,
                State::Checking => {}
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            let bytes = read.filled();
            if bytes.is_empty() {
                // A head cut short is handed on as it is: the dispatcher drops it at the end.
                this.accepted.extend_from_slice(&this.raw.split());
                this.unread.clear();
                this.state = State::Ended;
                continue;
            }
            this.unread.extend_from_slice(bytes);
            this.raw.extend_from_slice(bytes);
            this.check();
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Checked<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The answer to a refused head.
pub async fn answer(path: web::Path<(u16, String)>) -> HttpResponse {
    let (status, cause) = path.into_inner();
    let what = match cause.as_str() {
        "too-large" => "the request head is too large (at most 128 KiB and 96 header fields)",
        "method" => "the request line has an invalid method",
        "uri" => "the request line has an invalid target",
        "version" => "the request line has an unsupported HTTP version",
        "header" => "a header field is malformed, repeated where it may not be, or missing (Host)",
        _ => "the request is not valid HTTP/1.1",
    };
    let error = match status {
        431 => ApiError::HeadersTooLarge(what.to_string()),
        _ => ApiError::BadRequest(what.to_string()),
    };
    let mut res = error.error_response();
    res.head_mut().set_connection_type(ConnectionType::Close);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Everything the dispatcher would read from a peer that sent `input` and closed.
    async fn passed_on(input: &[u8]) -> Vec<u8> {
        let mut checked = Checked::new(input);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let read = tokio::time::timeout(std::time::Duration::from_millis(200), checked.read(&mut buf)).await;
            match read {
                Ok(Ok(0)) | Err(_) => return out,
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("{e}"),
            }
        }
    }

    #[actix_web::test]
    async fn valid_requests_pass_unchanged_bodies_and_pipelining_included() {
        let input = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(passed_on(input).await, input.to_vec());
    }

    #[actix_web::test]
    async fn a_bad_head_after_good_requests_becomes_the_substitute_and_nothing_follows() {
        let good = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut input = good.to_vec();
        input.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
        // Refused only once split off: the head must not be passed on either.
        let twice = b"GET /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        let out = passed_on(&[good.as_slice(), twice].concat()).await;
        assert!(out.starts_with(good) && out[good.len()..].starts_with(format!("GET {PATH}/400/").as_bytes()));
        let out = passed_on(&input).await;
        let substitute = format!("GET {PATH}/400/header HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        assert_eq!(out, [good.as_slice(), substitute.as_bytes()].concat());
    }

    #[actix_web::test]
    async fn an_oversize_head_is_431_and_a_garbage_line_400() {
        let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 200 * 1024));
        let out = String::from_utf8(passed_on(&big).await).unwrap();
        assert!(out.starts_with(&format!("GET {PATH}/431/too-large ")), "{out}");
        let out = String::from_utf8(passed_on(b"\x01\x02 nonsense\r\n\r\n").await).unwrap();
        assert!(out.starts_with(&format!("GET {PATH}/400/")), "{out}");
    }

    #[actix_web::test]
    async fn a_body_in_progress_is_passed_on_as_it_arrives() {
        let (mut peer, server) = tokio::io::duplex(1024);
        let mut checked = Checked::new(server);
        tokio::io::AsyncWriteExt::write_all(&mut peer, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let mut got = Vec::new();
        while !got.ends_with(b"abc") {
            let n = checked.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"POST / HTTP/1.1\r\n"));
    }
}
