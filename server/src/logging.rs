//! Structured logging with `tracing`: human-readable by default, JSON lines for log collectors.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines with colours on a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The value of `MIGBOARD_LOG_FORMAT` / `--log-format` was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown log format `{0}`: use `text` or `json`")]
pub struct UnknownLogFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UnknownLogFormat(s.to_owned())),
        }
    }
}

/// Default filter when `RUST_LOG` is unset: our crates at info, HTTP traces at info.
pub const DEFAULT_FILTER: &str = "info,tower_http=info";

/// Installs the global subscriber. `RUST_LOG` selects what is logged.
///
/// # Errors
/// When `RUST_LOG` cannot be parsed or a subscriber is already installed.
pub fn init(format: LogFormat) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec)
            .map_err(|e| anyhow::anyhow!("RUST_LOG=`{spec}` is not a valid filter: {e}"))?,
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_rejects_others() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("JSON".parse(), Ok(LogFormat::Json));
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        let err = "yaml"
            .parse::<LogFormat>()
            .expect_err("yaml is no log format");
        assert_eq!(
            err.to_string(),
            "unknown log format `yaml`: use `text` or `json`"
        );
    }
}
