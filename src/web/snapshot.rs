//! Builds the view model from what the daemon keeps: the config, the persisted state
//! (levels, last balances, runway estimates, snoozes, the outbox), each account's runway
//! history ([`History`], the one bounded history the daemon keeps) and, when the daemon
//! is the one asking, its recent [`Activity`]. Pure: the same function serves the live
//! dashboard and `balance-alert status` reading the state file of a stopped daemon.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use super::activity::Activity;
use super::view::{
    self, AccountPage, AccountView, ChannelView, OutboxView, PendingLine, Point, Source, Status,
};
use crate::core::History;
use crate::core::runway::BUCKETS;
use crate::provider::AccountConfig;
use crate::settings::Config;
use crate::state::{AccountRecord, State};

/// Points of the index's sparkline per account: a trend at a glance, small enough for a
/// 10,000-account page and status API; an account's own page draws every bucket.
pub const SPARKLINE_POINTS: usize = 16;

/// Everything a snapshot is made from.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub state: &'a State,
    pub histories: &'a BTreeMap<String, Box<History>>,
    pub activity: Option<&'a Activity>,
    pub now: Timestamp,
    pub source: Source,
}

fn account_view(
    config: &AccountConfig,
    record: Option<&AccountRecord>,
    history: Option<&History>,
    points: usize,
    pending: usize,
    now: Timestamp,
) -> AccountView {
    let eval = record.map(|r| &r.eval);
    let last = eval.and_then(|e| e.last.as_ref());
    AccountView {
        name: config.name.clone(),
        provider: config.provider.type_name().to_string(),
        sid: config.sid().to_string(),
        balance: last.map(|o| o.balance),
        currency: last
            .map(|o| o.currency.clone())
            .unwrap_or_else(|| config.fallback_currency().to_string()),
        level: eval.map(|e| e.level).unwrap_or_default(),
        monitor_failing: eval.is_some_and(|e| e.monitor_failing),
        warning_below: config.thresholds.warning.map(|t| t.below),
        critical_below: config.thresholds.critical.map(|t| t.below),
        // The estimate the last poll made (SPEC §9.1), saved with the account's state.
        burn_per_day: eval.and_then(|e| e.estimate.burn_per_day),
        runway_seconds: eval.and_then(|e| e.estimate.runway.seconds()),
        depletes_at: eval
            .zip(last)
            .and_then(|(e, o)| e.estimate.depletes_at(o.observed_at)),
        floor: config.runway.floor,
        last_success_at: last.map(|o| o.observed_at),
        last_error: eval.and_then(|e| e.last_error.clone()),
        // An expired (or level-ended) snooze not yet cleared by a poll is not shown.
        snooze: record
            .filter(|r| r.is_snoozed(now))
            .and_then(|r| r.snooze.clone()),
        history: history
            .map(|h| {
                h.points(points)
                    .into_iter()
                    .map(|p| Point {
                        at: p.at,
                        balance: p.balance,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        pending,
    }
}

/// The whole status, accounts sorted non-ok first.
pub fn status(inputs: &Inputs<'_>) -> Status {
    let Inputs {
        config,
        state,
        histories,
        activity,
        now,
        source,
    } = inputs;
    let mut per_account: HashMap<&str, usize> = HashMap::new();
    let mut per_channel: HashMap<&str, usize> = HashMap::new();
    for entry in state.outbox().values() {
        *per_account.entry(entry.event.account.as_str()).or_default() += 1;
        *per_channel.entry(entry.channel.as_str()).or_default() += 1;
    }
    let mut accounts: Vec<AccountView> = config
        .accounts
        .iter()
        .map(|a| {
            account_view(
                a,
                state.accounts.get(&a.name),
                histories.get(&a.name).map(|h| &**h),
                SPARKLINE_POINTS,
                per_account.get(a.name.as_str()).copied().unwrap_or(0),
                *now,
            )
        })
        .collect();
    view::sort_accounts(&mut accounts);
    let channels = config
        .channels
        .iter()
        .map(|c| ChannelView {
            name: c.name.clone(),
            kind: c.kind.type_name().to_string(),
            pending: per_channel.get(c.name.as_str()).copied().unwrap_or(0),
            last_delivery: activity.and_then(|a| a.last_delivery(&c.name)),
        })
        .collect();
    Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        instance: None,
        generated_at: *now,
        source: *source,
        refresh_seconds: view::refresh_seconds(
            config.accounts.iter().map(|a| a.poll_interval).min(),
        ),
        accounts,
        outbox: OutboxView {
            // Held messages are pending too, as in `balance_alert_outbox_pending`.
            pending: state.outbox().len(),
            held: state.outbox().values().filter(|e| e.is_held()).count(),
            failed: activity.map_or(0, |a| a.failed()),
        },
        channels,
    }
}

/// One account's page, or `None` when the config has no such account.
pub fn account_page(inputs: &Inputs<'_>, name: &str) -> Option<AccountPage> {
    let config = inputs.config.account(name)?;
    let pending: Vec<PendingLine> = inputs
        .state
        .outbox()
        .values()
        .filter(|e| e.event.account == name)
        .map(|e| PendingLine {
            created_at: e.created_at,
            channel: e.channel.clone(),
            event: e.event.event.as_str().to_string(),
            held: e.is_held(),
            held_until: e.held_until,
        })
        .collect();
    let account = account_view(
        config,
        inputs.state.accounts.get(name),
        inputs.histories.get(name).map(|h| &**h),
        BUCKETS,
        pending.len(),
        inputs.now,
    );
    Some(AccountPage {
        version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: inputs.now,
        refresh_seconds: view::refresh_seconds(Some(config.poll_interval)),
        account,
        events: inputs.activity.map(|a| a.events(name)).unwrap_or_default(),
        pending,
    })
}
