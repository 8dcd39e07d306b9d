//! The `shardgate` binary: command line, logging set-up and start-up.
//!
//! `shardgate [--config PATH] [--check]`. A plain run loads and validates
//! the config, initialises logging and runs the proxy (`server::serve`)
//! until SIGTERM/SIGINT.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use log::info;

/// mimalloc instead of glibc malloc: statement planning and result merging
/// allocate small short-lived buffers per statement and per row; measured
/// in `src/ARCHITECTURE.md` ("Memory allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use shardgate::config::{self, ConfigError, Topology};

const VERSION: &str = env!("CARGO_PKG_VERSION");

const USAGE: &str = "\
Usage: shardgate [OPTIONS]

A MySQL sharding proxy.

Options:
  -c, --config PATH   config file (default: conf/shardgate.toml)
      --check         validate the config, print a summary and exit (0 valid, 1 invalid)
      --reset-metadata
                      start the metadata file (server.metadata_file) afresh when it cannot be
                      read (corrupt, foreign, newer format) or holds old state: operator node
                      states, bucket maps, ID high-water marks and in-doubt transaction records
                      are forgotten (the log says exactly what was discarded)
  -V, --version       print the version and exit
  -h, --help          print this help and exit

Environment:
  RUST_LOG            log filter; overrides server.log_level";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run {
        config: PathBuf,
        reset_metadata: bool,
    },
    Check {
        config: PathBuf,
    },
    Version,
    Help,
}

#[derive(Debug)]
enum CliError {
    /// Bad command line: print usage, exit 2.
    Usage(String),
    /// The config was refused: exit 1.
    Config { path: PathBuf, err: ConfigError },
    /// The proxy could not start (e.g. the listen address is taken): exit 1.
    Io(std::io::Error),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) => write!(f, "{msg}"),
            CliError::Config { path, err } => write!(f, "config {}: {err}", path.display()),
            CliError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn main() -> ExitCode {
    match parse_args(std::env::args_os().skip(1)).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            eprintln!("shardgate: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("shardgate: {err}");
            ExitCode::from(1)
        }
    }
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let mut config: Option<PathBuf> = None;
    let mut check = false;
    let mut reset_metadata = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        match text.as_ref() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--check" => check = true,
            "--reset-metadata" => reset_metadata = true,
            "-c" | "--config" => {
                let value = args
                    .next()
                    .ok_or_else(|| CliError::Usage(format!("{text} needs a path")))?;
                set_config(&mut config, PathBuf::from(value))?;
            }
            s if s.starts_with("--config=") => {
                let value = s.trim_start_matches("--config=");
                if value.is_empty() {
                    return Err(CliError::Usage("--config= needs a path".into()));
                }
                set_config(&mut config, PathBuf::from(value))?;
            }
            other => return Err(CliError::Usage(format!("unknown argument {other:?}"))),
        }
    }
    let config = config.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    Ok(if check {
        Command::Check { config }
    } else {
        Command::Run {
            config,
            reset_metadata,
        }
    })
}

fn set_config(slot: &mut Option<PathBuf>, path: PathBuf) -> Result<(), CliError> {
    if slot.replace(path).is_some() {
        return Err(CliError::Usage("--config given twice".into()));
    }
    Ok(())
}

fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Help => println!("{USAGE}"),
        Command::Version => println!("shardgate {VERSION}"),
        Command::Check { config } => {
            let topo = load(&config)?;
            println!("config OK: {}", topo.summary());
            for w in topo.warnings() {
                println!("warning: {w}");
            }
        }
        Command::Run {
            config,
            reset_metadata,
        } => {
            let topo = load(&config)?;
            init_logging(&topo);
            info!(
                "shardgate {VERSION} config loaded from {}: {}",
                config.display(),
                topo.summary()
            );
            for w in topo.warnings() {
                log::warn!("config: {w}");
            }
            shardgate::server::serve(topo, config, reset_metadata).map_err(CliError::Io)?;
        }
    }
    Ok(())
}

fn load(path: &std::path::Path) -> Result<Topology, CliError> {
    config::load(path).map_err(|err| CliError::Config {
        path: path.to_path_buf(),
        err,
    })
}

/// Logging at `server.log_level`; `RUST_LOG`, when set, overrides it.
fn init_logging(topo: &Topology) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(topo.server.log_level);
    builder.parse_default_env();
    builder.init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Command, CliError> {
        parse_args(list.iter().map(OsString::from))
    }

    #[test]
    fn defaults_to_run_with_default_config() {
        assert_eq!(
            args(&[]).unwrap(),
            Command::Run {
                config: PathBuf::from("conf/shardgate.toml"),
                reset_metadata: false,
            }
        );
        assert_eq!(
            args(&["--reset-metadata"]).unwrap(),
            Command::Run {
                config: PathBuf::from("conf/shardgate.toml"),
                reset_metadata: true,
            }
        );
    }

    #[test]
    fn check_and_config_in_any_form() {
        let want = Command::Check {
            config: PathBuf::from("x.toml"),
        };
        assert_eq!(args(&["--check", "--config", "x.toml"]).unwrap(), want);
        assert_eq!(args(&["--config=x.toml", "--check"]).unwrap(), want);
        assert_eq!(args(&["-c", "x.toml", "--check"]).unwrap(), want);
    }

    #[test]
    fn version_and_help() {
        assert_eq!(args(&["--version"]).unwrap(), Command::Version);
        assert_eq!(args(&["-V"]).unwrap(), Command::Version);
        assert_eq!(args(&["--help"]).unwrap(), Command::Help);
        assert_eq!(args(&["--check", "-h"]).unwrap(), Command::Help);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for bad in [
            &["--config"][..],
            &["--bogus"],
            &["--config="],
            &["-c", "a", "-c", "b"],
        ] {
            assert!(matches!(args(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}
