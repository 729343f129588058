//! The `balance-alert` binary: parses the command line and maps each command's outcome
//! to its exit status (SPEC §7), and prints its own man page and shell completions from
//! the same clap definitions (SPEC §14). Everything else lives in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;

use balance_alert::cli;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

/// `--version`: the version, the git commit when the build knew it, and the target
/// (build.rs), e.g. `0.1.0 (commit 2a18d6f0c3e1, x86_64-unknown-linux-musl)`.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let commit = env!("BALANCE_ALERT_GIT_COMMIT");
    let target = env!("BALANCE_ALERT_TARGET");
    if commit.is_empty() {
        format!("{} ({target})", env!("CARGO_PKG_VERSION"))
    } else {
        format!("{} (commit {commit}, {target})", env!("CARGO_PKG_VERSION"))
    }
});

/// Watches Exotel account balances and alerts before the money runs out.
///
/// balance-alert polls the balance of each configured account, decides with hysteresis
/// (no flapping, no spam) whether it is ok, warning or critical, and tells people
/// through Slack, email, SMS or a webhook; when it cannot read a balance, that is an
/// alert too. The configuration is one TOML file; `balance-alert validate` checks it.
#[derive(Debug, Parser)]
#[command(name = "balance-alert", version = VERSION.as_str(), about)]
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
    /// Print the shell completion script (bash, zsh, fish; also elvish, powershell).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `balance-alert man | man -l -`).
    Man,
}

/// Sections the man page has beyond what clap knows: exit codes, files, environment.
const MAN_EXTRA: &str = r#".SH "EXIT STATUS"
0 success; 1 failure (for \fBtest\-notify\fR, a channel that did not deliver; for
\fBhealth\fR, a daemon that did not answer 200); 2 usage error; 78 (EX_CONFIG) the
config is invalid, missing or unreadable. \fBcheck\fR exits like a Nagios plugin:
0 ok, 1 warning, 2 critical, 3 unknown (a usage error included).
.SH FILES
.TP
\fI/etc/balance\-alert/config.toml\fR
The configuration (TOML), unless \fB\-c\fR or \fBBALANCE_ALERT_CONFIG\fR names another.
.TP
\fI/var/lib/balance\-alert/state.json\fR
Levels, last balances and the outbox of undelivered messages (the default
\fBstate_file\fR); kept when the package is removed.
.TP
\fI/usr/share/doc/balance\-alert/\fR
README.md (every key, channel type and metric) and an example configuration.
.SH ENVIRONMENT
.TP
\fBBALANCE_ALERT_CONFIG\fR
The config file when \fB\-c\fR is not given.
.TP
\fBRUST_LOG\fR
Log filter, e.g. \fBinfo\fR (the default) or \fBbalance_alert=debug\fR.
.TP
\fBHTTPS_PROXY\fR, \fBHTTP_PROXY\fR, \fBNO_PROXY\fR
Honoured for every outbound request.
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBsystemd.exec\fR(5), \fBsystemd\-creds\fR(1)
"#;

/// `man`: one page for the whole tool (clap's sections, then every command with its
/// options, then [`MAN_EXTRA`]), rather than clap_mangen's default, which points at a
/// page per subcommand that nobody installs.
fn man_page() -> Vec<u8> {
    use roff::{Roff, bold, roman};
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("balance-alert {}", env!("CARGO_PKG_VERSION")))
        .manual("balance-alert manual");
    let mut page = Vec::new();
    let render = |page: &mut Vec<u8>| -> std::io::Result<()> {
        man.render_title(page)?;
        man.render_name_section(page)?;
        man.render_synopsis_section(page)?;
        man.render_description_section(page)?;
        man.render_options_section(page)?;
        let mut commands = Roff::new();
        commands.control("SH", ["COMMANDS"]);
        for sub in cmd.get_subcommands() {
            let mut synopsis = vec![bold(format!("balance-alert {}", sub.get_name()))];
            let args: Vec<_> = sub
                .get_arguments()
                .filter(|a| !a.is_hide_set() && a.get_id() != "help")
                .collect();
            for arg in &args {
                synopsis.push(roman(" "));
                synopsis.extend(arg_usage(arg, !arg.is_positional()));
            }
            commands.control("TP", []).text(synopsis);
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            commands.text([roman(about)]);
            if args.is_empty() {
                continue;
            }
            commands.control("RS", []);
            for arg in &args {
                commands.control("TP", []).text(arg_usage(arg, false));
                let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let values: Vec<_> = arg
                    .get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_string())
                    .collect();
                if !values.is_empty() {
                    // clap drops the final period of one-line doc comments.
                    help.push_str(&format!(". One of: {}.", values.join(", ")));
                }
                commands.text([roman(help)]);
            }
            commands.control("RE", []);
        }
        commands.to_writer(page)?;
        man.render_version_section(page)?;
        page.extend_from_slice(MAN_EXTRA.as_bytes());
        Ok(())
    };
    render(&mut page).expect("rendering into memory cannot fail");
    page
}

/// `-c FILE`, `--account NAME` or `SHELL`; in brackets when optional and `brackets`.
fn arg_usage(arg: &clap::Arg, brackets: bool) -> Vec<roff::Inline> {
    use roff::{bold, italic, roman};
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    let mut parts = Vec::new();
    if arg.is_positional() {
        parts.push(italic(value));
        return parts;
    }
    let optional = brackets && !arg.is_required_set();
    if optional {
        parts.push(roman("["));
    }
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => parts.push(bold(if brackets {
            format!("-{s}")
        } else {
            format!("-{s}, --{l}")
        })),
        (Some(s), None) => parts.push(bold(format!("-{s}"))),
        (None, Some(l)) => parts.push(bold(format!("--{l}"))),
        (None, None) => {}
    }
    if arg.get_action().takes_values() {
        parts.push(roman(" "));
        parts.push(italic(value));
    }
    if optional {
        parts.push(roman("]"));
    }
    parts
}

fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "balance-alert", &mut script);
    if shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 spells a subcommand's state two ways for a binary with a
        // hyphen in its name (clap-rs/clap#6421): the word loop arrives at
        // balance__alert__subcmd__check, the case arms say
        // balance__subcmd__alert__subcmd__check, so nothing after a subcommand would
        // complete. Use the loop's spelling (a no-op once clap_complete is fixed).
        let text = String::from_utf8(script).expect("clap_complete writes UTF-8");
        script = text
            .replace("balance__subcmd__alert", "balance__alert")
            .into_bytes();
    }
    script
}

/// Made in memory first: the generators panic on a write error, and a closed pipe
/// (`| head`) is no reason for a panic.
fn print_to_stdout(bytes: &[u8]) -> u8 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => cli::exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => cli::exit::OK,
        Err(e) => {
            eprintln!("balance-alert: cannot write to standard output: {e}");
            cli::exit::FAILURE
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StatusFormat {
    Text,
    Json,
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
        Command::Completions { shell } => Ok(print_to_stdout(&completions(shell))),
        Command::Man => Ok(print_to_stdout(&man_page())),
    };
    match outcome {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            eprintln!("balance-alert: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
