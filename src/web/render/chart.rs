//! The inline SVG charts of the dashboard: the sparkline in each row and the larger
//! chart on an account's page, as pure functions of the account's view.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{escaped, when};
use crate::notify::render::format_amount;
use crate::web::view::AccountView;

/// A chart's drawing box, in SVG user units.
#[derive(Clone, Copy)]
pub(super) struct Size {
    w: f64,
    h: f64,
    /// Axis labels and a wider margin (the account page).
    labels: bool,
}

impl Size {
    pub(super) const SPARK: Size = Size {
        w: 120.0,
        h: 30.0,
        labels: false,
    };
    pub(super) const BIG: Size = Size {
        w: 640.0,
        h: 220.0,
        labels: true,
    };
}

fn f64_of(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// The sparkline: the history as a line, the warning and critical `below` as
/// horizontal lines, and, when a depletion time is known, a dashed forecast line from
/// the last sample down to the floor at that time (cut at the chart's right edge,
/// which extends past the last sample by at most the history's own span).
pub(super) fn chart(out: &mut String, a: &AccountView, size: Size, tz: &TimeZone) {
    let history = &a.history;
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        if size.labels {
            out.push_str("<p class=m>No history yet.</p>");
        }
        return;
    };
    let t0 = first.at.as_millisecond() as f64;
    let t1 = last.at.as_millisecond() as f64;
    let forecast = match (a.depletes_at, a.burn_per_day) {
        (Some(at), Some(burn)) if burn > Decimal::ZERO => Some(at.as_millisecond() as f64),
        _ => None,
    };
    let span = (t1 - t0).max(1000.0);
    let t_end = match forecast {
        Some(tf) => tf.min(t1 + span).max(t1),
        None => t1.max(t0 + 1.0),
    };
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut include = |v: f64| {
        lo = lo.min(v);
        hi = hi.max(v);
    };
    for p in history {
        include(f64_of(p.balance));
    }
    for t in [a.warning_below, a.critical_below].into_iter().flatten() {
        include(f64_of(t));
    }
    if forecast.is_some() {
        include(f64_of(a.floor));
    }
    if (hi - lo).abs() < f64::EPSILON {
        let pad = (hi.abs() * 0.1).max(1.0);
        lo -= pad;
        hi += pad;
    }
    let pad = (hi - lo) * 0.06;
    let (lo, hi) = (lo - pad, hi + pad);
    let (left, right, top, bottom) = if size.labels {
        (70.0, 10.0, 10.0, 22.0)
    } else {
        (1.0, 1.0, 1.0, 1.0)
    };
    let plot_w = size.w - left - right;
    let plot_h = size.h - top - bottom;
    let x = |t: f64| left + (t - t0) / (t_end - t0) * plot_w;
    let y = |v: f64| top + (hi - v) / (hi - lo) * plot_h;
    // Integer coordinates in the sparkline keep 10,000 rows small; one decimal on the
    // account page's bigger chart.
    let prec = usize::from(size.labels);

    let class = if size.labels { "g" } else { "s" };
    let _ = write!(
        out,
        "<svg class={class} viewBox=\"0 0 {} {}\"",
        size.w, size.h
    );
    // The label is for the big chart; 500 sparklines do not need it repeated.
    out.push_str(if size.labels {
        " role=img aria-label=\"balance history\">"
    } else {
        ">"
    });
    for (t, cls, name) in [
        (a.warning_below, "tw", "warning"),
        (a.critical_below, "tc", "critical"),
    ] {
        if let Some(t) = t {
            let ty = y(f64_of(t));
            let _ = write!(
                out,
                "<path class={cls} d=\"M{left:.prec$} {ty:.prec$}H{:.prec$}\"/>",
                left + plot_w
            );
            if size.labels {
                let _ = write!(
                    out,
                    "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=end>{name} {}</text>",
                    left + plot_w,
                    ty - 3.0,
                    escaped(&format_amount(t, ""))
                );
            }
        }
    }
    if history.len() == 1 {
        // One sample: a short level line, so there is something to see.
        let py = y(f64_of(last.balance));
        let _ = write!(
            out,
            "<path class=h d=\"M{left:.prec$} {py:.prec$}h{:.prec$}\"/>",
            plot_w.min(size.w / 4.0)
        );
    } else {
        out.push_str("<polyline class=h points=\"");
        for (i, p) in history.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let px = x(p.at.as_millisecond() as f64);
            let py = y(f64_of(p.balance));
            let _ = write!(out, "{px:.prec$},{py:.prec$}");
        }
        out.push_str("\"/>");
    }
    if let Some(tf) = forecast {
        let b1 = f64_of(last.balance);
        let floor = f64_of(a.floor);
        let (ex, ev) = if tf <= t_end {
            (tf, floor)
        } else {
            (t_end, b1 + (floor - b1) * (t_end - t1) / (tf - t1))
        };
        let _ = write!(
            out,
            "<path class=f d=\"M{:.prec$} {:.prec$}L{:.prec$} {:.prec$}\"/>",
            x(t1),
            y(b1),
            x(ex),
            y(ev)
        );
    }
    if size.labels {
        let _ = write!(
            out,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=end>{}</text><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=end>{}</text>",
            left - 6.0,
            top + 10.0,
            escaped(&format_amount(
                Decimal::from_f64_retain(hi).unwrap_or_default().round_dp(0),
                ""
            )),
            left - 6.0,
            top + plot_h,
            escaped(&format_amount(
                Decimal::from_f64_retain(lo).unwrap_or_default().round_dp(0),
                ""
            )),
        );
        let _ = write!(
            out,
            "<text x=\"{left:.0}\" y=\"{:.0}\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" text-anchor=end>{}</text>",
            size.h - 6.0,
            escaped(&when(first.at, tz)),
            left + plot_w,
            size.h - 6.0,
            escaped(&when(
                Timestamp::from_millisecond(t_end as i64).unwrap_or(last.at),
                tz
            )),
        );
    }
    out.push_str("</svg>");
}
