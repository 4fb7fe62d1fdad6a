//! Request counting (the cost ledger's raw figures) and the bandwidth limit.
//!
//! Every HTTP request a site makes, retries included, passes through a
//! [`Meter`]: object_store's requests through [`MeteredConnector`], this
//! crate's own hyper requests through [`crate::http`]. Cloud providers bill
//! per request by class, so that is how they are counted.

use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Uri};
use hyper::body::{Body, Frame, SizeHint};

/// Request counts and bytes moved by one site since it was opened.
///
/// Classes follow the providers' price lists: S3 bills PUT, COPY, POST and
/// LIST as one class (class A on GCS and Azure: writes and lists) and GET,
/// HEAD and the rest as another; DELETE and aborts are free.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// PUT, COPY, POST and LIST requests (writes and listings).
    pub class_a: u64,
    /// GET, HEAD and other read requests.
    pub class_b: u64,
    /// DELETE requests (free at the providers lomob knows).
    pub free: u64,
    /// Requests that failed at the transport level or with a 5xx/429 status.
    pub failed: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
}

impl Usage {
    /// All requests, of every class.
    pub fn requests(&self) -> u64 {
        self.class_a + self.class_b + self.free
    }

    /// What happened between `earlier` and `self` (both from the same site).
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            class_a: self.class_a.saturating_sub(earlier.class_a),
            class_b: self.class_b.saturating_sub(earlier.class_b),
            free: self.free.saturating_sub(earlier.free),
            failed: self.failed.saturating_sub(earlier.failed),
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
        }
    }
}

/// The price class of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// PUT, COPY, POST, LIST.
    A,
    /// GET, HEAD, other reads.
    B,
    /// DELETE.
    Free,
}

/// Classifies a request by method and query, the way S3, GCS and Azure bill it.
pub fn classify(method: &Method, uri: &Uri) -> RequestClass {
    let query = uri.query().unwrap_or("");
    let has = |key: &str| query.split('&').any(|kv| kv.split('=').next() == Some(key));
    // DELETE, and S3's multi-object delete (POST ?delete), are free.
    if method == Method::DELETE || (method == Method::POST && has("delete")) {
        return RequestClass::Free;
    }
    if method == Method::PUT || method == Method::POST || method == Method::PATCH {
        return RequestClass::A;
    }
    // S3 ListObjectsV2 / ListMultipartUploads / ListParts, Azure List Blobs.
    let is_list = ["list-type", "uploads", "uploadId", "delimiter", "prefix"]
        .iter()
        .any(|k| has(k))
        || query.split('&').any(|kv| kv == "comp=list");
    // GCS JSON API listing: GET /storage/v1/b/BUCKET/o (no object name).
    let gcs_list = uri.path().ends_with("/o") && uri.path().contains("/storage/v1/b/");
    if method == Method::GET && (is_list || gcs_list) {
        RequestClass::A
    } else {
        RequestClass::B
    }
}

/// Shared counters of one site, plus its optional bandwidth limit.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    class_a: AtomicU64,
    class_b: AtomicU64,
    free: AtomicU64,
    failed: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    limit: Option<RateLimit>,
}

impl Meter {
    pub(crate) fn new(bandwidth_limit: Option<u64>) -> Self {
        Self {
            limit: bandwidth_limit.filter(|&b| b > 0).map(RateLimit::new),
            ..Self::default()
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage {
            class_a: self.class_a.load(Ordering::Relaxed),
            class_b: self.class_b.load(Ordering::Relaxed),
            free: self.free.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }

    /// Counts a request about to be sent and waits out the bandwidth limit
    /// for its body.
    pub(crate) async fn before_send(&self, method: &Method, uri: &Uri, body_len: u64) {
        self.counter(classify(method, uri))
            .fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(body_len, Ordering::Relaxed);
        if let Some(wait) = self.reserve(body_len) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts one operation that makes no HTTP request (local folders).
    pub(crate) fn record(&self, class: RequestClass, sent: u64, received: u64) {
        self.counter(class).fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(sent, Ordering::Relaxed);
        self.bytes_received.fetch_add(received, Ordering::Relaxed);
    }

    pub(crate) fn record_received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    fn counter(&self, class: RequestClass) -> &AtomicU64 {
        match class {
            RequestClass::A => &self.class_a,
            RequestClass::B => &self.class_b,
            RequestClass::Free => &self.free,
        }
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    fn received(&self, n: u64) -> Option<Duration> {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
        self.reserve(n)
    }

    fn reserve(&self, n: u64) -> Option<Duration> {
        self.limit
            .as_ref()
            .map(|l| l.reserve(n))
            .filter(|d| !d.is_zero())
    }
}

/// A virtual-clock rate limit: each reservation of `n` bytes pushes the
/// earliest time of the next transfer by `n / rate`; callers wait until
/// their reservation's start. Fair across concurrent requests, no timers.
#[derive(Debug)]
struct RateLimit {
    bytes_per_sec: f64,
    next_free: Mutex<Instant>,
}

impl RateLimit {
    fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec: bytes_per_sec as f64,
            next_free: Mutex::new(Instant::now()),
        }
    }

    fn reserve(&self, n: u64) -> Duration {
        let now = Instant::now();
        let mut next = match self.next_free.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let start = (*next).max(now);
        *next = start + Duration::from_secs_f64(n as f64 / self.bytes_per_sec);
        start - now
    }
}

/// A response body that counts the bytes it yields and paces them to the
/// site's bandwidth limit.
#[derive(Debug)]
pub(crate) struct MeteredBody<B> {
    inner: B,
    meter: std::sync::Arc<Meter>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> MeteredBody<B> {
    pub(crate) fn new(inner: B, meter: std::sync::Arc<Meter>) -> Self {
        Self {
            inner,
            meter,
            pause: None,
        }
    }
}

impl<B> Body for MeteredBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(pause) = this.pause.as_mut() {
            ready!(pause.as_mut().poll(cx));
            this.pause = None;
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(data) = f.data_ref()
            && let Some(wait) = this.meter.received(data.len() as u64)
        {
            this.pause = Some(Box::pin(tokio::time::sleep(wait)));
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// object_store's HTTP connector, wrapped so every request is metered.
#[derive(Debug)]
pub(crate) struct MeteredConnector {
    pub(crate) meter: std::sync::Arc<Meter>,
}

impl object_store::client::HttpConnector for MeteredConnector {
    fn connect(
        &self,
        options: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        let inner = object_store::client::ReqwestConnector::default().connect(options)?;
        Ok(object_store::client::HttpClient::new(MeteredService {
            inner,
            meter: self.meter.clone(),
        }))
    }
}

#[derive(Debug)]
struct MeteredService {
    inner: object_store::client::HttpClient,
    meter: std::sync::Arc<Meter>,
}

#[async_trait::async_trait]
impl object_store::client::HttpService for MeteredService {
    async fn call(
        &self,
        req: object_store::client::HttpRequest,
    ) -> Result<object_store::client::HttpResponse, object_store::client::HttpError> {
        let len = req.body().content_length() as u64;
        self.meter.before_send(req.method(), req.uri(), len).await;
        match self.inner.execute(req).await {
            Ok(resp) => {
                let status = resp.status();
                if status.is_server_error() || status.as_u16() == 429 {
                    self.meter.failed();
                }
                let meter = self.meter.clone();
                Ok(resp.map(|body| {
                    object_store::client::HttpResponseBody::new(MeteredBody::new(body, meter))
                }))
            }
            Err(e) => {
                self.meter.failed();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = |m: Method, u: &str| classify(&m, &u.parse().unwrap());
        assert_eq!(
            c(Method::PUT, "/b/k?partNumber=1&uploadId=x"),
            RequestClass::A
        );
        assert_eq!(c(Method::POST, "/b/k?uploads"), RequestClass::A);
        assert_eq!(c(Method::GET, "/b?list-type=2&prefix=a"), RequestClass::A);
        assert_eq!(c(Method::GET, "/b?uploads"), RequestClass::A);
        assert_eq!(
            c(Method::GET, "/c?restype=container&comp=list"),
            RequestClass::A
        );
        assert_eq!(
            c(Method::GET, "/storage/v1/b/bk/o?prefix=x"),
            RequestClass::A
        );
        assert_eq!(c(Method::GET, "/b/k"), RequestClass::B);
        assert_eq!(c(Method::HEAD, "/b/k"), RequestClass::B);
        assert_eq!(c(Method::DELETE, "/b/k?uploadId=x"), RequestClass::Free);
        assert_eq!(c(Method::POST, "/b?delete"), RequestClass::Free);
    }

    #[test]
    fn rate_limit_spaces_reservations() {
        let l = RateLimit::new(1_000_000);
        assert!(l.reserve(500_000) < Duration::from_millis(5));
        let second = l.reserve(500_000);
        assert!(second > Duration::from_millis(400), "{second:?}");
        let third = l.reserve(1);
        assert!(third > Duration::from_millis(900), "{third:?}");
    }

    #[test]
    fn usage_since() {
        let a = Usage {
            class_a: 3,
            bytes_sent: 10,
            ..Usage::default()
        };
        let b = Usage {
            class_a: 5,
            class_b: 1,
            bytes_sent: 30,
            ..Usage::default()
        };
        let d = b.since(&a);
        assert_eq!(
            (d.class_a, d.class_b, d.bytes_sent, d.requests()),
            (2, 1, 20, 3)
        );
    }
}
