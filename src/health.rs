//! Task heartbeats, the supervisor behind `/healthz` and the systemd watchdog (stub API;
//! being implemented).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Heartbeats;

impl Heartbeats {
    pub fn new() -> Arc<Self> {
        Arc::new(Heartbeats)
    }
    pub fn register(self: &Arc<Self>, _name: impl Into<String>) -> Heartbeat {
        Heartbeat
    }
    pub fn stuck(&self) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Debug)]
pub struct Heartbeat;

impl Heartbeat {
    pub fn expect_back_within(&self, _d: Duration) {}
    pub fn idle(&self) {}
}

pub fn sd_notify(_state: &str) -> std::io::Result<bool> {
    Ok(false)
}

pub fn watchdog_interval() -> Option<Duration> {
    None
}

pub async fn supervise(
    _heartbeats: Arc<Heartbeats>,
    _interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    shutdown.await
}
