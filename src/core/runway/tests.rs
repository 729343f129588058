use super::*;
use proptest::prelude::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn cents(n: i64) -> Decimal {
    Decimal::new(n, 2)
}

const HOUR: u64 = 3600;

fn history_of(window: Duration, samples: &[(i64, Decimal)]) -> History {
    let mut h = History::new(window, at(samples[0].0), samples[0].1);
    for (t, b) in &samples[1..] {
        h.push(window, at(*t), *b);
    }
    h
}

fn order(r: Runway) -> u128 {
    match r {
        Runway::Seconds(s) => u128::from(s),
        Runway::Infinite => u128::MAX,
        Runway::Unknown => panic!("unknown where a rate is given"),
    }
}

#[test]
fn unknown_until_a_quarter_of_the_window_and_three_samples() {
    let window = Duration::from_secs(4 * HOUR);
    // Two samples an hour apart: span long enough, too few samples.
    let h = history_of(window, &[(0, cents(10_000)), (3600, cents(9_000))]);
    let e = h.estimate(window, cents(9_000), Decimal::ZERO);
    assert_eq!((e.burn_per_day, e.runway), (None, Runway::Unknown));
    // Three samples over 59 minutes: under a quarter of 4 h.
    let h = history_of(
        window,
        &[
            (0, cents(10_000)),
            (1800, cents(9_500)),
            (3540, cents(9_000)),
        ],
    );
    assert_eq!(
        h.estimate(window, cents(9_000), Decimal::ZERO).runway,
        Runway::Unknown
    );
    // Three samples over exactly an hour: known. 10 spent in 1 h = 240/day.
    let h = history_of(
        window,
        &[
            (0, cents(10_000)),
            (1800, cents(9_500)),
            (3600, cents(9_000)),
        ],
    );
    let e = h.estimate(window, cents(9_000), Decimal::ZERO);
    assert_eq!(e.burn_per_day, Some(Decimal::new(240, 0)));
    // 90 left at 10 an hour: 9 hours.
    assert_eq!(e.runway, Runway::Seconds(9 * 3600));
    assert_eq!(e.span_seconds, 3600);
    assert_eq!(e.depletes_at(at(3600)), Some(at(3600 + 9 * 3600)));
}

#[test]
fn floor_zero_and_infinite() {
    let window = Duration::from_secs(4 * HOUR);
    let flat = history_of(
        window,
        &[(0, cents(500)), (1800, cents(500)), (3600, cents(500))],
    );
    let e = flat.estimate(window, cents(500), Decimal::ZERO);
    assert_eq!(e.burn_per_day, Some(Decimal::ZERO));
    assert_eq!(e.runway, Runway::Infinite);
    assert_eq!(e.depletes_at(at(0)), None);
    // At or under the floor: 0, even with nothing spent.
    assert_eq!(
        flat.estimate(window, cents(500), cents(500)).runway,
        Runway::Seconds(0)
    );
    // A postpaid floor below zero leaves room under zero.
    let drain = history_of(
        window,
        &[(0, cents(0)), (1800, cents(-500)), (3600, cents(-1_000))],
    );
    // 10 an hour, 990 above a floor of -1000: 99 hours.
    let e = drain.estimate(window, cents(-1_000), Decimal::new(-1000, 0));
    assert_eq!(e.runway, Runway::Seconds(99 * 3600));
}

#[test]
fn a_rise_is_not_spend_and_old_buckets_leave_the_window() {
    let window = Duration::from_secs(4 * HOUR);
    let h = history_of(
        window,
        &[
            (0, cents(10_000)),
            (1800, cents(9_000)),
            (1900, cents(50_000)), // top-up
            (3600, cents(49_000)),
        ],
    );
    // Spend 20 over one hour.
    let e = h.estimate(window, cents(49_000), Decimal::ZERO);
    assert_eq!(e.burn_per_day, Some(Decimal::new(480, 0)));
    assert_eq!(e.spend_24h, Some(Decimal::new(20, 0)));
    // Ten hours later a flat balance: the window (4 h) no longer sees the drain.
    let mut h = h;
    for k in 1..=20 {
        h.push(window, at(3600 + k * 1800), cents(49_000));
    }
    let e = h.estimate(window, cents(49_000), Decimal::ZERO);
    assert_eq!(e.burn_per_day, Some(Decimal::ZERO));
    assert!(e.span_seconds <= 4 * HOUR + u64::from(bucket_width(window)));
}

#[test]
fn a_sample_from_the_past_is_ignored_and_a_new_window_rebuckets() {
    let window = Duration::from_secs(4 * HOUR);
    let mut h = history_of(
        window,
        &[
            (0, cents(10_000)),
            (1800, cents(9_500)),
            (3600, cents(9_000)),
        ],
    );
    let before = h.clone();
    h.push(window, at(100), cents(1));
    assert_eq!(h, before);
    // Halving the window re-buckets and keeps the spend (and the burn rate).
    let wider = Duration::from_secs(2 * HOUR);
    h.push(wider, at(3600), cents(9_000));
    let e = h.estimate(wider, cents(9_000), Decimal::ZERO);
    assert_eq!(e.burn_per_day, Some(Decimal::new(240, 0)));
}

#[test]
fn history_round_trips_through_json() {
    let window = Duration::from_secs(3 * 24 * HOUR);
    let h = history_of(window, &[(0, cents(10_000)), (60, cents(9_999))]);
    let json = serde_json::to_string(&h).unwrap();
    let back: History = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h);
    assert!(serde_json::from_str::<History>(&json.replace("[0.0,", "[")).is_err());
}

#[test]
fn seven_days_of_minute_samples_stay_in_128_buckets() {
    let window = Duration::from_secs(7 * 24 * HOUR);
    let mut h = History::new(window, at(0), cents(10_000_000));
    for k in 1..=(7 * 24 * 60) {
        h.push(window, at(k * 60), cents(10_000_000 - k * 100));
    }
    // One unit (100 cents) a minute: 1440 a day.
    let e = h.estimate(window, h.last_balance(), Decimal::ZERO);
    let burn = e.burn_per_day.unwrap().to_f64().unwrap();
    assert!((burn - 1440.0).abs() / 1440.0 < 0.01, "{burn}");
    // Spend, count and closing balance per bucket, plus the header.
    assert!(std::mem::size_of::<History>() <= 1200);
}

#[test]
fn points_draw_each_bucket_s_newest_balance_and_end_on_the_newest_sample() {
    let window = Duration::from_secs(128 * 60); // one-minute buckets
    let mut h = History::new(window, at(0), cents(100_000));
    for k in 1..=300 {
        h.push(window, at(k * 30), cents(100_000 - k * 100));
    }
    let all = h.points(BUCKETS);
    assert_eq!(all.len(), BUCKETS);
    let last = all.last().unwrap();
    assert_eq!((last.at, last.balance), (at(9000), h.last_balance()));
    // The bucket before the head (buckets align to unix minutes, `at` is 20 s past
    // one): its newest sample (k = 299, at 8970) drawn at the bucket's end.
    let before = all[all.len() - 2];
    assert_eq!(before.at, at(8979));
    assert_eq!(before.balance, cents(100_000 - 299 * 100));
    assert!(all.windows(2).all(|w| w[0].at < w[1].at));
    // Fewer points: merged buckets, still ending on the newest sample.
    let few = h.points(16);
    assert_eq!(few.len(), 16);
    assert_eq!(few.last(), all.last());
    // A history of one sample is one point.
    assert_eq!(History::new(window, at(5), cents(7)).points(16).len(), 1);
}

proptest! {
    /// Raising every sample from some point on (a top-up there) never raises the spend.
    #[test]
    fn a_top_up_never_raises_the_spend(
        deltas in prop::collection::vec(-500i64..500, 3..200),
        at_index in 1usize..200,
        amount in 1i64..1_000_000,
    ) {
        let window = Duration::from_secs(6 * HOUR);
        let mut balance = 1_000_000i64;
        let mut plain = Vec::new();
        let mut topped = Vec::new();
        for (i, d) in deltas.iter().enumerate() {
            balance += d;
            let t = i as i64 * 120;
            plain.push((t, cents(balance)));
            let lift = if i >= at_index.min(deltas.len() - 1) { amount } else { 0 };
            topped.push((t, cents(balance + lift)));
        }
        let a = history_of(window, &plain).estimate(window, cents(0), Decimal::ZERO);
        let b = history_of(window, &topped).estimate(window, cents(0), Decimal::ZERO);
        prop_assert!(b.spend_24h <= a.spend_24h, "{:?} > {:?}", b.spend_24h, a.spend_24h);
        prop_assert!(b.burn_per_day <= a.burn_per_day);
    }

    /// A steady drain of r per hour, sampled every `every` seconds, gives a burn rate
    /// of 24·r a day within one bucket's (plus one sample interval's) share of the span.
    #[test]
    fn a_steady_drain_gives_its_rate_within_one_bucket(
        r in 1i64..100_000,
        hours in 2u64..48,
        every in 30i64..600,
        window_hours in 1u64..24,
    ) {
        let window = Duration::from_secs(window_hours * HOUR);
        let start = 1_000_000_000i64;
        let total = i64::try_from(hours * HOUR).unwrap();
        let mut samples = Vec::new();
        let mut t = 0;
        while t <= total {
            // r per hour in cents: r*100 * t/3600 cents drained.
            samples.push((t, cents(start - r * 100 * t / 3600)));
            t += every;
        }
        prop_assume!(samples.len() >= 3);
        let h = history_of(window, &samples);
        let e = h.estimate(window, samples.last().unwrap().1, Decimal::ZERO);
        if let Some(burn) = e.burn_per_day {
            let burn = burn.to_f64().unwrap();
            let expected = 24.0 * r as f64;
            let slack = (f64::from(bucket_width(window)) + every as f64) / e.span_seconds as f64;
            prop_assert!(
                (burn - expected).abs() <= expected * slack + 0.02 + expected * 1e-4,
                "burn {burn} expected {expected} slack {slack}"
            );
        } else {
            prop_assert!(e.span_seconds * 4 < window.as_secs() || samples.len() < 3);
        }
    }

    /// More money never means less time.
    #[test]
    fn runway_is_monotone_in_balance(
        a in -1_000_000i64..1_000_000,
        b in -1_000_000i64..1_000_000,
        floor in -10_000i64..10_000,
        rate in 0.0f64..1000.0,
    ) {
        let (lo, hi) = (a.min(b), a.max(b));
        let r_lo = runway(cents(lo), cents(floor), rate);
        let r_hi = runway(cents(hi), cents(floor), rate);
        prop_assert!(order(r_lo) <= order(r_hi), "{r_lo:?} > {r_hi:?}");
    }
}
