//! Log output: one global `tracing` subscriber writing to stderr, filtered by `RUST_LOG`
//! (default `info`), as human text or one JSON object per line (`[daemon] log_format`).
//!
//! The format is only known once the config is loaded, but config errors must be logged
//! too, so [`init_default`] installs text output at once and [`init`] later swaps the
//! output layer in place (a `reload` layer) instead of failing to install a second global
//! subscriber. Under systemd (`JOURNAL_STREAM` names our stderr) text lines carry no
//! timestamp or colour: journald stamps every line itself.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry, reload};

use crate::config::LogFormat;

type Base = Layered<EnvFilter, Registry>;
type Output = Box<dyn Layer<Base> + Send + Sync + 'static>;

/// Set once the global subscriber is ours; later [`init`] calls swap the output through it.
static HANDLE: OnceLock<reload::Handle<Output, Base>> = OnceLock::new();

/// Text logging for the time before the config is read (and for one-shot commands).
pub fn init_default() {
    init(LogFormat::Text);
}

/// Installs (or, after [`init_default`], switches to) logging in `format`. Idempotent;
/// never panics, even if some other global subscriber was installed first.
pub fn init(format: LogFormat) {
    let plain = journald_owns_stderr();
    let ansi = !plain && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let output = output_layer(format, !plain, ansi, std::io::stderr);
    if let Some(handle) = HANDLE.get() {
        let _ = handle.reload(output);
        return;
    }
    let (filter, bad_filter) = env_filter(std::env::var("RUST_LOG").ok().as_deref());
    let (subscriber, handle) = subscriber(filter, output);
    if subscriber.try_init().is_ok() {
        let _ = HANDLE.set(handle);
        if let Some(error) = bad_filter {
            tracing::warn!(%error, "ignoring invalid RUST_LOG; logging at info");
        }
    }
}

/// The filter from `RUST_LOG`, or `info` (with the parse error) when unset or invalid.
fn env_filter(rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (EnvFilter::new("info"), None),
        Some(directives) => match EnvFilter::builder().parse(directives) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new("info"), Some(format!("{directives:?}: {e}"))),
        },
    }
}

fn subscriber(
    filter: EnvFilter,
    output: Output,
) -> (
    Layered<reload::Layer<Output, Base>, Base>,
    reload::Handle<Output, Base>,
) {
    let (output, handle) = reload::Layer::new(output);
    (Registry::default().with(filter).with(output), handle)
}

fn output_layer<W>(format: LogFormat, timestamps: bool, ansi: bool, writer: W) -> Output
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match (format, timestamps) {
        // JSON always carries its timestamp: it is read by machines that may not be
        // journald, and fields are flattened so `message` and friends sit at the top.
        (LogFormat::Json, _) => layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed(),
        (LogFormat::Text, true) => layer.with_ansi(ansi).boxed(),
        (LogFormat::Text, false) => layer.with_ansi(false).without_time().boxed(),
    }
}

/// True when stderr is the journal stream systemd gave us. `JOURNAL_STREAM` is
/// `device:inode` of that stream; comparing it with stderr avoids dropping timestamps
/// when we were merely started by a journald-logged shell and redirected elsewhere.
fn journald_owns_stderr() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    use std::os::unix::fs::MetadataExt;
    let parsed = value.to_str().and_then(|v| {
        let (dev, ino) = v.split_once(':')?;
        Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?))
    });
    match (parsed, std::fs::metadata("/proc/self/fd/2")) {
        (Some((dev, ino)), Ok(meta)) => meta.dev() == dev && meta.ino() == ino,
        // Cannot tell: trust the variable's presence, as most programs do.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
        }
    }

    fn capture(format: LogFormat, timestamps: bool) -> (Captured, Output) {
        let out = Captured::default();
        let writer = out.clone();
        (
            out,
            output_layer(format, timestamps, false, move || writer.clone()),
        )
    }

    #[test]
    fn json_lines_are_flat_objects() {
        let (out, layer) = capture(LogFormat::Json, true);
        let (subscriber, _handle) = subscriber(EnvFilter::new("info"), layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(account = "primary", "polled");
            tracing::debug!("filtered out");
        });
        let text = out.take();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["message"], "polled");
        assert_eq!(v["account"], "primary");
        assert_eq!(v["level"], "INFO");
        assert!(v["timestamp"].is_string());
    }

    #[test]
    fn text_without_timestamps_for_journald() {
        let (out, layer) = capture(LogFormat::Text, false);
        let (subscriber, _handle) = subscriber(EnvFilter::new("info"), layer);
        tracing::subscriber::with_default(subscriber, || tracing::warn!(n = 3, "low"));
        let line = out.take();
        assert!(
            line.starts_with(" WARN ") || line.starts_with("WARN "),
            "{line:?}"
        );
        assert!(line.contains("low n=3"), "{line:?}");
        assert!(!line.contains('\x1b'), "no colour codes: {line:?}");
    }

    #[test]
    fn text_with_timestamps_otherwise() {
        let (out, layer) = capture(LogFormat::Text, true);
        let (subscriber, _handle) = subscriber(EnvFilter::new("info"), layer);
        tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
        let line = out.take();
        // e.g. 2026-11-27T03:38:05.123456Z  INFO balance_alert::logging::tests: hello
        assert!(line.starts_with("20") && line.contains('T'), "{line:?}");
    }

    #[test]
    fn reload_switches_format_in_place() {
        let (text_out, text) = capture(LogFormat::Text, false);
        let (json_out, json) = capture(LogFormat::Json, true);
        let (subscriber, handle) = subscriber(EnvFilter::new("info"), text);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before");
            handle.reload(json).unwrap();
            tracing::info!("after");
        });
        assert!(text_out.take().contains("before"));
        let after = json_out.take();
        assert!(
            after.starts_with('{') && after.contains("\"after\""),
            "{after}"
        );
    }

    #[test]
    fn rust_log_parsing() {
        assert!(env_filter(None).1.is_none());
        assert!(env_filter(Some("")).1.is_none());
        assert!(env_filter(Some("debug,hyper=warn")).1.is_none());
        let (filter, error) = env_filter(Some("balance_alert=lots"));
        assert!(error.unwrap().contains("balance_alert=lots"));
        assert_eq!(filter.to_string(), "info");
    }
}
