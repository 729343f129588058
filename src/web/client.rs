//! This binary's own client of the web endpoint, for `health`, `status`, `snooze` and
//! `preflight` (SPEC §13: they use the same settings as the server).
//!
//! One function, [`Client::from_config`], turns the config into a ready client: the
//! base URL (`[daemon] listen`, a wildcard address asked on loopback; or
//! `BALANCE_ALERT_URL` when the certificate names a host rather than that address),
//! `https` when `web.tls_cert_file` is set, trusting the certificates in that file (so
//! a self-signed one works), and basic auth when `web.basic_auth` is set and a password
//! is known (`web.basic_auth.password`/`password_file`, or `BALANCE_ALERT_WEB_PASSWORD`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::config::Secret;

use super::WebConfig;

/// Overrides the URL the clients use (e.g. `https://dash.example.com:9184`).
pub const URL_ENV: &str = "BALANCE_ALERT_URL";
/// The basic auth password for the clients, when the config does not hold it.
pub const PASSWORD_ENV: &str = "BALANCE_ALERT_WEB_PASSWORD";

/// A client for the running daemon's web endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    /// `Authorization` for basic auth, when configured and a password is known.
    basic: Option<Secret>,
    /// Basic auth is on but no password is known: a 401 should say how to fix it.
    basic_missing: bool,
    admin_token: Option<Secret>,
}

/// Why a request to the daemon did not get an answer worth reading.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered (refused, timed out, TLS failed): the daemon is probably down.
    #[error("{0}")]
    Unreachable(String),
    /// The daemon answered with an error status.
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
}

/// Where the clients reach a daemon listening on `addr`: a wildcard address is asked on
/// loopback, which is where a health check on the same host can reach it.
pub fn connect_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

impl Client {
    /// The client for a daemon listening on `listen` with these web settings.
    pub fn from_config(
        listen: SocketAddr,
        web: &WebConfig,
        timeout: Duration,
    ) -> Result<Client, String> {
        let scheme = if web.tls.is_some() { "https" } else { "http" };
        let base = match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => {
                url::Url::parse(url.trim()).map_err(|e| format!("{URL_ENV}={url:?}: {e}"))?
            }
            _ => url::Url::parse(&format!("{scheme}://{}/", connect_addr(listen)))
                .map_err(|e| e.to_string())?,
        };
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // The daemon is reached directly, never through HTTPS_PROXY.
            .no_proxy()
            .user_agent(concat!("balance-alert/", env!("CARGO_PKG_VERSION")));
        if let Some(tls) = &web.tls {
            for cert in super::tls::read_certs(&tls.cert_file)? {
                let cert = reqwest::Certificate::from_der(&cert)
                    .map_err(|e| format!("{}: {e}", tls.cert_file.display()))?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| e.to_string())?;
        let password = web.basic_auth.as_ref().and_then(|b| {
            b.password.clone().or_else(|| {
                std::env::var(PASSWORD_ENV)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(Secret::new)
            })
        });
        let basic = match (&web.basic_auth, &password) {
            (Some(b), Some(p)) => Some(Secret::new(super::auth::basic_header(&b.user, p.expose()))),
            _ => None,
        };
        Ok(Client {
            http,
            base,
            basic_missing: web.basic_auth.is_some() && basic.is_none(),
            basic,
            admin_token: web.admin_token.clone(),
        })
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// A request with basic auth, when configured.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match &self.basic {
            Some(header) => request.header(reqwest::header::AUTHORIZATION, header.expose()),
            None => request,
        }
    }

    /// A request with the admin token as the bearer (the snooze endpoints).
    pub fn admin_request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, String> {
        let token = self
            .admin_token
            .as_ref()
            .ok_or("snoozing needs [daemon] admin_token (or admin_token_file) in the config")?;
        Ok(self
            .http
            .request(method, self.url(path))
            .bearer_auth(token.expose()))
    }

    /// Sends a request and returns the body of a 2xx answer; anything else is an error
    /// saying what happened.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, ClientError> {
        let response = request.send().await.map_err(|e| {
            let url = e.url().map(|u| u.to_string()).unwrap_or_default();
            ClientError::Unreachable(format!("{url}: {}", error_chain(&e)))
        })?;
        let url = response.url().to_string();
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable(format!("{url}: {}", error_chain(&e))))?;
        if status.is_success() {
            return Ok(body);
        }
        let mut message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.trim().chars().take(300).collect());
        if status == reqwest::StatusCode::UNAUTHORIZED && self.basic_missing {
            message.push_str(&format!(
                " (basic auth is on: set {PASSWORD_ENV} or [daemon] web.basic_auth.password_file)"
            ));
        }
        Err(ClientError::Status {
            url,
            status: status.as_u16(),
            message,
        })
    }
}

/// An error and its sources, so "error sending request" says why (refused, TLS, …).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_is_asked_on_loopback() {
        assert_eq!(
            connect_addr("0.0.0.0:9184".parse().unwrap()),
            "127.0.0.1:9184".parse().unwrap()
        );
        assert_eq!(
            connect_addr("[::]:9184".parse().unwrap()),
            "[::1]:9184".parse().unwrap()
        );
        assert_eq!(
            connect_addr("10.0.0.5:9184".parse().unwrap()),
            "10.0.0.5:9184".parse().unwrap()
        );
    }

    #[test]
    fn urls_and_scheme_follow_the_config() {
        let plain = Client::from_config(
            "127.0.0.1:9184".parse().unwrap(),
            &WebConfig::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            plain.url("/api/v1/status"),
            "http://127.0.0.1:9184/api/v1/status"
        );
        assert!(plain.admin_request(reqwest::Method::POST, "/x").is_err());
    }
}
