//! The running daemon as the web endpoint's [`Backend`]: snapshots of its store, config,
//! metrics and activity, and snoozes written through the store (persisted before the
//! answer, so a snooze the client saw accepted survives a restart).

use std::sync::{Arc, RwLock};

use tracing::{info, warn};

use super::activity::Activity;
use super::snapshot::{self, Inputs};
use super::view::{AccountPage, Source, Status};
use super::{Backend, SnoozeError};
use crate::Clock;
use crate::core::Snooze;
use crate::core::snooze::{Request, RequestError};
use crate::health::Heartbeats;
use crate::metrics::Metrics;
use crate::settings::Config;
use crate::state::Store;

/// What the web endpoint reads from the daemon.
pub struct Live {
    pub store: Arc<Store>,
    /// The config in force; replaced by a reload.
    pub config: RwLock<Arc<Config>>,
    pub metrics: Arc<Metrics>,
    pub heartbeats: Arc<Heartbeats>,
    pub activity: Arc<Activity>,
    pub clock: Arc<dyn Clock>,
}

impl Live {
    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A reload applied a new config.
    pub fn set_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    fn with_inputs<T>(&self, f: impl FnOnce(&Inputs<'_>) -> T) -> T {
        let config = self.config();
        let now = self.clock.now();
        // Built under the state lock, histories included (they are part of the state):
        // a consistent picture, and at 10,000 accounts a few milliseconds
        // (benches/dashboard.rs).
        let state = self.store.lock();
        f(&Inputs {
            config: &config,
            state: &state,
            histories: state.histories(),
            activity: Some(&self.activity),
            now,
            source: Source::Daemon,
        })
    }

    async fn persist(&self, account: &str) -> Result<(), SnoozeError> {
        self.store.mark_account_dirty(account);
        self.store.save().await.map_err(|e| {
            self.metrics.inc_state_write_error();
            warn!(account, error = %e, "cannot persist the snooze");
            SnoozeError::State(e.to_string())
        })
    }
}

impl Backend for Live {
    fn status(&self) -> Status {
        self.with_inputs(snapshot::status)
    }

    fn account(&self, name: &str) -> Option<AccountPage> {
        self.with_inputs(|inputs| snapshot::account_page(inputs, name))
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }

    fn health(&self) -> Result<(), String> {
        let stuck = self.heartbeats.stuck();
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(stuck.join(", "))
        }
    }

    fn timezone(&self) -> jiff::tz::TimeZone {
        self.config()
            .daemon
            .timezone
            .as_ref()
            .map_or(jiff::tz::TimeZone::UTC, |(_, tz)| tz.clone())
    }

    async fn snooze(&self, account: &str, request: Request) -> Result<Snooze, SnoozeError> {
        if self.config().account(account).is_none() {
            return Err(SnoozeError::UnknownAccount(account.to_string()));
        }
        let now = self.clock.now();
        let snooze = {
            let mut state = self.store.lock();
            let record = state
                .accounts
                .get_mut(account)
                .ok_or_else(|| RequestError::NothingToSnooze(account.to_string()))?;
            let snooze = request.start(account, record.eval.level, now)?;
            record.snooze = Some(snooze.clone());
            snooze
        };
        self.persist(account).await?;
        info!(
            account,
            level = %snooze.level,
            until = snooze.until.map(tracing::field::display),
            "snoozed: no reminders until the snooze expires or the level changes"
        );
        Ok(snooze)
    }

    async fn unsnooze(&self, account: &str) -> Result<(), SnoozeError> {
        if self.config().account(account).is_none() {
            return Err(SnoozeError::UnknownAccount(account.to_string()));
        }
        let had = self
            .store
            .lock()
            .accounts
            .get_mut(account)
            .and_then(|r| r.snooze.take())
            .is_some();
        if had {
            self.persist(account).await?;
            info!(account, "unsnoozed");
        }
        Ok(())
    }
}
