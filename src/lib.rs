//! balance-alert watches Exotel account balances (and Twilio, Plivo, Vonage, Telnyx and
//! Infobip wallets, SPEC §10) and tells people before the money runs out. It polls each
//! provider's balance API, tracks each account's level with hysteresis and delivers
//! alerts at least once through Slack, email, SMS and webhooks.
//!
//! The external contract (API handling, hysteresis, events, channels, config schema, CLI,
//! process behaviour) is `docs/SPEC.md` (the "SPEC §n" in comments); the README explains
//! it for operators.
//!
//! # Layout
//!
//! The tree shows the design (SPEC §16): a pure core, thin edges, one file per provider
//! and per channel type. Imports point one way, with no circle: `core` imports nothing
//! from the crate; `config` (how a file is read) only `core`; `provider` uses `config`;
//! `notify` uses `config` and `provider`; `settings` (the whole file) hands each
//! `[[account]]` to its provider and each `[[channel]]` to its type; the daemon and
//! the commands sit on top.
//!
//! - [`core`]: pure and I/O-free. [`core::level`] (levels, thresholds),
//!   [`core::evaluate`] (hysteresis: (state, observation, now) → (state, events), no
//!   clock), [`core::event`] (events and their kinds, the classes of a failed poll),
//!   [`core::routing`] (who is told what), [`core::amount`] (the exact decimal grammar),
//!   [`core::runway`] (the bounded sample history and the spend/runway estimate),
//!   [`core::escalation`] (escalation clocks), [`core::quiet`] (quiet-hours ranges,
//!   what is held, the collapse to the net change) and [`core::snooze`] (what a snooze
//!   silences and when it ends).
//! - [`config`]: reading and error reporting (every error names file, line, column and
//!   key), [`config::raw`] spanned reading, [`config::env`] `${VAR}` and `_file`
//!   expansion, [`config::secret`] ([`config::Secret`], redaction), [`config::validate`]
//!   (the helpers providers and channels call), and `[daemon]`; `config::runway` reads
//!   the runway keys (`runway`, `topup_min`, a channel's `events`, `summary_at`).
//! - [`provider`]: [`provider::AccountConfig`], the [`provider::ProviderConfig`] and
//!   [`provider::Client`] enums, the balance and poll-error types, status classes,
//!   transport errors and redaction they share, JSON body helpers, the one-request
//!   fetcher the providers after Exotel share; one file per provider
//!   ([`provider::exotel`], [`provider::twilio`], [`provider::plivo`],
//!   [`provider::vonage`], [`provider::telnyx`], [`provider::infobip`]) owning its
//!   config keys, request, parser and error text. A new provider is one file plus one
//!   arm in each enum.
//! - [`notify`]: the [`notify::ChannelKind`] (config) and [`notify::Channel`] (sender)
//!   enums, the [`notify::Notifier`] and [`notify::ChannelType`] traits; one file per
//!   channel type owning its config keys, rendering (pure, exact-output tests) and
//!   sending; shared wording and facts in [`notify::render`], SMS segment fitting and
//!   templates in [`notify::sms`], the future in words (runway sentence, summary lines)
//!   in [`notify::forecast`]. A new channel type is one file plus one arm.
//! - [`settings`]: the whole file: [`settings::Config`], `load`/`parse`, the keys every
//!   account and channel has (with `escalate` and `quiet_hours` in `settings/paging.rs`),
//!   and the checks that span them.
//! - [`http`]: the one place HTTP clients are built (rustls, private CA, timeouts,
//!   proxies) plus `Retry-After` and bounded body reading shared by every HTTP peer.
//! - [`state`]: the persisted state (levels, outbox, runway histories) in an embedded
//!   SQLite database behind a small backend seam, written row by row; runs from memory
//!   when the disk refuses.
//! - [`delivery`]: one channel's queue: per-account order, accounts in turn, grouped
//!   outage messages.
//! - [`summary`]: when the daily summary is due and what it says.
//! - [`daemon`]: the scheduler (one task per account), delivery workers (one per
//!   channel), reload and shutdown, and (`daemon/paging.rs`) escalation ticks and the
//!   release of messages held for quiet hours; [`cli`] turns signals into its shutdown
//!   future and reload requests.
//! - [`health`]: task heartbeats, the supervisor behind `/healthz` and the systemd
//!   watchdog; [`heartbeat`] pings an external dead man's switch while they are alive.
//! - [`metrics`]: Prometheus series (per-account ones written from one compact record
//!   per account at scrape time).
//! - [`web`]: the HTTP server on `[daemon] listen` (`/metrics`, `/healthz`, the
//!   dashboard, the status API, snooze), its TLS and basic auth, the view model and its
//!   pure HTML rendering, and the client the commands use to reach it.
//! - [`logging`]: the global `tracing` subscriber (`RUST_LOG`, text or JSON, journald
//!   aware), installed early and switched to the configured format once it is known.
//! - [`cli`]: the one-shot commands (`check`, `validate`, `test-notify`, `health`) and
//!   their exit codes; [`preflight`] ("is there enough credit?"); [`demo`] runs the
//!   real daemon against a simulated Exotel and a simulated Twilio.

/// mimalloc instead of the C library's malloc. The shipped binary is static musl, whose
/// malloc has one lock for every thread and is slow at many small allocations: a start
/// that reads 100,000 pending deliveries while it validates 10,000 accounts took
/// 1.4-2.2 s with it (docs/performance.md, run 5). Built without transparent huge pages
/// (`no_thp`), which grew the RSS by a third. Every build uses it, so figures measured
/// on one build hold for the other.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod delivery;
pub mod demo;
pub mod health;
pub mod heartbeat;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod preflight;
pub mod provider;
pub mod settings;
pub mod state;
pub mod summary;
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
