//! Shared HTTP plumbing: every outbound HTTP client (Exotel, Slack, webhooks, Twilio) is
//! built here so TLS (rustls with webpki roots plus an optional private CA), timeouts
//! and proxy handling are the same everywhere; plus `Retry-After` parsing and reading a
//! response body with a hard size limit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Connect timeout for every outbound request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default total timeout for one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body we read from any peer.
pub const MAX_BODY: usize = 1024 * 1024;

/// Builds an HTTP client. `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` are honoured (reqwest
/// reads them by default); `ca_file` adds PEM certificates to the webpki roots.
pub fn client(ca_file: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .user_agent(concat!("balance-alert/", env!("CARGO_PKG_VERSION")))
        // Redirects could carry the Authorization header elsewhere; Exotel and Slack
        // never redirect a correct request, so a redirect is an error we report.
        .redirect(reqwest::redirect::Policy::none())
        .use_rustls_tls();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            format!(
                "ca_file {} holds no usable PEM certificate: {e}",
                path.display()
            )
        })?;
        if certs.is_empty() {
            return Err(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {}", e.without_url()))
}

/// A client for our own `/healthz` (the `health` command): no proxy, since the
/// daemon's listen address is on this host or its LAN and a proxy would answer for it.
/// No timeout of its own: the caller bounds the whole exchange.
pub fn local_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .user_agent("balance-alert-health")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build HTTP client: {}", e.without_url()))
}

/// Hands out one [`client`] per distinct `(ca_file, timeout)`, so many accounts share
/// one client.
///
/// Why: a `reqwest::Client` is not small. Each one owns its own rustls config (the
/// ~150 webpki roots copied into a fresh root store), its own connection pool and its
/// own resolver. With one per account, 10,000 accounts took 628 MiB of RSS and kept one
/// idle connection per account open to the same Exotel host (20,000 file descriptors
/// in the loopback harness, `examples/load.rs`); shared, they take ~61 MiB and a
/// handful of connections. Sharing is safe because
/// nothing account-specific lives in the client: credentials go in each request's
/// `Authorization` header, and the only per-account client settings are the CA file and
/// the timeout, which are the key. A cache lives for one config load (the daemon builds
/// a new one on every reload), so an edited `ca_file` is read again on SIGHUP.
#[derive(Default)]
pub struct ClientCache {
    clients: HashMap<(Option<PathBuf>, Duration), reqwest::Client>,
}

impl ClientCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared client for these settings, built on first use. `reqwest::Client` is
    /// an `Arc` inside, so the clone is cheap and shares the pool.
    pub fn client(
        &mut self,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<reqwest::Client, String> {
        let key = (ca_file.map(Path::to_path_buf), timeout);
        if let Some(client) = self.clients.get(&key) {
            return Ok(client.clone());
        }
        let built = client(ca_file, timeout)?;
        self.clients.insert(key, built.clone());
        Ok(built)
    }

    /// How many distinct clients were built.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// `Retry-After` as seconds or an HTTP date, relative to `now`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, now)
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date.
/// Longest `Retry-After` we honour: a peer (or a proxy) must not be able to park an
/// account or a channel for days, or overflow the timer arithmetic.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` value: delta-seconds or an HTTP date, capped at
/// [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of seconds above the cap is the cap (SPEC §17), however many
        // digits: `99999999999999999999999` overflows u64 but means "a long time".
        match value.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => MAX_RETRY_AFTER,
        }
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The ways reading a body can fail.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    #[error("response body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the response body failed: {0}")]
    Read(String),
}

/// Reads a response body, refusing anything over `limit` bytes without buffering it.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyReadError::Read(describe(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Describes a reqwest error without its URL (a Slack or webhook URL is a secret) and
/// with its cause chain, so "connection refused" or "timed out" is visible.
pub fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_redirect() {
        "unexpected redirect"
    } else if err.is_body() || err.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

/// Shortens a peer's body for an error message.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_cache_shares_per_ca_file_and_timeout() {
        let mut cache = ClientCache::new();
        let a = Duration::from_secs(30);
        cache.client(None, a).unwrap();
        cache.client(None, a).unwrap();
        assert_eq!(cache.len(), 1, "same settings share one client");
        cache.client(None, Duration::from_secs(5)).unwrap();
        assert_eq!(cache.len(), 2, "a different timeout needs its own client");
        let missing = Path::new("/nonexistent/ca.pem");
        assert!(cache.client(Some(missing), a).is_err());
        assert_eq!(cache.len(), 2, "a failed build is not cached");
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(120))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(120));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(MAX_RETRY_AFTER)
        );
        // Issue 7: past u64 it fell back to the default 1 s; above the cap is the cap.
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("999999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
