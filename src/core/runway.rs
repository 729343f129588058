//! Runway (SPEC §9.1): how fast an account spends and how long its balance lasts.
//!
//! This module owns the bounded per-account [`History`] of balance samples and the pure
//! estimate drawn from it ([`History::estimate`]: spend as the sum of drops, burn rate,
//! runway, the "unknown" rules and `floor`). No I/O and no clock: callers pass times in.
//!
//! The history is downsampled into a fixed ring of [`BUCKETS`] time buckets whose width
//! is `window / BUCKETS`, so an account costs the same few hundred bytes whether it is
//! polled every second or every hour, and 10,000 accounts with a 7-day window of 60 s
//! samples fit the §15 memory budget. Each bucket keeps only what the estimate needs:
//! the spend that arrived in it (the drop from the previous sample, added when a sample
//! comes in, so a top-up never counts as spend and a drop and a rise are never netted at
//! a coarser grain than two consecutive samples), how many samples it holds, and the
//! balance of its newest sample. The estimate is therefore off by at most about one
//! bucket's worth of time at the old end of the window.
//!
//! The same ring is the account's only balance history: the dashboard's sparkline and
//! chart ([`History::points`]) are drawn from the closing balance of each bucket, so
//! there is one bounded history per account, not a second list of raw samples.

use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};

/// Buckets per account. 128 × 9 bytes: 10,000 accounts cost ~12 MiB of history.
pub const BUCKETS: usize = 128;

/// Default `runway.window` (SPEC §9.1).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

/// Seconds in a day, for the per-day burn rate.
const DAY: f64 = 86_400.0;

/// How long the money lasts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runway {
    /// Not enough history yet (or nothing known at all).
    #[default]
    Unknown,
    /// Nothing is being spent.
    Infinite,
    /// Whole seconds; `0` when the balance is at or under the floor.
    Seconds(u64),
}

impl Runway {
    /// Seconds when finite.
    pub fn seconds(self) -> Option<u64> {
        match self {
            Runway::Seconds(s) => Some(s),
            _ => None,
        }
    }
}

/// What the history says about an account at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Estimate {
    /// Spend per day over the window, when known (rounded to 2 decimal places).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub burn_per_day: Option<Decimal>,
    pub runway: Runway,
    /// The time the estimate covers, in seconds (what "last 3 days" says).
    pub span_seconds: u64,
    /// Spend over the last 24 hours (what the daily summary shows), when any history.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub spend_24h: Option<Decimal>,
}

impl Estimate {
    /// When the money runs out: `observed_at + runway`, when the runway is finite.
    pub fn depletes_at(&self, observed_at: Timestamp) -> Option<Timestamp> {
        let secs = i64::try_from(self.runway.seconds()?).ok()?;
        observed_at
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .ok()
    }
}

/// The bounded, downsampled sample history of one account (SPEC §9.1). Serializable so
/// the store can persist it as an opaque value (a file today, a database row later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Bucket width in seconds (`window / BUCKETS`, rounded up, at least 1).
    width: u32,
    /// Absolute index (`unix seconds / width`) of the newest bucket.
    head: i64,
    /// Time of the first sample ever kept (unix seconds): the span never starts earlier.
    first_at: i64,
    /// Time and amount of the newest sample.
    last_at: i64,
    #[serde(with = "rust_decimal::serde::str")]
    last_balance: Decimal,
    /// Spend that arrived in each bucket, indexed by `absolute index % BUCKETS`.
    #[serde(with = "serde_big_array")]
    spend: [f32; BUCKETS],
    /// Samples in each bucket, saturating (only "at least 3" is ever asked).
    #[serde(with = "serde_big_array")]
    count: [u8; BUCKETS],
    /// The balance of each bucket's newest sample, for drawing (an `f32`: a chart needs
    /// no more than 7 digits).
    #[serde(with = "serde_big_array")]
    balance: [f32; BUCKETS],
}

/// One point of an account's drawn history: a bucket's newest sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub at: Timestamp,
    pub balance: Decimal,
}

/// serde for fixed arrays longer than 32 (serde's own impls stop there): a plain list.
mod serde_big_array {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        a: &[T; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        a.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D, T, const N: usize>(d: D) -> Result<[T; N], D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        let v = Vec::<T>::deserialize(d)?;
        let len = v.len();
        v.try_into()
            .map_err(|_| D::Error::invalid_length(len, &"one entry per bucket"))
    }
}

/// Bucket width for a window: the ring always covers the whole window.
pub fn bucket_width(window: Duration) -> u32 {
    let secs = window.as_secs().div_ceil(BUCKETS as u64).max(1);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn slot(index: i64) -> usize {
    // rem_euclid of a positive modulus is in 0..BUCKETS.
    usize::try_from(index.rem_euclid(BUCKETS as i64)).unwrap_or(0)
}

impl History {
    /// A history holding one sample.
    pub fn new(window: Duration, at: Timestamp, balance: Decimal) -> History {
        let width = bucket_width(window);
        let t = at.as_second();
        let mut h = History {
            width,
            head: t.div_euclid(i64::from(width)),
            first_at: t,
            last_at: t,
            last_balance: balance,
            spend: [0.0; BUCKETS],
            count: [0; BUCKETS],
            balance: [0.0; BUCKETS],
        };
        let s = slot(h.head);
        h.count[s] = 1;
        h.balance[s] = balance.to_f32().unwrap_or(0.0);
        h
    }

    /// The newest sample's balance.
    pub fn last_balance(&self) -> Decimal {
        self.last_balance
    }

    /// Adds a sample. A drop from the previous sample is spend, a rise is not. A sample
    /// older than the newest is ignored (a clock step back must not rewrite the past);
    /// a different `window` (a reload) re-buckets the history first.
    pub fn push(&mut self, window: Duration, at: Timestamp, balance: Decimal) {
        let width = bucket_width(window);
        if width != self.width {
            self.rebucket(width);
        }
        let t = at.as_second();
        if t < self.last_at {
            return;
        }
        let index = t.div_euclid(i64::from(self.width));
        if index > self.head {
            // Clear the buckets between the old head and the new one (at most all).
            let gap = (index - self.head).min(BUCKETS as i64);
            for k in 0..gap {
                let s = slot(index - k);
                self.spend[s] = 0.0;
                self.count[s] = 0;
                self.balance[s] = 0.0;
            }
            self.head = index;
        }
        let s = slot(index);
        let drop = self.last_balance - balance;
        if drop > Decimal::ZERO {
            self.spend[s] += drop.to_f32().unwrap_or(f32::MAX);
        }
        self.count[s] = self.count[s].saturating_add(1);
        self.balance[s] = balance.to_f32().unwrap_or(0.0);
        self.last_at = t;
        self.last_balance = balance;
    }

    /// Moves every bucket into the bucket of the new width that holds its start.
    fn rebucket(&mut self, width: u32) {
        let old = self.clone();
        self.width = width;
        self.head = old.last_at.div_euclid(i64::from(width));
        self.spend = [0.0; BUCKETS];
        self.count = [0; BUCKETS];
        self.balance = [0.0; BUCKETS];
        let oldest = old.head - (BUCKETS as i64 - 1);
        for index in oldest..=old.head {
            let s = slot(index);
            if old.count[s] == 0 && old.spend[s] == 0.0 {
                continue;
            }
            let start = index * i64::from(old.width);
            let new_index = start.div_euclid(i64::from(width));
            if new_index <= self.head - BUCKETS as i64 {
                continue; // beyond what the new ring holds
            }
            let n = slot(new_index);
            self.spend[n] += old.spend[s];
            self.count[n] = self.count[n].saturating_add(old.count[s]);
            // Oldest to newest: the last old bucket to land here holds the newest sample.
            if old.count[s] > 0 {
                self.balance[n] = old.balance[s];
            }
        }
        // Samples re-bucketed forward of their time must not make the span look longer.
        self.first_at = self.first_at.max(old.first_at);
    }

    /// The history to draw, oldest first, at most `max` points: each non-empty bucket's
    /// newest balance at the bucket's end (several buckets merged into one point when
    /// `max` is smaller than [`BUCKETS`]), and the newest sample exactly, last.
    pub fn points(&self, max: usize) -> Vec<Point> {
        let max = max.clamp(1, BUCKETS);
        let per_point = BUCKETS.div_ceil(max) as i64;
        let width = i64::from(self.width);
        let oldest = self.head - (BUCKETS as i64 - 1);
        let mut out = Vec::with_capacity(max);
        // Groups of `per_point` buckets ending at the head; the head's group is the
        // newest sample itself.
        let mut end = self.head - per_point;
        let mut groups = Vec::new();
        while end >= oldest && groups.len() + 1 < max {
            groups.push(end);
            end -= per_point;
        }
        for &end in groups.iter().rev() {
            let newest = (end + 1 - per_point..=end)
                .rev()
                .map(|index| (index, slot(index)))
                .find(|&(index, s)| index >= oldest && self.count[s] > 0);
            if let Some((index, s)) = newest {
                // The bucket's end: its newest sample was at or before it.
                let at = (index + 1) * width - 1;
                out.push(Point {
                    at: Timestamp::from_second(at).unwrap_or(Timestamp::UNIX_EPOCH),
                    balance: Decimal::from_f32(self.balance[s]).unwrap_or_default(),
                });
            }
        }
        out.push(Point {
            at: Timestamp::from_second(self.last_at).unwrap_or(Timestamp::UNIX_EPOCH),
            balance: self.last_balance,
        });
        out
    }

    /// Oldest absolute bucket index inside `window` as seen at the newest sample.
    fn oldest_in(&self, window: Duration) -> i64 {
        let start = self.last_at - i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 2);
        start
            .div_euclid(i64::from(self.width))
            .max(self.head - (BUCKETS as i64 - 1))
    }

    /// Spend and sample count of the buckets from `oldest` to the head.
    fn sum_from(&self, oldest: i64) -> (f64, u32) {
        let mut spend = 0.0f64;
        let mut count = 0u32;
        for index in oldest..=self.head {
            let s = slot(index);
            spend += f64::from(self.spend[s]);
            count += u32::from(self.count[s]);
        }
        (spend, count)
    }

    /// The estimate at the newest sample (SPEC §9.1), for `balance` (normally the newest
    /// sample's) and `floor`.
    pub fn estimate(&self, window: Duration, balance: Decimal, floor: Decimal) -> Estimate {
        let oldest = self.oldest_in(window);
        let (spend, samples) = self.sum_from(oldest);
        let span_start = self.first_at.max(oldest * i64::from(self.width));
        let span = u64::try_from(self.last_at - span_start).unwrap_or(0);
        let day_ago = self.last_at - 86_400;
        let (spend_day, _) = self.sum_from(
            day_ago
                .div_euclid(i64::from(self.width))
                .max(self.head - (BUCKETS as i64 - 1)),
        );
        let spend_24h = Decimal::from_f64(spend_day).map(|d| d.round_dp(2));
        let known = samples >= 3 && u128::from(span) * 4 >= window.as_nanos() / 1_000_000_000;
        if !known || span == 0 {
            return Estimate {
                burn_per_day: None,
                runway: if balance <= floor {
                    Runway::Seconds(0)
                } else {
                    Runway::Unknown
                },
                span_seconds: span,
                spend_24h,
            };
        }
        let per_second = spend / span as f64;
        let burn_per_day = Decimal::from_f64(per_second * DAY).map(|d| d.round_dp(2));
        Estimate {
            burn_per_day,
            runway: runway(balance, floor, per_second),
            span_seconds: span,
            spend_24h,
        }
    }
}

/// Adds a sample to an account's history (starting one on its first sample) and
/// returns the estimate at that sample: what the daemon does on every successful poll.
pub fn record(
    history: &mut Option<Box<History>>,
    policy: &super::level::RunwayPolicy,
    at: Timestamp,
    balance: Decimal,
) -> Estimate {
    let h = match history {
        Some(h) => {
            h.push(policy.window, at, balance);
            h
        }
        None => history.insert(Box::new(History::new(policy.window, at, balance))),
    };
    h.estimate(policy.window, balance, policy.floor)
}

/// Runway for a balance at a burn rate per second (SPEC §9.1): 0 at or under the floor
/// (the money has run out, whatever the rate), infinite when nothing is spent.
pub fn runway(balance: Decimal, floor: Decimal, per_second: f64) -> Runway {
    if balance <= floor {
        return Runway::Seconds(0);
    }
    if per_second <= 0.0 || !per_second.is_finite() {
        return Runway::Infinite;
    }
    let left = (balance - floor).to_f64().unwrap_or(f64::MAX);
    let secs = left / per_second;
    if secs >= u64::MAX as f64 {
        Runway::Infinite
    } else {
        // Floor: "lasts about N" must never promise a second more than the estimate.
        Runway::Seconds(secs as u64)
    }
}

/// The burn rate per second a per-day rate stands for.
pub fn per_second(burn_per_day: Decimal) -> f64 {
    burn_per_day.to_f64().unwrap_or(0.0) / DAY
}

#[cfg(test)]
mod tests;
