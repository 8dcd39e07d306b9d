//! `ConfigError`: why a config file was refused. One value for the three ways
//! it can fail — unreadable file, bad TOML (including unknown keys and wrong
//! value types, with line and column), and a well-formed file whose values do
//! not make a valid topology (with the key and the problem).
//!
//! Its `Display` is what `--check`, the start-up log and a refused SIGHUP
//! reload print, so every message names where to look.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Io { path: PathBuf, source: io::Error },
    /// The text is not valid TOML or does not have the expected shape
    /// (unknown key, wrong type, missing required key). `line` and `column`
    /// are 1-based; 0 when the parser did not say where.
    Toml {
        line: usize,
        column: usize,
        message: String,
    },
    /// The values do not make a valid topology. `key` says where
    /// (`group "g1": replicas[0].weight`), `problem` says what is wrong.
    Invalid { key: String, problem: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// Builds a `Toml` error, turning the byte span toml reports into a line
    /// and column of `text`.
    pub(crate) fn from_toml(err: &toml::de::Error, text: &str) -> Self {
        let (line, column) = match err.span() {
            Some(span) => line_col(text, span.start),
            None => (0, 0),
        };
        ConfigError::Toml {
            line,
            column,
            message: err.message().trim_end().to_string(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ConfigError::Toml {
                line: 0, message, ..
            } => write!(f, "TOML error: {message}"),
            ConfigError::Toml {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: {message}"),
            ConfigError::Invalid { key, problem } => write!(f, "{key}: {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
        assert_eq!(line_col("é = 1", 2), (1, 2));
        assert_eq!(line_col("é = 1", 1), (1, 1));
    }

    #[test]
    fn display_names_key_and_problem() {
        let e = ConfigError::invalid("group \"g1\": replicas[0].weight", "must be > 0");
        assert_eq!(
            e.to_string(),
            "group \"g1\": replicas[0].weight: must be > 0"
        );
        let e = ConfigError::Toml {
            line: 3,
            column: 1,
            message: "unknown field `listn`".into(),
        };
        assert_eq!(e.to_string(), "line 3, column 1: unknown field `listn`");
    }
}
