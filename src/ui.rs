//! Everything labctl tells the user goes through here, so that `-q`, `-v`
//! and colour are decided once.
//!
//! Data a command was asked for (tables, JSON) goes to stdout; progress,
//! notes and warnings go to stderr so they never pollute piped output.
//! Text is styled with `anstyle` and written through `anstream`, which
//! drops the colour for each stream that is not a terminal, and for
//! `NO_COLOR`, `CLICOLOR=0` or `TERM=dumb`; `CLICOLOR_FORCE=1` keeps it.
//! The only module that may touch the terminal (clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};
use unicode_width::UnicodeWidthStr;

mod run_log;

use run_log::RunLog;
pub use run_log::{timestamp, LOG_DIR};

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

#[derive(Debug, Clone)]
pub struct Ui {
    verbosity: Verbosity,
    /// stderr is a terminal: progress may animate.
    interactive: bool,
    /// Starts every line (`s03 │ `) when several seats print at once.
    prefix: Option<Arc<str>>,
    /// The notes said once this run, shared by every prefixed copy.
    said_once: Arc<Mutex<HashSet<String>>>,
    /// This run's log file, once opened; shared by every copy.
    log: Arc<RunLog>,
    /// The spinner of the step running now (a terminal), for its sub-steps.
    spinner: Arc<Mutex<Option<(ProgressBar, String)>>>,
}

impl Ui {
    pub fn new(verbosity: Verbosity) -> Self {
        Ui {
            verbosity,
            interactive: std::io::stderr().is_terminal(),
            prefix: None,
            said_once: Arc::default(),
            log: Arc::default(),
            spinner: Arc::default(),
        }
    }

    /// A sub-step of the step running now (`booting node2 (2/4)`): on a
    /// terminal it replaces the spinner's text, whose clock keeps the
    /// step's elapsed time; piped, it is a line of its own (`  · …`).
    pub fn substep(&self, message: &str) {
        if !self.update_spinner(message) && self.verbosity >= Verbosity::Normal {
            self.say(&format!("  {} {message}", self.dim("·")));
        } else {
            self.trace(&format!("  · {message}"));
        }
    }

    /// Finer progress than a sub-step (a VM's boot messages): the spinner's
    /// text on a terminal, the run log always, never a line of its own.
    pub fn progress(&self, message: &str) {
        self.update_spinner(message);
        self.trace(&format!("    {message}"));
    }

    /// Show `message` after the running step's label; false without a spinner.
    fn update_spinner(&self, message: &str) -> bool {
        let current = self.spinner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match current.as_ref() {
            Some((spinner, label)) => {
                spinner.set_message(format!("{label}: {message}"));
                true
            }
            None => false,
        }
    }

    /// Keep this run's trace in `<workspace>/.labctl/logs/<command>-<time>.log`
    /// (every copy of this `Ui` writes to it); returns its path.
    pub fn open_run_log(
        &self,
        workspace: &std::path::Path,
        command: &str,
        header: &[String],
    ) -> anyhow::Result<std::path::PathBuf> {
        self.log.open(workspace, command, header)
    }

    /// A line for the run log only, never the terminal (what a command
    /// printed when it failed).
    pub fn trace(&self, message: &str) {
        self.log.write(&self.lines(message));
    }

    /// This UI for one of several jobs that print at once (the seats of a
    /// class): every line starts with `label │ `, and nothing animates, so
    /// that their lines interleave whole and stay readable.
    pub fn prefixed(&self, label: &str) -> Ui {
        Ui { prefix: Some(format!("{label} │ ").into()), interactive: false, spinner: Arc::default(), ..self.clone() }
    }

    /// `text` with the prefix at the start of each of its lines.
    fn lines(&self, text: &str) -> String {
        match &self.prefix {
            None => text.to_string(),
            Some(prefix) => text.split_inclusive('\n').map(|line| format!("{prefix}{line}")).collect(),
        }
    }

    /// One message on stderr, each of its lines prefixed.
    fn say(&self, message: &str) {
        let lines = self.lines(message);
        anstream::eprintln!("{lines}");
        self.log.write(&lines);
    }

    /// Run one step of a longer job: a spinner while it runs (on a
    /// terminal), then `✓ <what it returned> 2.1s`, or `✗ <label>` when it fails.
    pub fn step<T>(&self, label: &str, work: impl FnOnce() -> anyhow::Result<(T, String)>) -> anyhow::Result<T> {
        let started = Instant::now();
        if let Some(spinner) = self.spinner(label) {
            *self.spinner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((spinner, label.to_string()));
        }
        let result = work();
        if let Some((spinner, _)) = self.spinner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            spinner.finish_and_clear();
        }
        let elapsed = self.dim(&format_elapsed(started.elapsed()));
        match result {
            Ok((value, summary)) => {
                self.note(&format!("{} {summary} {elapsed}", self.mark(Mark::Ok)));
                Ok(value)
            }
            Err(error) => {
                let line = format!("{} {label} {elapsed}", self.mark(Mark::Fail));
                if self.verbosity >= Verbosity::Normal {
                    self.say(&line);
                } else {
                    self.trace(&line);
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
            self.say(message);
        } else {
            self.trace(message);
        }
    }

    /// A note that is the same for every seat of a class (which provider,
    /// what the host refuses): said by the first seat only.
    pub fn note_once(&self, message: &str) {
        if self.first_time(message) {
            self.note(message);
        }
    }

    /// A warning said once per run, however many seats it concerns.
    pub fn warn_once(&self, message: &str) {
        if self.first_time(message) {
            self.warn(message);
        }
    }

    /// Every note said once so far (for tests of what a run told the user).
    #[cfg(test)]
    pub fn notes_given(&self) -> Vec<String> {
        self.said_once.lock().unwrap().iter().cloned().collect()
    }

    fn first_time(&self, message: &str) -> bool {
        self.said_once.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(message.to_string())
    }

    /// A finished step: `✓ message`.
    pub fn done(&self, message: &str) {
        self.note(&format!("{} {message}", self.mark(Mark::Ok)));
    }

    /// Extra detail shown only with `-v`.
    pub fn detail(&self, message: &str) {
        if self.verbose() {
            self.say(&self.dim(message));
        } else {
            self.trace(message);
        }
    }

    pub fn warn(&self, message: &str) {
        let line = format!("{} {message}", paint("warning:", fg(AnsiColor::Yellow)));
        if self.verbosity >= Verbosity::Normal {
            self.say(&line);
        } else {
            self.trace(&line);
        }
    }

    /// An error line; always shown.
    pub fn error(&self, message: &str) {
        self.say(&format!("{} {message}", paint("error:", fg(AnsiColor::Red).bold())));
    }

    /// The one line that says a signal ended the run; always shown, over
    /// the spinner's line on a terminal.
    pub fn interrupted(&self, message: &str) {
        if self.interactive {
            // Not colour but a terminal control (clear the line), so it
            // bypasses anstream, which would strip it under NO_COLOR.
            let _ = std::io::stderr().write_all(b"\r\x1b[2K");
        }
        self.error(message);
    }

    /// Ask `question` on stderr and read the answer's line from stdin;
    /// `None` when stdin is no terminal (nobody to ask).
    pub fn ask(&self, question: &str) -> std::io::Result<Option<String>> {
        if !std::io::stdin().is_terminal() {
            return Ok(None);
        }
        let mut err = anstream::stderr().lock();
        let _ = write!(err, "{question} ");
        let _ = err.flush();
        let mut answer = String::new();
        std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut answer)?;
        Ok(Some(answer.trim().to_string()))
    }

    /// Whether stdin and stdout are both terminals (a command on a node then
    /// gets a terminal of its own).
    pub fn both_ends_are_terminals(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
    }

    /// Data the user asked for, on stdout.
    pub fn print(&self, text: &str) {
        let mut out = anstream::stdout().lock();
        // A closed pipe (`labctl labs | head`) is not an error worth reporting.
        let _ = out.write_all(self.lines(text).as_bytes());
        let _ = out.flush();
    }

    /// A command's own error output the user asked for (`exec` over
    /// several seats), on stderr; shown even with `-q`, as it is data.
    pub fn print_err(&self, text: &str) {
        let mut err = anstream::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    pub fn mark(&self, mark: Mark) -> String {
        match mark {
            Mark::Ok => paint("✓", fg(AnsiColor::Green)),
            Mark::Warn => paint("!", fg(AnsiColor::Yellow)),
            Mark::Fail => paint("✗", fg(AnsiColor::Red)),
            Mark::Skip => self.dim("·"),
        }
    }

    /// Styled text, for output that goes through this `Ui` (which removes
    /// the style where colour is not wanted).
    pub fn dim(&self, text: &str) -> String {
        paint(text, Style::new().dimmed())
    }
}

fn fg(color: AnsiColor) -> Style {
    Style::new().fg_color(Some(color.into()))
}

fn paint(text: &str, style: Style) -> String {
    format!("{style}{text}{style:#}")
}

/// Rows as plain columns (the first row is the header): each cell padded to
/// its column's widest by display width, so that Korean text (two terminal
/// columns a syllable) lines up too; two spaces between columns, left
/// aligned, no trailing spaces. One line a row.
pub fn columns<Row: AsRef<[String]>>(rows: &[Row]) -> Vec<String> {
    let count = rows.iter().map(|row| row.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|column| {
            rows.iter().filter_map(|row| row.as_ref().get(column)).map(|cell| cell.width()).max().unwrap_or(0)
        })
        .collect();
    let line = |row: &Row| {
        let cells = row.as_ref().iter().zip(&widths);
        let padded: String =
            cells.map(|(cell, width)| format!("{cell}{}  ", " ".repeat(width - cell.width()))).collect();
        padded.trim_end().to_string()
    };
    rows.iter().map(line).collect()
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
    fn a_prefixed_ui_starts_every_line_with_its_label_and_never_animates() {
        let terminal = Ui { interactive: true, ..Ui::new(Verbosity::Normal) };
        assert_eq!(terminal.lines("plan:\n  remove\n"), "plan:\n  remove\n");
        let seat = terminal.prefixed("s03");
        assert_eq!(seat.lines("✓ nodes running 12s"), "s03 │ ✓ nodes running 12s");
        assert_eq!(seat.lines("plan:\n  remove\n"), "s03 │ plan:\ns03 │   remove\n");
        // Spinners of seats running at once would fight over the terminal's last line.
        assert!(seat.spinner("starting nodes").is_none());
        assert_eq!(seat.verbosity, Verbosity::Normal);
    }

    #[test]
    fn a_note_for_every_seat_is_said_once() {
        let ui = Ui::new(Verbosity::Quiet);
        let (seat1, seat2) = (ui.prefixed("s01"), ui.prefixed("s02"));
        assert!(seat1.first_time("provider docker (set in labctl.toml)"));
        assert!(!seat2.first_time("provider docker (set in labctl.toml)"));
        assert!(seat2.first_time("provider docker (set in --provider)"), "another note is said");
        assert!(!Ui::new(Verbosity::Quiet).said_once.lock().unwrap().contains("provider docker (set in labctl.toml)"));
    }

    #[test]
    fn counts_are_pluralised() {
        assert_eq!(count(1, "file"), "1 file");
        assert_eq!(count(3, "worker"), "3 workers");
    }

    #[test]
    fn columns_line_up_by_display_width() {
        let rows =
            [["LAB", "SEEDED TO", "TITLE"], ["lab9", "/root/work/실습", "추가 실습"], ["lab1", "/root/work/a", ""]];
        let rows: Vec<Vec<String>> = rows.iter().map(|row| row.map(String::from).to_vec()).collect();
        assert_eq!(
            columns(&rows),
            [
                "LAB   SEEDED TO        TITLE",
                "lab9  /root/work/실습  추가 실습",
                "lab1  /root/work/a", // no trailing spaces
            ]
        );
    }

    #[test]
    fn elapsed_times_read_naturally() {
        assert_eq!(format_elapsed(Duration::from_millis(2140)), "2.1s");
        assert_eq!(format_elapsed(Duration::from_secs(12)), "12s");
        assert_eq!(format_elapsed(Duration::from_secs(125)), "2m05s");
    }
}
