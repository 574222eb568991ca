//! Everything labctl tells the user goes through here, so that `-q`, `-v`
//! and `NO_COLOR` are decided once.
//!
//! Data a command was asked for (tables, JSON) goes to stdout; progress,
//! notes and warnings go to stderr so they never pollute piped output.

use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// How a check or step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Ok,
    Warn,
    Fail,
    /// Not relevant for the chosen setup; shown for information.
    Skip,
}

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    verbosity: Verbosity,
    color: bool,
}

impl Ui {
    pub fn new(verbosity: Verbosity) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Ui { verbosity, color: !no_color && std::io::stderr().is_terminal() && std::io::stdout().is_terminal() }
    }

    pub fn verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }

    /// A progress or result line (hidden by `-q`).
    pub fn note(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            eprintln!("{message}");
        }
    }

    /// A finished step: `✓ message`.
    pub fn done(&self, message: &str) {
        self.note(&format!("{} {message}", self.mark(Mark::Ok)));
    }

    /// Extra detail shown only with `-v`.
    pub fn detail(&self, message: &str) {
        if self.verbose() {
            eprintln!("{}", self.dim(message));
        }
    }

    pub fn warn(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            eprintln!("{} {message}", self.paint("warning:", "33"));
        }
    }

    /// An error line; always shown.
    pub fn error(&self, message: &str) {
        eprintln!("{} {message}", self.paint("error:", "31;1"));
    }

    /// Data the user asked for, on stdout.
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`labctl labs | head`) is not an error worth reporting.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    pub fn mark(&self, mark: Mark) -> String {
        match mark {
            Mark::Ok => self.paint("✓", "32"),
            Mark::Warn => self.paint("!", "33"),
            Mark::Fail => self.paint("✗", "31"),
            Mark::Skip => self.paint("·", "2"),
        }
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(text, "2")
    }

    fn paint(&self, text: &str, sgr: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}
