//! The server over real sockets with a fake backend: routing, basic auth, the admin
//! token, TLS with a CA made here, `/healthz` and the `health` command's client,
//! shutdown. (Through the real daemon: tests/web.rs.)

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::core::Level;
use crate::web::view::{AccountPage, Status};

struct Fake {
    status: Status,
    snoozes: Mutex<HashMap<String, Snooze>>,
    /// What `health()` answers (`Err` names the stuck tasks).
    health: Mutex<Result<(), String>>,
}

impl Backend for Fake {
    fn status(&self) -> Status {
        self.status.clone()
    }
    fn account(&self, name: &str) -> Option<AccountPage> {
        let account = self
            .status
            .accounts
            .iter()
            .find(|a| a.name == name)?
            .clone();
        Some(AccountPage {
            version: "t".into(),
            generated_at: self.status.generated_at,
            refresh_seconds: 60,
            account,
            events: vec![],
            pending: vec![],
        })
    }
    fn metrics(&self) -> String {
        "# fake\n".into()
    }
    fn health(&self) -> Result<(), String> {
        self.health.lock().unwrap().clone()
    }
    fn timezone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::UTC
    }
    async fn snooze(&self, account: &str, request: snooze::Request) -> Result<Snooze, SnoozeError> {
        let a = self
            .status
            .accounts
            .iter()
            .find(|a| a.name == account)
            .ok_or_else(|| SnoozeError::UnknownAccount(account.into()))?;
        let s = request.start(account, a.level, self.status.generated_at)?;
        self.snoozes
            .lock()
            .unwrap()
            .insert(account.into(), s.clone());
        Ok(s)
    }
    async fn unsnooze(&self, account: &str) -> Result<(), SnoozeError> {
        self.snoozes.lock().unwrap().remove(account);
        Ok(())
    }
}

fn fake() -> Arc<Fake> {
    let mut status = api::tests::sample_status();
    let mut ok = view::tests::account("<script>", Level::Ok);
    ok.sid = "ok-sid".into();
    status.accounts.push(ok);
    Arc::new(Fake {
        status,
        snoozes: Mutex::new(HashMap::new()),
        health: Mutex::new(Ok(())),
    })
}

type Stop = tokio::sync::oneshot::Sender<()>;
type Served = tokio::task::JoinHandle<std::io::Result<()>>;

/// `serve` on a loopback port: its address, the shutdown trigger and its task.
async fn spawn_server(
    backend: Arc<Fake>,
    config: WebConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> (SocketAddr, Stop, Served) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, backend, config, tls, async move {
        let _ = rx.await;
    }));
    (addr, tx, server)
}

/// [`spawn_server`] without its task: the server stops when `Stop` is dropped.
async fn start(
    backend: Arc<Fake>,
    config: WebConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> (SocketAddr, Stop) {
    let (addr, stop, _server) = spawn_server(backend, config, tls).await;
    (addr, stop)
}

/// A loopback address where (very likely) nothing listens: bound, then let go.
fn closed_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// What `balance-alert health` does for a config with `[daemon] listen = listen`.
async fn health(listen: SocketAddr, timeout: Duration) -> Result<(), String> {
    let text = format!(
        "[daemon]\nlisten = \"{listen}\"\n\n[[account]]\nname = \"primary\"\n\
         sid = \"s\"\napi_key = \"k\"\napi_token = \"t\"\n"
    );
    let config = crate::settings::parse(
        &text,
        Path::new("t.toml"),
        &crate::config::MapEnv::default(),
    )
    .unwrap();
    commands::probe_health(&config, timeout).await
}

/// Status, `Allow` header and body of the answer to `request`.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
    let r = request.send().await.unwrap();
    let allow = r
        .headers()
        .get(header::ALLOW)
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), allow, r.text().await.unwrap())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn basic_config() -> WebConfig {
    WebConfig {
        basic_auth: Some(BasicAuth {
            user: "ops".into(),
            password_hash: Secret::new(bcrypt::hash("pw", 4).unwrap()),
            password: None,
        }),
        admin_token: Some(Secret::new("admintoken")),
        ..WebConfig::default()
    }
}

#[tokio::test]
async fn open_server_serves_pages_api_and_metrics() {
    let (addr, _stop) = start(fake(), WebConfig::default(), None).await;
    let base = format!("http://{addr}");
    let r = http().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-security-policy"], CSP);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let page = r.text().await.unwrap();
    assert!(page.contains("accounts/primary") && page.contains("&lt;script&gt;"));

    // Search narrows the rows (a GET form: `+` is a space, case-insensitive).
    let page = http()
        .get(format!("{base}/?q=PRIM"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("accounts/primary") && !page.contains("accounts/%3Cscript%3E"));

    let r = http()
        .get(format!("{base}/accounts/%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<h1>&lt;script&gt;"));
    let r = http()
        .get(format!("{base}/accounts/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = http()
        .get(format!("{base}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let status: Status = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(status.accounts.len(), 2);

    let r = http().get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "# fake\n");
    let r = http().post(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = http().get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // No admin token configured: the snooze endpoints do not exist.
    let r = http()
        .post(format!("{base}/api/v1/accounts/primary/snooze"))
        .bearer_auth("anything")
        .body(r#"{"for":"1h"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn basic_auth_guards_everything_but_healthz() {
    let (addr, _stop) = start(fake(), basic_config(), None).await;
    let base = format!("http://{addr}");
    for path in ["/", "/api/v1/status", "/metrics", "/accounts/primary"] {
        let r = http().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without credentials");
        assert_eq!(r.headers()["www-authenticate"], auth::CHALLENGE);
        let r = http()
            .get(format!("{base}{path}"))
            .basic_auth("ops", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong password");
        assert!(r.headers().contains_key("www-authenticate"));
        let r = http()
            .get(format!("{base}{path}"))
            .basic_auth("ops", Some("pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} with the right password");
    }
    let r = http().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "healthz needs no credentials");
}

#[tokio::test]
async fn snooze_needs_the_admin_token() {
    let backend = fake();
    let (addr, _stop) = start(backend.clone(), basic_config(), None).await;
    let url = format!("http://{addr}/api/v1/accounts/primary/snooze");
    // Basic credentials are not the admin token.
    for request in [
        http().post(&url).body(r#"{"for":"1h"}"#),
        http()
            .post(&url)
            .basic_auth("ops", Some("pw"))
            .body(r#"{"for":"1h"}"#),
        http()
            .post(&url)
            .bearer_auth("admintoke")
            .body(r#"{"for":"1h"}"#),
        http().delete(&url).bearer_auth("wrong"),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("admin_token"));
    }
    assert!(backend.snoozes.lock().unwrap().is_empty());

    let r = http()
        .post(&url)
        .bearer_auth("admintoken")
        .body(r#"{"for":"4h"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["account"], "primary");
    assert_eq!(body["snooze"]["until"], "2026-12-03T07:05:00Z");
    assert!(backend.snoozes.lock().unwrap().contains_key("primary"));

    let bad = http()
        .post(&url)
        .bearer_auth("admintoken")
        .body(r#"{"for":"forever"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // The ok account has nothing to snooze; an unknown one is 404.
    let ok = http()
        .post(format!("http://{addr}/api/v1/accounts/%3Cscript%3E/snooze"))
        .bearer_auth("admintoken")
        .body(r#"{"until_change":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 409);
    let unknown = http()
        .post(format!("http://{addr}/api/v1/accounts/nobody/snooze"))
        .bearer_auth("admintoken")
        .body(r#"{"until_change":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let r = http()
        .delete(&url)
        .bearer_auth("admintoken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(backend.snoozes.lock().unwrap().is_empty());
    let r = http()
        .get(&url)
        .bearer_auth("admintoken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn tls_with_a_private_ca_and_the_client_helper() {
    // A CA, and a server certificate it signs for 127.0.0.1.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        cert_file: dir.path().join("cert.pem"),
        key_file: dir.path().join("key.pem"),
    };
    // The chain file: the server certificate, then the CA (as a chain would carry an
    // intermediate); clients trust what is in it.
    std::fs::write(&files.cert_file, format!("{}{}", cert.pem(), ca.pem())).unwrap();
    std::fs::write(&files.key_file, key.serialize_pem()).unwrap();
    let config = WebConfig {
        tls: Some(files.clone()),
        ..basic_config()
    };
    let server_tls = tls::server_config(&files).unwrap();
    let (addr, _stop) = start(fake(), config.clone(), Some(server_tls)).await;

    // Plain HTTP to a TLS port gets nowhere.
    assert!(
        http()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err()
    );
    // A client that trusts only the CA.
    let ca_only = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = ca_only
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ca_only
        .get(format!("https://{addr}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A client that trusts nothing of ours refuses the certificate.
    assert!(
        http()
            .get(format!("https://{addr}/healthz"))
            .send()
            .await
            .is_err()
    );

    // The CLI's client: https, trusts the cert file, basic auth from the config.
    let mut with_password = config.clone();
    with_password.basic_auth.as_mut().unwrap().password = Some(Secret::new("pw"));
    let client = client::Client::from_config(addr, &with_password, Duration::from_secs(5)).unwrap();
    assert!(client.url("/x").starts_with("https://127.0.0.1:"));
    let body = client
        .send(client.request(reqwest::Method::GET, "/api/v1/status"))
        .await
        .unwrap();
    assert!(body.contains("\"primary\""));
    // Without a password it gets 401, with a hint.
    let client = client::Client::from_config(addr, &config, Duration::from_secs(5)).unwrap();
    let e = client
        .send(client.request(reqwest::Method::GET, "/api/v1/status"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("401") && e.to_string().contains("BALANCE_ALERT_WEB_PASSWORD"),
        "{e}"
    );
    // And the admin request carries the bearer token.
    let r = client
        .send(
            client
                .admin_request(reqwest::Method::DELETE, "/api/v1/accounts/primary/snooze")
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(r.contains("\"snooze\":null"));
}

#[tokio::test]
async fn an_unreachable_daemon_is_told_apart() {
    let addr = closed_addr();
    let client =
        client::Client::from_config(addr, &WebConfig::default(), Duration::from_secs(2)).unwrap();
    let e = client
        .send(client.request(reqwest::Method::GET, "/api/v1/status"))
        .await
        .unwrap_err();
    assert!(matches!(e, client::ClientError::Unreachable(_)), "{e}");
}

#[tokio::test]
async fn healthz_is_503_naming_the_stuck_tasks_and_health_says_so() {
    let backend = fake();
    // Basic auth is on; `/healthz` and the `health` command (no password) need none.
    let (addr, _stop) = start(backend.clone(), basic_config(), None).await;
    let url = format!("http://{addr}/healthz");
    assert_eq!(answer(http().get(&url)).await, (200, None, "ok\n".into()));
    health(addr, Duration::from_secs(5)).await.unwrap();

    *backend.health.lock().unwrap() = Err("account primary, outbox".into());
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "stuck: account primary, outbox\n");
    let e = health(addr, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(
        e,
        format!("{url}: HTTP 503: stuck: account primary, outbox")
    );

    // Back on time: healthy again.
    *backend.health.lock().unwrap() = Ok(());
    health(addr, Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn unknown_paths_404_and_wrong_methods_405_with_allow() {
    use reqwest::Method as M;
    let (addr, _stop) = start(fake(), basic_config(), None).await;
    let to = |method: M, path: &str| http().request(method, format!("http://{addr}{path}"));
    let logged_in = |method: M, path: &str| to(method, path).basic_auth("ops", Some("pw"));
    for path in [
        "/nope",
        "/metrics/extra",
        "/healthz/extra",
        "/api/v1/status/extra",
        "/api/v1/accounts/primary",
        "/accounts/",
        "/accounts/a/b",
    ] {
        let (status, allow, body) = answer(logged_in(M::GET, path)).await;
        assert_eq!((status, allow), (404, None), "{path}");
        assert!(body.starts_with("not found: try /,"), "{path}: {body}");
    }
    let not_allowed = |allow: &str| (405, Some(allow.to_owned()), "method not allowed\n".into());
    // Any method but GET and HEAD is refused on every read-only path, known or not
    // (the old metrics server answered 404 for unknown paths whatever the method).
    for (method, path) in [
        (M::POST, "/metrics"),
        (M::PUT, "/api/v1/status"),
        (M::DELETE, "/"),
        (M::POST, "/accounts/primary"),
        (M::POST, "/nope"),
    ] {
        let got = answer(logged_in(method.clone(), path)).await;
        assert_eq!(got, not_allowed("GET, HEAD"), "{method} {path}");
    }
    // /healthz needs no login, so neither does its 405...
    let got = answer(to(M::POST, "/healthz")).await;
    assert_eq!(got, not_allowed("GET, HEAD"));
    // ...while elsewhere the login is asked for before the method is judged.
    assert_eq!(answer(to(M::POST, "/metrics")).await.0, 401);
    let snooze = to(M::PUT, "/api/v1/accounts/primary/snooze").bearer_auth("admintoken");
    assert_eq!(answer(snooze).await, not_allowed("POST, DELETE"));
}

#[tokio::test]
async fn health_fails_clearly_when_nothing_listens_and_asks_a_wildcard_on_loopback() {
    let closed = closed_addr();
    let e = health(closed, Duration::from_secs(5)).await.unwrap_err();
    assert!(
        e.starts_with(&format!("http://{closed}/healthz: ")) && e.contains("refused"),
        "{e}"
    );
    // A wildcard listen address is asked on loopback (the error names where it asked;
    // connecting to 0.0.0.0 itself would reach loopback on Linux and prove nothing).
    let port = closed.port();
    for (listen, asked) in [
        (SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port), closed),
        (
            SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
        ),
    ] {
        let e = health(listen, Duration::from_secs(5)).await.unwrap_err();
        assert!(e.starts_with(&format!("http://{asked}/healthz: ")), "{e}");
    }

    let (addr, _stop) = start(fake(), WebConfig::default(), None).await;
    let wildcard = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port());
    health(wildcard, Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn health_times_out_on_a_silent_peer() {
    // The kernel completes the handshake (the backlog); nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let e = tokio::time::timeout(
        Duration::from_secs(5),
        health(silent.local_addr().unwrap(), limit),
    )
    .await
    .expect("health did not give up")
    .unwrap_err();
    let took = started.elapsed();
    assert!(e.contains("timed out"), "{e}");
    assert!(limit <= took && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn shutdown_returns_promptly_with_an_idle_keepalive_connection_open() {
    let (addr, stop, server) = spawn_server(fake(), WebConfig::default(), None).await;
    // One request on an HTTP/1.1 (keep-alive) connection, answered, then left idle.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (mut got, mut buf) = (Vec::new(), [0; 1024]);
    while !got.ends_with(b"\r\n\r\nok\n") {
        let n = idle.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));

    let asked = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), server)
        .await
        .expect("serve did not stop")
        .unwrap()
        .unwrap();
    // The idle connection is closed at once, not waited on for SHUTDOWN_GRACE...
    assert!(asked.elapsed() < SHUTDOWN_GRACE, "{:?}", asked.elapsed());
    // ...and closed cleanly (end of stream), not left open.
    let n = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buf))
        .await
        .expect("the idle connection was left open")
        .unwrap();
    assert_eq!(n, 0);
}
