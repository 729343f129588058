//! Prometheus metrics: every series the daemon exports and their text exposition
//! (format 0.0.4), which [`crate::web`] serves on `GET /metrics`.
//!
//! Series (SPEC §8), all with HELP text:
//! `balance_alert_balance{account,provider,currency}`,
//! `balance_alert_level{account,provider}`,
//! `balance_alert_last_success_timestamp_seconds{account,provider}`,
//! `balance_alert_poll_errors_total{account,provider,class}` (every per-account series
//! carries the account's `provider`, SPEC §10),
//! `balance_alert_notifications_total{channel,result}`, `balance_alert_outbox_pending`,
//! `balance_alert_config_reload_success`; and (SPEC §9.3)
//! `balance_alert_burn_rate_per_day{account,provider,currency}` and
//! `balance_alert_runway_seconds{account,provider}`, absent while unknown, `+Inf` when
//! infinite (with the `provider` label every per-account series has).
//!
//! The per-account series are not `prometheus-client` families: a family keeps every
//! series under its own copies of the label strings in a hash map (seven series an
//! account), and every update built the labels again to find its series. With 10,000
//! accounts that counts against SPEC §15's 64 MiB. Instead each account has one compact
//! [`AccountSeries`] record, and a [`Collector`] writes the series from those records
//! at scrape time, sorted by account.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use crate::core::{ErrorClass, Level};

/// What `/metrics` answers with. Prometheus' classic text format rather than the
/// OpenMetrics one `prometheus-client` defaults to: `promtool check metrics` and every
/// scraper accept it, and it needs no `# EOF` or content negotiation.
pub const CONTENT_TYPE_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    channel: String,
    result: String,
}

/// The error classes in the order of [`AccountSeries::errors`].
const CLASSES: [ErrorClass; 3] = [
    ErrorClass::Config,
    ErrorClass::Throttled,
    ErrorClass::Transient,
];

fn class_index(class: ErrorClass) -> usize {
    match class {
        ErrorClass::Config => 0,
        ErrorClass::Throttled => 1,
        ErrorClass::Transient => 2,
    }
}

/// One account's series, as values: what seven label-keyed series held.
#[derive(Debug, Default)]
struct AccountSeries {
    /// The `provider` label of every series of the account; a reload that changes it
    /// starts the account's series afresh, so no series is left under the old label.
    provider: &'static str,
    /// The `currency` label of the balance and burn-rate series.
    currency: Option<Box<str>>,
    balance: Option<f64>,
    level: Option<i64>,
    last_success: Option<f64>,
    burn_per_day: Option<f64>,
    runway: Option<f64>,
    /// Failed polls by class ([`CLASSES`] order); every class is exported from the
    /// account's first series on, at 0, so `rate()` and `increase()` see the first error.
    errors: [u64; 3],
}

impl AccountSeries {
    fn new(provider: &'static str) -> Self {
        AccountSeries {
            provider,
            ..AccountSeries::default()
        }
    }
}

/// Every account's series, by account name (so the exposition is sorted).
#[derive(Debug, Default)]
struct Accounts(Mutex<BTreeMap<Box<str>, AccountSeries>>);

impl Accounts {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Box<str>, AccountSeries>> {
        // Each critical section is a few field writes, so a poisoned map is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on `account`'s record, made (or, for another provider, made afresh)
    /// first.
    fn with<R>(
        &self,
        account: &str,
        provider: &'static str,
        f: impl FnOnce(&mut AccountSeries) -> R,
    ) -> R {
        let mut accounts = self.lock();
        let series = match accounts.get_mut(account) {
            Some(series) => series,
            None => accounts
                .entry(account.into())
                .or_insert_with(|| AccountSeries::new(provider)),
        };
        if series.provider != provider {
            *series = AccountSeries::new(provider);
        }
        f(series)
    }
}

/// One per-account gauge: its name and help, its labels, and how to read it off a
/// record.
struct Series {
    name: &'static str,
    help: &'static str,
    /// Whether the series has the `currency` label.
    currency: bool,
    /// Written as an integer (the level), not a float.
    integer: bool,
    value: fn(&AccountSeries) -> Option<f64>,
}

/// The per-account gauges, in exposition order.
const GAUGES: [Series; 5] = [
    Series {
        name: "balance_alert_balance",
        help: "Last balance reported by the provider's balance API, in the account's currency.",
        currency: true,
        integer: false,
        value: |s| s.balance,
    },
    Series {
        name: "balance_alert_level",
        help: "Current alert level per account: 0 ok, 1 warning, 2 critical.",
        currency: false,
        integer: true,
        // i64 → f64 is exact for 0..=2.
        value: |s| s.level.map(|l| l as f64),
    },
    Series {
        name: "balance_alert_last_success_timestamp_seconds",
        help: "Unix time of the last successful balance poll per account.",
        currency: false,
        integer: false,
        value: |s| s.last_success,
    },
    Series {
        name: "balance_alert_burn_rate_per_day",
        help: "Spend per day over the account's runway window (absent until known).",
        currency: true,
        integer: false,
        value: |s| s.burn_per_day,
    },
    Series {
        name: "balance_alert_runway_seconds",
        help: "Seconds until the balance reaches the runway floor at the current burn rate \
               (absent until known, +Inf when nothing is spent).",
        currency: false,
        integer: false,
        value: |s| s.runway,
    },
];

impl Collector for Accounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let accounts = self.lock();
        for series in &GAUGES {
            // A family with no series is left out entirely, as prometheus-client does.
            if !accounts.values().any(|s| (series.value)(s).is_some()) {
                continue;
            }
            let mut family =
                encoder.encode_descriptor(series.name, series.help, None, MetricType::Gauge)?;
            for (account, s) in accounts.iter() {
                let Some(value) = (series.value)(s) else {
                    continue;
                };
                let account: &str = account;
                let labels2 = [("account", account), ("provider", s.provider)];
                if series.currency {
                    let currency = s.currency.as_deref().unwrap_or_default();
                    let labels = [labels2[0], labels2[1], ("currency", currency)];
                    gauge(value, series.integer, family.encode_family(&labels)?)?;
                } else {
                    gauge(value, series.integer, family.encode_family(&labels2)?)?;
                }
            }
        }
        if accounts.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "balance_alert_poll_errors",
            "Failed balance polls by account and error class (config, throttled, transient).",
            None,
            MetricType::Counter,
        )?;
        for (account, s) in accounts.iter() {
            for (class, n) in CLASSES.iter().zip(s.errors) {
                let labels = [
                    ("account", &**account),
                    ("provider", s.provider),
                    ("class", class.as_str()),
                ];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn gauge(
    value: f64,
    integer: bool,
    encoder: prometheus_client::encoding::MetricEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    if integer {
        ConstGauge::new(value as i64).encode(encoder)
    } else {
        ConstGauge::new(value).encode(encoder)
    }
}

/// Every series the daemon exports. Cheap to update from any task (a short lock or an
/// atomic); shared as `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    accounts: Arc<Accounts>,
    notifications: Family<NotificationLabels, Counter>,
    outbox_pending: Gauge,
    outbox_held: Gauge,
    reload_success: Gauge,
    state_write_errors: Counter,
    state_writable: Gauge,
    heartbeat_failures: Counter,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let accounts = Arc::new(Accounts::default());
        let notifications = Family::<NotificationLabels, Counter>::default();
        let outbox_pending = Gauge::default();
        let outbox_held = Gauge::default();
        let reload_success = Gauge::default();
        let state_write_errors = Counter::default();
        let state_writable = Gauge::default();
        let heartbeat_failures = Counter::default();
        // prometheus-client appends "." to each help text and "_total" to counter names.
        registry.register(
            "balance_alert_notifications",
            "Notification delivery attempts by channel and result \
             (delivered, retried, failed, gave_up, dropped)",
            notifications.clone(),
        );
        registry.register(
            "balance_alert_outbox_pending",
            "Notifications persisted in the outbox and not yet delivered",
            outbox_pending.clone(),
        );
        // SPEC §12: of those, the ones waiting out a channel's quiet hours.
        registry.register(
            "balance_alert_outbox_held",
            "Notifications in the outbox held until a channel's quiet hours end",
            outbox_held.clone(),
        );
        registry.register(
            "balance_alert_config_reload_success",
            "Whether the last configuration load or reload succeeded (1) or failed (0)",
            reload_success.clone(),
        );
        // Beyond SPEC §8's list: a full disk would otherwise show only in the log.
        registry.register(
            "balance_alert_state_write_errors",
            "Failed writes of the state file (levels, outbox); messages are still sent",
            state_write_errors.clone(),
        );
        registry.register(
            "balance_alert_state_writable",
            "Whether the state database is being written (1) or the daemon runs from memory (0)",
            state_writable.clone(),
        );
        state_writable.set(1);
        registry.register(
            "balance_alert_heartbeat_failures",
            "Heartbeat pings (SPEC 11.2) that did not reach the dead man's switch",
            heartbeat_failures.clone(),
        );
        registry.register_collector(Box::new(Arc::clone(&accounts)));
        // The config that started the daemon was valid, or it would not be running.
        reload_success.set(1);
        Arc::new(Metrics {
            registry,
            accounts,
            notifications,
            outbox_pending,
            outbox_held,
            reload_success,
            state_write_errors,
            state_writable,
            heartbeat_failures,
        })
    }

    pub fn inc_heartbeat_failure(&self) {
        self.heartbeat_failures.inc();
    }

    /// A changed currency drops the burn rate of the old one (set again, in the new
    /// currency, by the next [`Metrics::set_runway`]).
    pub fn set_balance(&self, account: &str, provider: &'static str, currency: &str, value: f64) {
        self.accounts.with(account, provider, |s| {
            if s.currency.as_deref() != Some(currency) {
                s.currency = Some(currency.into());
                s.burn_per_day = None;
            }
            s.balance = Some(value);
        });
    }

    /// The runway series of an account: removed while the estimate is unknown. The
    /// burn series carries the currency of the balance series (set just before; the
    /// daemon always sets both from the same poll).
    pub fn set_runway(
        &self,
        account: &str,
        provider: &'static str,
        currency: &str,
        estimate: &crate::core::Estimate,
    ) {
        use crate::core::Runway;
        use rust_decimal::prelude::ToPrimitive;
        let burn = estimate.burn_per_day.and_then(|b| b.to_f64());
        let runway = match estimate.runway {
            Runway::Unknown => None,
            Runway::Infinite => Some(f64::INFINITY),
            Runway::Seconds(s) => Some(s as f64),
        };
        self.accounts.with(account, provider, |s| {
            // Only before any balance: otherwise the balance series' currency stands.
            s.currency.get_or_insert_with(|| currency.into());
            s.burn_per_day = burn;
            s.runway = runway;
        });
    }

    pub fn set_level(&self, account: &str, provider: &'static str, level: Level) {
        let value = match level {
            Level::Ok => 0,
            Level::Warning => 1,
            Level::Critical => 2,
        };
        self.accounts
            .with(account, provider, |s| s.level = Some(value));
    }

    pub fn set_last_success(&self, account: &str, provider: &'static str, at: jiff::Timestamp) {
        // Millisecond precision is plenty and keeps the f64 exact.
        let seconds = at.as_millisecond() as f64 / 1000.0;
        self.accounts
            .with(account, provider, |s| s.last_success = Some(seconds));
    }

    /// Starts an account's error counters at 0 for every class, so the series exist
    /// (with their HELP) before the first error and `rate()`/`increase()` see it.
    pub fn register_account(&self, account: &str, provider: &'static str) {
        self.accounts.with(account, provider, |_| ());
    }

    /// Starts a channel's notification counters at 0 for every result.
    pub fn register_channel(&self, channel: &str) {
        for result in ["delivered", "retried", "failed", "gave_up", "dropped"] {
            let _ = self.notifications.get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                result: result.to_owned(),
            });
        }
    }

    pub fn inc_poll_error(&self, account: &str, provider: &'static str, class: ErrorClass) {
        self.accounts.with(account, provider, |s| {
            s.errors[class_index(class)] += 1;
        });
    }

    /// `result`: `delivered`, `retried`, `failed` (permanent refusal), `gave_up`
    /// (`give_up_after` passed) or `dropped` (superseded reminder, removed channel).
    pub fn inc_notification(&self, channel: &str, result: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn set_outbox_pending(&self, n: usize) {
        self.outbox_pending
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_outbox_held(&self, n: usize) {
        self.outbox_held.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn inc_state_write_error(&self) {
        self.state_write_errors.inc();
    }

    pub fn set_state_writable(&self, ok: bool) {
        self.state_writable.set(i64::from(ok));
    }

    pub fn set_reload_success(&self, ok: bool) {
        self.reload_success.set(i64::from(ok));
    }

    /// Drops every series of an account removed by a reload, so dashboards do not show a
    /// frozen balance for an account nobody watches any more.
    pub fn forget_account(&self, account: &str) {
        self.accounts.lock().remove(account);
    }

    /// The Prometheus text exposition (format 0.0.4) of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an Err could only come from a label encoder,
        // and ours are plain strings.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests;
