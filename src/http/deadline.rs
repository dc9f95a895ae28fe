//! A deadline on reading the request body. Headers are timed out by the server itself; a body
//! trickling a byte a second would otherwise hold its connection for ever. The whole body must
//! arrive within the configured time plus one second per 100 KiB it declares (so large uploads
//! over slow links still fit); past that the request gets 408 and its connection is closed.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;

use crate::error::ApiError;

/// The time a body is given before its declared size counts (`CLIENTBASE_BODY_TIMEOUT_SECS`).
#[derive(Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Declared bytes that earn one more second.
const BYTES_PER_SECOND: u64 = 100 * 1024;

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(BodyTimeout(base)) = req.app_data::<BodyTimeout>().copied() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let declared = super::extract::declared_length(req.headers());
    // An HTTP/1 request without a length and not chunked has no body: nothing to time.
    let chunked = req.headers().contains_key(actix_web::http::header::TRANSFER_ENCODING);
    let http1 = req.version() < actix_web::http::Version::HTTP_2;
    if declared == Some(0) || (http1 && declared.is_none() && !chunked) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let declared = declared.unwrap_or(0) as u64;
    let allowed = base + Duration::from_secs(declared / BYTES_PER_SECOND);
    let expired = Rc::new(Cell::new(false));
    let inner = req.take_payload();
    req.set_payload(Payload::Stream {
        payload: Box::pin(Deadline { inner, sleep: Box::pin(tokio::time::sleep(allowed)), expired: expired.clone() }),
    });
    let res = next.call(req).await?;
    if !expired.get() {
        return Ok(res.map_into_left_body());
    }
    // Whatever the reader made of the cut-off body, the answer is that it came too slowly.
    let (req, _) = res.into_parts();
    let mut res = ApiError::RequestTimeout(format!("the request body did not arrive within {} s", allowed.as_secs()))
        .error_response();
    res.head_mut().set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(req, res).map_into_right_body())
}

/// The body's stream, ending in an error once the deadline passes.
struct Deadline {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.expired.get() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired.set(true);
                    let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body came too slowly");
                    Poll::Ready(Some(Err(PayloadError::Io(late))))
                }
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}
