//! Everything labctl tells the user goes through here, so that `-q`, `-v`
//! and `NO_COLOR` are decided once.
//!
//! Data a command was asked for (tables, JSON) goes to stdout; progress,
//! notes and warnings go to stderr so they never pollute piped output.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

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
    /// stderr is a terminal: progress may animate.
    interactive: bool,
}

impl Ui {
    pub fn new(verbosity: Verbosity) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let interactive = std::io::stderr().is_terminal();
        Ui { verbosity, color: !no_color && interactive && std::io::stdout().is_terminal(), interactive }
    }

    /// Run one step of a longer job: a spinner while it runs (on a
    /// terminal), then `✓ <what it returned> 2.1s`, or `✗ <label>` when it fails.
    pub fn step<T>(&self, label: &str, work: impl FnOnce() -> anyhow::Result<(T, String)>) -> anyhow::Result<T> {
        let started = Instant::now();
        let spinner = self.spinner(label);
        let result = work();
        if let Some(spinner) = spinner {
            spinner.finish_and_clear();
        }
        let elapsed = self.dim(&format_elapsed(started.elapsed()));
        match result {
            Ok((value, summary)) => {
                self.note(&format!("{} {summary} {elapsed}", self.mark(Mark::Ok)));
                Ok(value)
            }
            Err(error) => {
                if self.verbosity >= Verbosity::Normal {
                    eprintln!("{} {label} {elapsed}", self.mark(Mark::Fail));
                }
                Err(error)
            }
        }
    }

    fn spinner(&self, label: &str) -> Option<ProgressBar> {
        // With -v the command trace is the progress; with -q nothing is.
        if !self.interactive || self.verbosity != Verbosity::Normal {
            return None;
        }
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
        spinner.set_message(label.to_string());
        spinner.enable_steady_tick(Duration::from_millis(100));
        Some(spinner)
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

    /// The one line that says a signal ended the run; always shown, over
    /// the spinner's line on a terminal.
    pub fn interrupted(&self, message: &str) {
        let clear = if self.interactive { "\r\x1b[2K" } else { "" };
        eprintln!("{clear}{} {message}", self.paint("error:", "31;1"));
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

/// `1 file`, `3 files`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `0.4s`, `12s`, `2m05s`.
pub fn format_elapsed(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else if seconds < 60.0 {
        format!("{}s", seconds as u64)
    } else {
        format!("{}m{:02}s", seconds as u64 / 60, seconds as u64 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_pluralised() {
        assert_eq!(count(1, "file"), "1 file");
        assert_eq!(count(3, "worker"), "3 workers");
    }

    #[test]
    fn elapsed_times_read_naturally() {
        assert_eq!(format_elapsed(Duration::from_millis(2140)), "2.1s");
        assert_eq!(format_elapsed(Duration::from_secs(12)), "12s");
        assert_eq!(format_elapsed(Duration::from_secs(125)), "2m05s");
    }
}
