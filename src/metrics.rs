//! Prometheus metrics and the `/metrics` + `/healthz` server (stub API; being
//! implemented).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::evaluate::Level;
use crate::exotel::ErrorClass;
use crate::health::Heartbeats;

#[derive(Debug, Default)]
pub struct Metrics;

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics)
    }
    pub fn set_balance(&self, _account: &str, _currency: &str, _value: f64) {}
    pub fn set_level(&self, _account: &str, _level: Level) {}
    pub fn set_last_success(&self, _account: &str, _at: jiff::Timestamp) {}
    pub fn inc_poll_error(&self, _account: &str, _class: ErrorClass) {}
    pub fn inc_notification(&self, _channel: &str, _result: &str) {}
    pub fn set_outbox_pending(&self, _n: usize) {}
    pub fn set_reload_success(&self, _ok: bool) {}
    pub fn forget_account(&self, _account: &str) {}
    pub fn encode(&self) -> String {
        String::new()
    }
}

pub async fn serve(
    _listener: tokio::net::TcpListener,
    _metrics: Arc<Metrics>,
    _heartbeats: Arc<Heartbeats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    shutdown.await;
    Ok(())
}

pub async fn probe(_addr: SocketAddr, _timeout: Duration) -> Result<(), String> {
    Err("not implemented".into())
}
