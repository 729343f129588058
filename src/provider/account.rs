//! One `[[account]]`: a wallet at a provider, and how it is watched (polling,
//! thresholds, routing). The provider's own keys are its [`ProviderConfig`].

use std::path::PathBuf;
use std::time::Duration;

use super::ProviderConfig;
use crate::core::Thresholds;

/// One `[[account]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    pub name: String,
    /// The provider and the keys it owns (credentials, base URL, currency rules).
    pub provider: ProviderConfig,
    pub poll_interval: Duration,
    pub repeat_every: Option<Duration>,
    pub blind_after: Duration,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub notify: Vec<String>,
    pub thresholds: Thresholds,
    /// `labels = {…}`: extra Alertmanager labels for this account's alerts.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Escalation steps (SPEC §12), `after` increasing.
    pub escalate: Vec<crate::core::escalation::Step>,
    /// Runway window, floor and latches (SPEC §9.2).
    pub runway: crate::core::RunwayPolicy,
    /// The smallest rise that counts as a top-up (SPEC §9.4).
    pub topup_min: rust_decimal::Decimal,
}

/// Requests for one account are never closer together than this (SPEC §2).
pub const RATE_FLOOR: Duration = Duration::from_secs(60);

impl AccountConfig {
    /// The provider's identifier of the account (Exotel's SID, Twilio's Account SID,
    /// …; the account's name where the provider has none), as events carry it.
    pub fn sid(&self) -> &str {
        self.provider.account_id().unwrap_or(&self.name)
    }

    /// The `provider` value (`exotel`, `twilio`, …), as events and metrics carry it.
    pub fn provider_name(&self) -> &'static str {
        self.provider.type_name()
    }
    /// The currency used when the API omits one.
    pub fn fallback_currency(&self) -> &str {
        self.provider.fallback_currency()
    }
    /// The currency the account insists on, if any.
    pub fn expected_currency(&self) -> Option<&str> {
        self.provider.expected_currency()
    }
    /// True when an escalation step of this account names `channel`.
    pub fn escalates_to(&self, channel: &str) -> bool {
        self.escalate
            .iter()
            .any(|s| s.to.iter().any(|t| t == channel))
    }
    /// True when `base_url` points at a loopback address (tests, the demo).
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(self.provider.base_url())
    }
    /// The minimum spacing between two Balance requests.
    pub fn rate_floor(&self) -> Duration {
        if self.is_loopback() {
            RATE_FLOOR.min(self.poll_interval)
        } else {
            RATE_FLOOR
        }
    }
}

/// True for `http(s)://localhost`, `127.x.x.x` and `[::1]` URLs.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
