//! One module per command.

mod account;
mod bench;
#[cfg(feature = "iroh-baseline")]
mod bench_iroh;
mod bench_market;
mod bench_p2p;
mod bench_vault;
mod dev;
mod fans;
mod market;
mod network;
mod send;
mod status;
mod vault;
mod vault_nodes;

use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};

/// Send logs to stderr, filtered by `--log` / RUST_LOG; colored only on a terminal (not in a
/// log file such as `testnet` writes) and never with `NO_COLOR` set.
pub(crate) fn init_logging(cli: &Cli) {
    let filter = EnvFilter::try_new(&cli.log).unwrap_or_else(|e| {
        eprintln!(
            "warning: --log {:?} is not a log filter ({e}); logging at info. Example: --log info,lightstreams_api=debug",
            cli.log
        );
        EnvFilter::new("info")
    });
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Raise this process's soft limit on open files to its hard limit, as geth and most servers
/// do: a node holds a descriptor per client connection, peer and open blob, and the usual soft
/// limit (1,024) would let a few hundred idle connections stop it from opening its own files.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed, which lives on this
    // stack frame for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            let wanted = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                tracing::debug!(
                    soft = limit.rlim_cur,
                    hard = limit.rlim_max,
                    "could not raise the open-file limit"
                );
            }
        }
    }
}

/// Run the chosen command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    if matches!(
        cli.command,
        Command::Dev(_) | Command::Node(_) | Command::Testnet(_) | Command::Bench { .. }
    ) {
        raise_open_file_limit();
    }
    match cli.command {
        Command::Dev(args) => dev::run(args, json),
        Command::Init(args) => network::init(args, json),
        Command::Node(args) => network::node(args),
        Command::Testnet(args) => network::testnet(args, json),
        Command::Account { command } => account::run(command, json),
        Command::Send(args) => send::run(args, json),
        Command::Status(args) => status::run(args, json),
        Command::Vault { command } => vault::run(command, json),
        Command::Market { command } => market::run(command, json),
        Command::Fans { command } => fans::run(command, json),
        Command::Bench { command } => bench::run(command, json),
    }
}

/// Text another party wrote (a file name, a media type, a fan message), made safe to print on
/// a terminal: control characters (which could move the cursor, recolour or retitle the
/// terminal) and bidirectional overrides (which could make one name read as another) are shown
/// escaped, as `\u{1b}`.
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if deceptive(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A character that must not reach a terminal as it is: a control character or a
/// bidirectional formatting mark.
pub(crate) fn deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A unix time for humans: `2026-12-03 07:50:12 UTC` (`--json` output keeps the number).
pub(crate) fn when(unix_secs: u64) -> String {
    i64::try_from(unix_secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("unix time {unix_secs}"))
}

/// Print `value` as JSON, or `text` for humans.
pub(crate) fn print(json: bool, value: &serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_from_others_cannot_drive_the_terminal() {
        use super::shown;
        assert_eq!(shown("song.mp3"), "song.mp3");
        assert_eq!(shown("Été 🎵"), "Été 🎵");
        assert_eq!(shown("a\u{1b}]0;owned\u{7}b"), "a\\u{1b}]0;owned\\u{7}b");
        assert_eq!(shown("evil\u{202e}3pm.exe"), "evil\\u{202e}3pm.exe");
        assert_eq!(shown("two\nlines"), "two\\u{a}lines");
    }

    #[test]
    fn unix_times_read_as_utc_dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::when(1_796_283_705), "2026-12-03 07:41:45 UTC");
        assert_eq!(super::when(u64::MAX), format!("unix time {}", u64::MAX));
    }
}
