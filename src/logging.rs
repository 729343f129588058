//! Logging setup (stub; being implemented).

use crate::config::LogFormat;

pub fn init(_format: LogFormat) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn init_default() {
    init(LogFormat::Text)
}
