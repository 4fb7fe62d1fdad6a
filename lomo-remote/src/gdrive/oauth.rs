//! OAuth 2.0 for installed applications, as Google documents it: the
//! loopback-redirect flow with PKCE (S256), code exchange, refresh. Files in
//! Google's formats: the client credentials JSON from the Cloud console
//! (`installed` or `web`) and the token JSON the Go lomo-backup writes
//! (`access_token`, `token_type`, `refresh_token`, `expiry` in RFC 3339).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::http::HttpClient;

/// The Drive scope lomob asks for: only files lomob itself created.
pub const SCOPE: &str = "https://www.googleapis.com/auth/drive.file";
/// Read-only access to all of the user's Drive: enough to restore what
/// another program (the Go lomo-backup) put there, which `drive.file`
/// cannot see.
pub const SCOPE_READONLY: &str = "https://www.googleapis.com/auth/drive.readonly";
/// Full access to all of the user's Drive.
pub const SCOPE_FULL: &str = "https://www.googleapis.com/auth/drive";

/// What can go wrong with Google sign-in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A credentials or token file cannot be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Google refused the request.
    #[error("Google sign-in refused: {0}")]
    Refused(String),
    /// The refresh token no longer works.
    #[error(
        "the Google token was revoked or has expired ({0}); sign in again with `lomob util gcloud-auth`"
    )]
    Revoked(String),
    /// The network or the token endpoint failed.
    #[error("talking to Google's token endpoint: {0}")]
    Network(String),
    /// The browser round trip failed.
    #[error("sign-in in the browser failed: {0}")]
    Flow(String),
}

/// An OAuth client, from Google's credentials JSON.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// Client id.
    pub client_id: String,
    client_secret: String,
    /// Consent page.
    pub auth_uri: String,
    /// Token endpoint.
    pub token_uri: String,
}

#[derive(serde::Deserialize)]
struct CredentialsFile {
    installed: Option<ClientSection>,
    web: Option<ClientSection>,
}

#[derive(serde::Deserialize)]
struct ClientSection {
    client_id: String,
    client_secret: String,
    auth_uri: Option<String>,
    token_uri: Option<String>,
}

impl OAuthClient {
    /// Parses the credentials JSON Google's console gives for an OAuth client.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let f: CredentialsFile = serde_json::from_str(json)
            .map_err(|e| format!("not a Google OAuth client file: {e}"))?;
        let c = f.installed.or(f.web).ok_or(
            "no \"installed\" or \"web\" client in the file (create a Desktop app client)",
        )?;
        Ok(Self {
            client_id: c.client_id,
            client_secret: c.client_secret,
            auth_uri: c
                .auth_uri
                .unwrap_or_else(|| "https://accounts.google.com/o/oauth2/auth".into()),
            token_uri: c
                .token_uri
                .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
        })
    }

    /// Reads a credentials file.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::File {
            path: path.to_owned(),
            reason: format!("cannot read the Google credentials file: {e}"),
        })?;
        Self::from_json(&text).map_err(|reason| AuthError::File {
            path: path.to_owned(),
            reason,
        })
    }

    /// The consent URL for the loopback flow.
    /// `scope` is one of [`SCOPE`], [`SCOPE_READONLY`], [`SCOPE_FULL`].
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        challenge: &str,
        state: &str,
        scope: &str,
    ) -> String {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", state)
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
            .finish();
        format!("{}?{q}", self.auth_uri)
    }

    async fn token_request(
        &self,
        http: &HttpClient,
        pairs: &[(&str, &str)],
    ) -> Result<TokenAnswer, AuthError> {
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("client_id", &self.client_id)
                .append_pair("client_secret", &self.client_secret);
            for (k, v) in pairs {
                form.append_pair(k, v);
            }
            Bytes::from(form.finish())
        };
        let r = http
            .send_collect(|| {
                let mut req = Request::new(Full::new(body.clone()));
                *req.method_mut() = Method::POST;
                if let Ok(uri) = self.token_uri.parse() {
                    *req.uri_mut() = uri;
                }
                req.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                req
            })
            .await
            .map_err(|e| AuthError::Network(e.to_string()))?;
        if r.status.is_success() {
            return serde_json::from_slice(&r.body)
                .map_err(|e| AuthError::Network(format!("unreadable token answer: {e}")));
        }
        let err: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let code = err["error"].as_str().unwrap_or("").to_owned();
        let desc = err["error_description"].as_str().unwrap_or("").to_owned();
        if code == "invalid_grant" {
            Err(AuthError::Revoked(desc))
        } else {
            Err(AuthError::Refused(format!("{} {code} {desc}", r.status)))
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    pub(crate) async fn exchange(
        &self,
        http: &HttpClient,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Token, AuthError> {
        let a = self
            .token_request(
                http,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("redirect_uri", redirect_uri),
                ],
            )
            .await?;
        Ok(a.into_token(None))
    }

    /// Gets a new access token from the refresh token.
    pub(crate) async fn refresh(
        &self,
        http: &HttpClient,
        token: &Token,
    ) -> Result<Token, AuthError> {
        let refresh = token
            .refresh_token
            .as_deref()
            .ok_or_else(|| AuthError::Revoked("the token file has no refresh_token".into()))?;
        let a = self
            .token_request(
                http,
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            )
            .await?;
        Ok(a.into_token(Some(refresh)))
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    token_type: Option<String>,
}

impl TokenAnswer {
    fn into_token(self, old_refresh: Option<&str>) -> Token {
        Token {
            access_token: self.access_token,
            token_type: self.token_type.unwrap_or_else(|| "Bearer".into()),
            refresh_token: self.refresh_token.or(old_refresh.map(str::to_owned)),
            expiry: self
                .expires_in
                .map(|s| (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(s)).to_string()),
        }
    }
}

/// An OAuth token, in the Go `oauth2.Token` JSON form the seed's
/// `gdrive-token.json` uses.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Token {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Usually "Bearer".
    #[serde(default)]
    pub token_type: String,
    /// Long-lived token to get new access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Reads a token file.
    pub fn load(path: &Path) -> Result<Token, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::File {
            path: path.to_owned(),
            reason: format!(
                "cannot read the Google token file ({e}); sign in with `lomob util gcloud-auth`"
            ),
        })?;
        serde_json::from_str(&text).map_err(|e| AuthError::File {
            path: path.to_owned(),
            reason: format!("not a token file: {e}"),
        })
    }

    /// Writes the token file atomically with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), AuthError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let fail = |e: std::io::Error| AuthError::File {
            path: path.to_owned(),
            reason: format!("cannot write the token file: {e}"),
        };
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(|e| fail(std::io::Error::other(e)))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        f.write_all(&json).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }

    /// True when the access token expires within `margin_secs` (or has no expiry known).
    pub fn expires_within(&self, margin_secs: i64) -> bool {
        match self.expiry.as_deref().map(str::parse::<jiff::Timestamp>) {
            Some(Ok(t)) => {
                t < jiff::Timestamp::now() + jiff::SignedDuration::from_secs(margin_secs)
            }
            _ => false,
        }
    }
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// Sent with the code exchange.
    pub verifier: String,
    /// Sent with the consent request.
    pub challenge: String,
}

impl Pkce {
    /// A fresh random pair (43 characters of base64url, RFC 7636).
    pub fn new() -> Self {
        let raw: [u8; 32] = rand::random();
        let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the loopback flow: listens on 127.0.0.1:`port` (0 = any free
/// port), calls `show` with the consent URL (print it, open a browser),
/// waits for Google's redirect with the code, checks `state`, exchanges the
/// code and returns the token.
pub async fn loopback_flow(
    client: &OAuthClient,
    port: u16,
    scope: &str,
    show: impl FnOnce(&str),
) -> Result<Token, AuthError> {
    let flow = |e: std::io::Error| AuthError::Flow(e.to_string());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(flow)?;
    let port = listener.local_addr().map_err(flow)?.port();
    let redirect = format!("http://127.0.0.1:{port}");
    let pkce = Pkce::new();
    let state: String = (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    show(&client.authorize_url(&redirect, &pkce.challenge, &state, scope));
    let code = loop {
        let (mut sock, _) = listener.accept().await.map_err(flow)?;
        // Read the whole request head: answering before it is all in
        // makes the close a reset, and the browser shows an error.
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
            let n = sock.read(&mut chunk).await.map_err(flow)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let query: std::collections::HashMap<String, String> = target
            .split_once('?')
            .map(|(_, q)| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let (status, page, outcome) = match (query.get("code"), query.get("error")) {
            (Some(code), _) if query.get("state") == Some(&state) => (
                "200 OK",
                "lomob is signed in to Google Drive. You can close this window.",
                Some(Ok(code.clone())),
            ),
            (Some(_), _) => (
                "400 Bad Request",
                "State mismatch: sign-in refused.",
                Some(Err("state mismatch (possible CSRF): try again".to_owned())),
            ),
            (None, Some(err)) => (
                "400 Bad Request",
                "Sign-in was refused.",
                Some(Err(format!("Google said: {err}"))),
            ),
            (None, None) => ("404 Not Found", "", None),
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        let _ = sock.shutdown().await;
        match outcome {
            Some(Ok(code)) => break code,
            Some(Err(e)) => return Err(AuthError::Flow(e)),
            None => continue,
        }
    };
    let http = HttpClient::new(
        std::sync::Arc::new(crate::meter::Meter::new(None)),
        crate::retry::RetryPolicy::default(),
    );
    client
        .exchange(&http, &code, &pkce.verifier, &redirect)
        .await
}

/// Refreshes the token in `token_path` and writes it back.
pub async fn refresh_file(client: &OAuthClient, token_path: &Path) -> Result<Token, AuthError> {
    let token = Token::load(token_path)?;
    let http = HttpClient::new(
        std::sync::Arc::new(crate::meter::Meter::new(None)),
        crate::retry::RetryPolicy::default(),
    );
    let fresh = client.refresh(&http, &token).await?;
    fresh.save(token_path)?;
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_url() {
        let c = OAuthClient::from_json(
            r#"{"installed":{"client_id":"id.apps","project_id":"p","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"https://oauth2.googleapis.com/token","client_secret":"s","redirect_uris":["http://localhost"]}}"#,
        )
        .unwrap();
        let u = c.authorize_url("http://127.0.0.1:5555", "chal", "st", SCOPE);
        assert!(u.starts_with("https://accounts.google.com/o/oauth2/auth?client_id=id.apps&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555"));
        assert!(u.contains("code_challenge_method=S256") && u.contains("drive.file"));
        assert!(
            OAuthClient::from_json("{}")
                .unwrap_err()
                .contains("Desktop")
        );
    }

    #[test]
    fn pkce_is_rfc7636_s256() {
        let p = Pkce::new();
        assert_eq!(p.verifier.len(), 43);
        let again = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(p.verifier.as_bytes()));
        assert_eq!(again, p.challenge);
    }

    #[test]
    fn go_token_file_round_trip() {
        let go = r#"{"access_token":"ya29.x","token_type":"Bearer","refresh_token":"1//r","expiry":"2020-01-02T15:04:05.999999999+01:00"}"#;
        let t: Token = serde_json::from_str(go).unwrap();
        assert!(t.expires_within(0));
        assert!(!format!("{t:?}").contains("ya29"));
        let dir = tempfile_dir();
        let p = dir.join("t.json");
        t.save(&p).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            Token::load(&p).unwrap().refresh_token.as_deref(),
            Some("1//r")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lomob-oauth-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
