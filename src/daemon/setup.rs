//! How a reload reaches an account's task: the daemon holds a [`SetupTx`] per account,
//! the task a [`SetupRx`]. A new setup replaces the old one; dropping the sender (the
//! account was removed) closes it.
//!
//! This is what a `tokio::sync::watch` channel does, but a watch channel is built for
//! many receivers and costs ~360 bytes an account (eight waiter lists); here exactly
//! one task waits, so one `Notify` and its stored permit are enough (issue 7: 10,000
//! accounts in 64 MiB).

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::AccountSetup;

/// The sender was dropped: the account was removed by a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

struct Cell {
    current: Mutex<Current>,
    notify: Notify,
}

struct Current {
    /// `None` once the sender is gone.
    setup: Option<AccountSetup>,
    /// Bumped by every send (and by the close).
    version: u64,
}

impl Cell {
    fn lock(&self) -> MutexGuard<'_, Current> {
        // Only assignments and clones happen under the lock.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `setup` in place (`None`: closed) and wakes the task.
    fn replace(&self, setup: Option<AccountSetup>) {
        {
            let mut current = self.lock();
            current.setup = setup;
            current.version += 1;
        }
        // notify_one keeps a permit when the task is not waiting: nothing is missed.
        self.notify.notify_one();
    }
}

pub(crate) struct SetupTx(Arc<Cell>);

pub(crate) struct SetupRx {
    cell: Arc<Cell>,
    seen: u64,
}

/// A sender and its receiver, starting at `setup`.
pub(crate) fn channel(setup: AccountSetup) -> (SetupTx, SetupRx) {
    let cell = Arc::new(Cell {
        current: Mutex::new(Current {
            setup: Some(setup),
            version: 0,
        }),
        notify: Notify::new(),
    });
    (SetupTx(Arc::clone(&cell)), SetupRx { cell, seen: 0 })
}

impl SetupTx {
    /// Replaces the setup and wakes the task.
    pub(crate) fn send_replace(&self, setup: AccountSetup) {
        self.0.replace(Some(setup));
    }
}

impl Drop for SetupTx {
    fn drop(&mut self) {
        self.0.replace(None);
    }
}

impl SetupRx {
    /// The current setup, now seen; `Err` once the account was removed.
    pub(crate) fn latest(&mut self) -> Result<AccountSetup, Closed> {
        let current = self.cell.lock();
        self.seen = current.version;
        current.setup.clone().ok_or(Closed)
    }

    /// Whether a setup not yet seen is waiting; `Err` once the account was removed.
    pub(crate) fn has_changed(&self) -> Result<bool, Closed> {
        let current = self.cell.lock();
        match current.setup {
            None => Err(Closed),
            Some(_) => Ok(current.version != self.seen),
        }
    }

    /// Waits for a setup not yet seen (`Ok`) or the removal (`Err`).
    pub(crate) async fn changed(&mut self) -> Result<(), Closed> {
        loop {
            if self.has_changed()? {
                return Ok(());
            }
            self.cell.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn setup(name: &str) -> AccountSetup {
        let text = format!(
            "[[account]]\nname = \"{name}\"\nsid = \"acme\"\napi_key = \"k\"\n\
             api_token = \"t\"\nwarning = {{ below = 5000, clear_above = 6000 }}\n"
        );
        let config = crate::settings::parse(
            &text,
            std::path::Path::new("c.toml"),
            &crate::config::MapEnv::default(),
        )
        .unwrap();
        let account = Arc::clone(&config.accounts[0]);
        let client = crate::provider::Client::new(&account).unwrap();
        AccountSetup {
            config: account,
            client: Arc::new(client),
        }
    }

    #[tokio::test]
    async fn a_send_wakes_the_waiter_once_and_a_drop_closes() {
        let (tx, mut rx) = channel(setup("a"));
        assert_eq!(rx.latest().unwrap().config.name, "a");
        assert_eq!(rx.has_changed(), Ok(false));

        // Sent before anyone waits: the stored permit and the version still tell.
        tx.send_replace(setup("b"));
        assert_eq!(rx.has_changed(), Ok(true));
        tokio::time::timeout(Duration::from_secs(1), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rx.latest().unwrap().config.name, "b");
        // Seen: the next wait blocks until something new arrives.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), rx.changed())
                .await
                .is_err()
        );

        let waiter = tokio::spawn(async move {
            let r = rx.changed().await;
            (r, rx)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let (r, mut rx) = tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r, Err(Closed));
        assert_eq!(rx.has_changed(), Err(Closed));
        assert!(rx.latest().is_err());
    }
}
