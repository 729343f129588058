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
    /// Every account's balance, level, runway and snooze, from the running daemon (or
    /// its state file when it is down).
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
        format: StatusFormat,
    },
    /// Stop an account's reminders until the snooze expires or its level changes (new
    /// alerts still go out). Needs [daemon] admin_token.
    Snooze {
        #[command(flatten)]
        config: ConfigArg,
        /// The account's name.
        account: String,
        /// How long, e.g. 4h or 30m (at most 30 days); ends early on a level change.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// Until the level changes, with no time limit (the default without --for).
        #[arg(long)]
        until_change: bool,
    },
    /// End an account's snooze: reminders resume.
    Unsnooze {
        #[command(flatten)]
        config: ConfigArg,
        /// The account's name.
        account: String,
    },
    /// Run the real daemon against a simulated Exotel; no credentials needed.
    Demo,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StatusFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => cli::exit::OK,
                // A typo in a Nagios command line must read as UNKNOWN, not CRITICAL.
                _ if std::env::args().nth(1).as_deref() == Some("check") => {
                    cli::exit::NAGIOS_UNKNOWN
                }
                _ => cli::exit::USAGE,
            });
        }
    };
    let outcome = match cli.command {
        Command::Run(c) => cli::run(&cli::config_path(c.config)),
        Command::Check { config, account } => Ok(cli::check(
            &cli::config_path(config.config),
            account.as_deref(),
        )),
        Command::Validate(c) => cli::validate(&cli::config_path(c.config)),
        Command::TestNotify { config, channel } => {
            cli::test_notify(&cli::config_path(config.config), channel.as_deref())
        }
        Command::Health(c) => Ok(cli::health(&cli::config_path(c.config))),
        Command::Status { config, format } => cli::status(
            &cli::config_path(config.config),
            match format {
                StatusFormat::Text => balance_alert::web::commands::Format::Text,
                StatusFormat::Json => balance_alert::web::commands::Format::Json,
            },
        ),
        Command::Snooze {
            config,
            account,
            duration,
            until_change,
        } => cli::snooze(
            &cli::config_path(config.config),
            &account,
            duration.as_deref(),
            until_change,
        ),
        Command::Unsnooze { config, account } => {
            cli::unsnooze(&cli::config_path(config.config), &account)
        }
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
