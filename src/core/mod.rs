//! The pure core (SPEC §16): exact amounts, levels and latches, the evaluator, events and their kinds,
//! the classes of a failed poll, routing decisions, escalation clocks and quiet hours. No I/O, no clock, and no
//! import from the edges (`config`, `provider`, `notify`, `state`, `daemon`): the edges
//! use these types, never the other way round.

pub mod amount;
pub mod escalation;
pub mod evaluate;
pub mod event;
pub mod level;
pub mod quiet;
pub mod routing;
pub mod runway;
pub mod shard;
pub mod snooze;

pub use amount::{DecimalError, exact_decimal};
pub use evaluate::{AccountState, Emitted, Observation, Policy};
pub use event::{Cause, ErrorClass, Event, EventKind, SummaryRow, new_event_id};
pub use level::{Level, RunwayPolicy, RunwayThreshold, Threshold, Thresholds};
pub use routing::{Routed, Routing};
pub use runway::{Estimate, History, Point, Runway};
pub use shard::Shard;
pub use snooze::Snooze;
