//! The `balance-alert` binary: parses the command line and maps each command's outcome
//! to its exit status (SPEC §7). Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use balance_alert::cli;
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

/// Watches Exotel account balances and alerts before the money runs out.
#[derive(Debug, Parser)]
#[command(name = "balance-alert", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// Config file [default: $BALANCE_ALERT_CONFIG, then /etc/balance-alert/config.toml]
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (exit 0 after SIGTERM/SIGINT, 78 on a bad config).
    Run(ConfigArg),
    /// Poll each account once and print one Nagios line (exit 0 ok, 1 warning, 2 critical, 3 unknown).
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this account.
        #[arg(long, value_name = "NAME")]
        account: Option<String>,
        /// Output: one Nagios line (text) or a JSON object.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Give up on accounts that have not answered after this long (whole command).
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Is there enough credit for a campaign? (exit 0 enough, 1 not enough, 3 unknown)
    Preflight {
        #[command(flatten)]
        config: ConfigArg,
        /// The account to ask about.
        #[arg(long, value_name = "NAME")]
        account: String,
        /// The amount the campaign will spend.
        #[arg(long, value_name = "AMOUNT", value_parser = parse_amount)]
        need: rust_decimal::Decimal,
        /// Also require the runway after spending it to be at least this long.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        runway: Option<std::time::Duration>,
        /// Use the daemon's balance only when younger than this.
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
        max_age: std::time::Duration,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Check the config and print a one-line summary (exit 0, or 78 when invalid).
    Validate(ConfigArg),
    /// Send a test notification through each channel, or one (exit 0 when all went out).
    TestNotify {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this channel.
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
    },
    /// Ask the running daemon's /healthz (exit 0 alive, 1 otherwise).
    Health(ConfigArg),
    /// Run the real daemon against a simulated Exotel; no credentials needed.
    Demo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `--need`: the exact decimal grammar of amounts, never through f64.
fn parse_amount(text: &str) -> Result<rust_decimal::Decimal, String> {
    balance_alert::core::exact_decimal(text.trim())
        .map_err(|_| format!("\"{text}\" is not an amount (write e.g. 25000 or 25000.50)"))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => cli::exit::OK,
                // A typo in a Nagios command line must read as UNKNOWN, not CRITICAL.
                _ if matches!(
                    std::env::args().nth(1).as_deref(),
                    Some("check" | "preflight")
                ) =>
                {
                    cli::exit::NAGIOS_UNKNOWN
                }
                _ => cli::exit::USAGE,
            });
        }
    };
    let outcome = match cli.command {
        Command::Run(c) => cli::run(&cli::config_path(c.config)),
        Command::Check {
            config,
            account,
            format,
            timeout,
        } => Ok(cli::check(
            &cli::config_path(config.config),
            account.as_deref(),
            format == Format::Json,
            timeout,
        )),
        Command::Preflight {
            config,
            account,
            need,
            runway,
            max_age,
            format,
        } => Ok(balance_alert::preflight::run(
            &cli::config_path(config.config),
            &balance_alert::preflight::Request {
                account,
                need,
                runway,
                max_age,
                json: format == Format::Json,
            },
        )),
        Command::Validate(c) => cli::validate(&cli::config_path(c.config)),
        Command::TestNotify { config, channel } => {
            cli::test_notify(&cli::config_path(config.config), channel.as_deref())
        }
        Command::Health(c) => Ok(cli::health(&cli::config_path(c.config))),
        Command::Demo => balance_alert::demo::run(),
    };
    match outcome {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            eprintln!("balance-alert: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
