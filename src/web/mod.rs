//! The web endpoint on `[daemon] listen` (SPEC §13): `/metrics`, `/healthz`, the
//! dashboard (`/`, `/accounts/{name}`), the status API (`/api/v1/status`) and the
//! snooze endpoints, over plain HTTP or TLS, behind optional basic auth.
//!
//! This module owns the transport and the routing; the data comes from a [`Backend`]
//! (the daemon implements it), the pages from [`render`] and the JSON from [`api`],
//! both pure. Access rules:
//! - `/healthz` is always open (liveness probes carry no credentials);
//! - the snooze endpoints need `Authorization: Bearer <admin_token>` and are 404 when no
//!   admin token is configured; the token is their authentication, so basic auth is
//!   not asked for there too (one request has one `Authorization` header);
//! - everything else needs basic auth when `web.basic_auth` is set.

pub mod activity;
pub mod api;
pub mod auth;
pub mod client;
pub mod commands;
pub mod config;
pub mod live;
pub mod render;
pub mod snapshot;
pub mod tls;
pub mod view;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::config::Secret;
use crate::core::snooze::{self, Snooze};

pub use auth::BasicAuth;
pub use tls::TlsFiles;

/// `[daemon] web` and `[daemon] admin_token`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    pub tls: Option<TlsFiles>,
    pub basic_auth: Option<BasicAuth>,
    pub admin_token: Option<Secret>,
}

/// Why a snooze request could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum SnoozeError {
    #[error("no account named `{0}`")]
    UnknownAccount(String),
    #[error(transparent)]
    Request(#[from] snooze::RequestError),
    /// The snooze could not be persisted (it would not survive a restart).
    #[error("cannot save the state: {0}")]
    State(String),
}

/// Where the web endpoint gets its data (the daemon; a fake in tests).
pub trait Backend: Send + Sync + 'static {
    /// The status of every account, sorted non-ok first.
    fn status(&self) -> view::Status;
    /// One account's page, or `None` when no account has that name.
    fn account(&self, name: &str) -> Option<view::AccountPage>;
    /// The Prometheus text exposition.
    fn metrics(&self) -> String;
    /// Liveness: `Err` names the stuck tasks.
    fn health(&self) -> Result<(), String>;
    /// Times on the pages are shown in this zone.
    fn timezone(&self) -> jiff::tz::TimeZone;
    /// Sets (or replaces) the account's snooze and persists it.
    fn snooze(
        &self,
        account: &str,
        request: snooze::Request,
    ) -> impl Future<Output = Result<Snooze, SnoozeError>> + Send;
    /// Removes the account's snooze (if any) and persists that.
    fn unsnooze(&self, account: &str) -> impl Future<Output = Result<(), SnoozeError>> + Send;
}

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The largest request body accepted (snooze requests are a few bytes).
const MAX_BODY: usize = 16 * 1024;
/// The Content-Security-Policy of every page: nothing may be fetched or run; inline
/// styles and `data:` images are all a page uses.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                       form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What the server shares between connections.
struct Server<B> {
    backend: Arc<B>,
    config: WebConfig,
}

/// Serves `listener` until `shutdown` completes, then lets open connections finish for
/// a moment. The TLS config is built by the caller (so a bad certificate stops the
/// start, not the first request). Accept errors are logged and retried after a pause.
pub async fn serve<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    config: WebConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = Arc::new(Server { backend, config });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let server = server.clone();
                    let stop = stop_rx.clone();
                    match acceptor.clone() {
                        None => { connections.spawn(connection(stream, server, stop)); }
                        Some(acceptor) => {
                            connections.spawn(async move {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => connection(tls, server, stop).await,
                                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "web: TLS handshake failed"),
                                    Err(_) => tracing::debug!(%peer, "web: TLS handshake timed out"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "web server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        connections.abort_all();
    }
    Ok(())
}

async fn connection<B: Backend, S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    server: Arc<Server<B>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(server.respond(req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "web server: connection error");
            }
            return;
        }
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

fn html(status: StatusCode, body: String) -> Reply {
    let mut response = reply(status, HTML, body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn json_error(status: StatusCode, message: &str) -> Reply {
    reply(status, JSON, api::error(message))
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// 401 with the Basic challenge, so a browser asks for the login.
fn unauthorized_basic() -> Reply {
    let mut r = reply(StatusCode::UNAUTHORIZED, TEXT, "unauthorized\n");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(auth::CHALLENGE),
    );
    r
}

/// `/api/v1/accounts/{name}/snooze` → the decoded name.
fn snooze_target(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/accounts/")?;
    let name = rest.strip_suffix("/snooze")?;
    decode_segment(name)
}

/// A percent-encoded path segment, decoded; `None` when it is empty, holds a `/` or is
/// not UTF-8.
fn decode_segment(segment: &str) -> Option<String> {
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The `q` of a query string (`+` is a space, as a GET form sends it).
fn search_query(query: Option<&str>) -> String {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl<B: Backend> Server<B> {
    async fn respond(&self, req: Request<Incoming>) -> Reply {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let get = matches!(method, Method::GET | Method::HEAD);
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());

        if path == "/healthz" {
            if !get {
                return method_not_allowed("GET, HEAD");
            }
            return match self.backend.health() {
                Ok(()) => reply(StatusCode::OK, TEXT, "ok\n"),
                Err(stuck) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    format!("stuck: {stuck}\n"),
                ),
            };
        }

        if let Some(name) = snooze_target(&path) {
            return self.snooze(req, method, name, authorization).await;
        }

        if let Some(basic) = &self.config.basic_auth {
            let basic = basic.clone();
            // bcrypt is deliberately slow: keep it off the executor's threads.
            let ok = tokio::task::spawn_blocking(move || {
                auth::basic_ok(authorization.as_deref(), &basic)
            })
            .await
            .unwrap_or(false);
            if !ok {
                return unauthorized_basic();
            }
        }
        if !get {
            return method_not_allowed("GET, HEAD");
        }
        let tz = || self.backend.timezone();
        match path.as_str() {
            "/metrics" => reply(
                StatusCode::OK,
                crate::metrics::CONTENT_TYPE_TEXT,
                self.backend.metrics(),
            ),
            "/" => {
                let query = search_query(req.uri().query());
                let mut status = self.backend.status();
                let total = status.accounts.len();
                view::filter_accounts(&mut status.accounts, &query);
                html(StatusCode::OK, render::index(&status, &query, total, &tz()))
            }
            "/api/v1/status" => reply(StatusCode::OK, JSON, api::status(&self.backend.status())),
            _ => match path.strip_prefix("/accounts/").and_then(decode_segment) {
                Some(name) => match self.backend.account(&name) {
                    Some(page) => html(StatusCode::OK, render::account(&page, &tz())),
                    None => html(StatusCode::NOT_FOUND, render::not_found(&name)),
                },
                None => reply(
                    StatusCode::NOT_FOUND,
                    TEXT,
                    "not found: try /, /api/v1/status, /metrics or /healthz\n",
                ),
            },
        }
    }

    async fn snooze(
        &self,
        req: Request<Incoming>,
        method: Method,
        name: String,
        authorization: Option<Vec<u8>>,
    ) -> Reply {
        let Some(token) = &self.config.admin_token else {
            return json_error(
                StatusCode::NOT_FOUND,
                "snoozing over the API is off: set [daemon] admin_token",
            );
        };
        if !auth::bearer_ok(authorization.as_deref(), token) {
            let mut r = json_error(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer <[daemon] admin_token>",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"balance-alert\""),
            );
            return r;
        }
        match method {
            Method::POST => {
                let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(_) => {
                        return json_error(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "request body too large or cut off",
                        );
                    }
                };
                let request = match snooze::Request::from_json(&body) {
                    Ok(r) => r,
                    Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
                };
                match self.backend.snooze(&name, request).await {
                    Ok(s) => reply(StatusCode::OK, JSON, api::snooze_reply(&name, Some(&s))),
                    Err(e) => snooze_error(e),
                }
            }
            Method::DELETE => match self.backend.unsnooze(&name).await {
                Ok(()) => reply(StatusCode::OK, JSON, api::snooze_reply(&name, None)),
                Err(e) => snooze_error(e),
            },
            _ => method_not_allowed("POST, DELETE"),
        }
    }
}

fn snooze_error(e: SnoozeError) -> Reply {
    let status = match &e {
        SnoozeError::UnknownAccount(_) => StatusCode::NOT_FOUND,
        SnoozeError::Request(snooze::RequestError::Invalid(_)) => StatusCode::BAD_REQUEST,
        SnoozeError::Request(snooze::RequestError::NothingToSnooze(_)) => StatusCode::CONFLICT,
        SnoozeError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_error(status, &e.to_string())
}

#[cfg(test)]
mod tests;
