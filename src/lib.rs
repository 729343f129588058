//! balance-alert watches Exotel account balances and tells people before the money runs
//! out. It polls the Exotel Balance API, tracks each account's level with hysteresis and
//! delivers alerts at least once through Slack, email, SMS and webhooks.
//!
//! The external contract (API handling, hysteresis, events, channels, config schema, CLI,
//! process behaviour) is `docs/SPEC.md` (the "SPEC §n" in comments); the README explains
//! it for operators.
//!
//! # Layout
//!
//! The core is pure and the edges are thin:
//!
//! - [`config`]: the TOML schema, `${VAR}` and `_file` secrets, the [`config::Secret`]
//!   wrapper, and a pure `validate()` that names file, line and key on every error.
//! - [`exotel`]: the Balance API client: request, response parsing (both shapes, exact
//!   decimals) and the error classes that drive backoff and `monitor_failing`.
//! - [`http`]: the one place HTTP clients are built (rustls, private CA, timeouts,
//!   proxies) plus `Retry-After` and bounded body reading shared by every HTTP peer.
//! - [`evaluate`]: pure hysteresis: (state, observation, now) → (state, events). No I/O,
//!   no clock.
//! - [`notify`]: the notifier trait, routing (who is told what) and the channels, one
//!   file each; [`notify::render`] builds every message as a pure function.
//! - [`state`]: the persisted state file and outbox, written atomically.
//! - [`daemon`]: the scheduler (one task per account), delivery workers (one per
//!   channel), reload and shutdown; [`cli`] turns signals into its shutdown future and
//!   reload requests.
//! - [`health`]: task heartbeats, the supervisor behind `/healthz` and the systemd
//!   watchdog, and the ~20-line `sd_notify`.
//! - [`metrics`]: Prometheus series and the small HTTP server for `/metrics` and
//!   `/healthz`.
//! - [`logging`]: the global `tracing` subscriber (`RUST_LOG`, text or JSON, journald
//!   aware), installed early and switched to the configured format once it is known.
//! - [`cli`]: the one-shot commands (`check`, `validate`, `test-notify`, `health`) and
//!   their exit codes; [`demo`] runs the real daemon against a simulated Exotel.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod evaluate;
pub mod exotel;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod snooze;
pub mod state;
pub mod web;

/// Wall-clock time, injected so tests (reminders, blindness) can move it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> jiff::Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}
