//! A small HTTPS client on hyper + rustls, metered and retried, for the
//! requests object_store does not make (S3 restore, checksum HEAD, upload
//! listings) and for Google Drive.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::meter::{Meter, MeteredBody};
use crate::retry::RetryPolicy;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A response with its body read.
#[derive(Debug)]
pub(crate) struct Collected {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Collected {
    /// A header's value, when it is text.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The user metadata: headers named `prefix…`, without the prefix.
    pub(crate) fn metadata(&self, prefix: &str) -> std::collections::BTreeMap<String, String> {
        self.headers
            .iter()
            .filter_map(|(k, v)| {
                let k = k.as_str().strip_prefix(prefix)?;
                Some((k.to_owned(), v.to_str().ok()?.to_owned()))
            })
            .collect()
    }
}

/// Why a request failed for good.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpFailure {
    /// Transport error or timeout, after retries.
    #[error("{0}")]
    Transport(String),
    /// The server kept answering 5xx/429, after retries.
    #[error("server answered {status}: {body}")]
    Status {
        /// Last status.
        status: StatusCode,
        /// Start of the last body.
        body: String,
    },
}

impl HttpFailure {
    /// Always: what is left after the retries is a transport error, a
    /// timeout, a 5xx or a 429, all of which may pass later.
    pub(crate) fn is_transient(&self) -> bool {
        true
    }
}

/// A status worth another attempt: 5xx and 429, but not 501 Not
/// Implemented or 505, which the same server will answer every time.
pub(crate) fn retryable(status: StatusCode) -> bool {
    (status.is_server_error()
        && status != StatusCode::NOT_IMPLEMENTED
        && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// The client.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    meter: Arc<Meter>,
    retry: RetryPolicy,
}

impl HttpClient {
    pub(crate) fn new(meter: Arc<Meter>, retry: RetryPolicy) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(b) => b,
            Err(_) => match hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(provider)
            {
                Ok(b) => b,
                // Only fails when the provider lacks TLS 1.2/1.3 support.
                Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
            },
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build(connector);
        Self {
            client,
            meter,
            retry,
        }
    }

    /// Sends the request built by `make` (called again for each retry, so
    /// signatures are fresh) and returns the first response that is not a
    /// transient failure; 5xx, 429 and transport errors are retried.
    pub(crate) async fn send<F>(
        &self,
        mut make: F,
    ) -> Result<http::Response<MeteredBody<Incoming>>, HttpFailure>
    where
        F: FnMut() -> Request<Full<Bytes>>,
    {
        let start = Instant::now();
        let mut retry = 0u32;
        loop {
            let failure = match self.send_once(make()).await {
                Ok(resp) => return Ok(resp),
                Err(f) => f,
            };
            retry += 1;
            if retry > self.retry.max_retries || start.elapsed() > self.retry.total_timeout {
                return Err(failure);
            }
            let wait = self.retry.backoff(retry);
            tracing::debug!(retry, ?wait, error = %failure, "retrying request");
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: a transport error, a timeout, a 5xx or a 429 is an
    /// error, other statuses are answers.
    pub(crate) async fn send_once(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<http::Response<MeteredBody<Incoming>>, HttpFailure> {
        let len = req.body().size_hint().exact().unwrap_or(0);
        self.meter.before_send(req.method(), req.uri(), len).await;
        let outcome =
            tokio::time::timeout(self.retry.request_timeout, self.client.request(req)).await;
        match outcome {
            Ok(Ok(resp)) => {
                let status = resp.status();
                if !retryable(status) {
                    let meter = self.meter.clone();
                    return Ok(resp.map(|b| MeteredBody::new(b, meter)));
                }
                self.meter.failed();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map(http_body_util::Collected::to_bytes);
                Err(HttpFailure::Status {
                    status,
                    body: body
                        .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
                        .unwrap_or_default(),
                })
            }
            Ok(Err(e)) => {
                self.meter.failed();
                Err(HttpFailure::Transport(error_chain(&e)))
            }
            Err(_) => {
                self.meter.failed();
                Err(HttpFailure::Transport(format!(
                    "no response within {:?}",
                    self.retry.request_timeout
                )))
            }
        }
    }

    /// Sends the request `make` builds and signs (again for each retry, so
    /// signatures are fresh) and reads its (small) body. A request that
    /// cannot be built or signed is an error at once, naming `at`; so is
    /// any failure after the retries.
    pub(crate) async fn send_signed<F>(
        &self,
        at: crate::error::At<'_>,
        mut make: F,
    ) -> crate::error::Result<Collected>
    where
        F: FnMut() -> Result<Request<Full<Bytes>>, String>,
    {
        let unsigned = |e: String| at.request(false, format!("cannot sign the request: {e}"));
        let mut first = Some(make().map_err(unsigned)?);
        let mut late = None;
        let result = self
            .send_collect(|| match first.take().map_or_else(&mut make, Ok) {
                Ok(r) => r,
                Err(e) => {
                    late = Some(e);
                    Request::new(Full::new(Bytes::new()))
                }
            })
            .await;
        if let Some(e) = late {
            return Err(unsigned(e));
        }
        result.map_err(|e| at.request(e.is_transient(), e))
    }

    /// [`Self::send`], then reads the whole (small) body.
    pub(crate) async fn send_collect<F>(&self, make: F) -> Result<Collected, HttpFailure>
    where
        F: FnMut() -> Request<Full<Bytes>>,
    {
        let resp = self.send(make).await?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| HttpFailure::Transport(error_chain(&e)))?
            .to_bytes();
        Ok(Collected {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// An error and its sources on one line.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
