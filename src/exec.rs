//! The one place where labctl starts other programs.
//!
//! Callers describe a command as a [`CommandSpec`] and hand it to a
//! [`Runner`]: the real one (duct), or in tests a recording fake that
//! returns canned answers. Nothing else in the crate spawns processes
//! (clippy's `disallowed-methods` enforces it).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::ui::Ui;

/// A program to run, described as data so it can be printed, recorded and asserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    /// Give up (and kill the program) after this long.
    pub timeout: Option<Duration>,
    /// What the command is for, in words, for errors: "read the Docker server version".
    pub purpose: String,
}

impl CommandSpec {
    pub fn new(program: &str, args: &[&str], purpose: &str) -> Self {
        CommandSpec {
            program: program.to_string(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: Vec::new(),
            dir: None,
            stdin: None,
            timeout: None,
            purpose: purpose.to_string(),
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl fmt::Display for CommandSpec {
    /// The command as a user could paste it into a POSIX shell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = std::iter::once(&self.program).chain(&self.args);
        let quoted: Vec<String> = words.map(|word| shell_quote(word)).collect();
        write!(f, "{}", quoted.join(" "))
    }
}

/// Quote one word for a POSIX shell: unchanged when it has only characters
/// no shell treats specially, else single-quoted (`'` written as `'\''`).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a finished program left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty lines of stderr (or stdout when stderr is empty),
    /// for error messages.
    pub fn tail(&self, lines: usize) -> String {
        let text = if self.stderr.trim().is_empty() { &self.stdout } else { &self.stderr };
        let kept: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
        kept[kept.len().saturating_sub(lines)..].join(" | ")
    }
}

pub trait Runner {
    /// Run the command to completion. `Err` only when it could not be
    /// started or ran past its timeout; a non-zero exit is an `Output`.
    fn run(&self, spec: &CommandSpec) -> Result<Output>;
}

/// Runs programs for real, through duct.
pub struct RealRunner {
    ui: Ui,
}

impl RealRunner {
    pub fn new(ui: Ui) -> Self {
        RealRunner { ui }
    }
}

impl Runner for RealRunner {
    fn run(&self, spec: &CommandSpec) -> Result<Output> {
        self.ui.detail(&format!("$ {spec}"));
        let mut expression = duct::cmd(&spec.program, &spec.args).stdout_capture().stderr_capture().unchecked();
        for (key, value) in &spec.env {
            expression = expression.env(key, value);
        }
        if let Some(dir) = &spec.dir {
            expression = expression.dir(dir);
        }
        expression = match &spec.stdin {
            Some(bytes) => expression.stdin_bytes(bytes.clone()),
            None => expression.stdin_null(),
        };
        let handle =
            expression.start().with_context(|| format!("could not start `{}` to {}", spec.program, spec.purpose))?;
        let output = match spec.timeout {
            None => handle.wait()?.clone(),
            Some(timeout) => wait_with_deadline(&handle, timeout, spec)?,
        };
        Ok(Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

fn wait_with_deadline(handle: &duct::Handle, timeout: Duration, spec: &CommandSpec) -> Result<std::process::Output> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(output) = handle.try_wait()? {
            return Ok(output.clone());
        }
        if Instant::now() >= deadline {
            handle.kill().ok();
            return Err(anyhow!("`{spec}` did not finish within {}s (trying to {})", timeout.as_secs(), spec.purpose));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Look a program up on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    which::which(name).ok()
}

/// Environment value as UTF-8, treating an empty value as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(OsString::into_string).and_then(Result::ok).filter(|value| !value.is_empty())
}

#[cfg(test)]
pub mod fake {
    //! A runner for unit tests: records every command and answers from a script.

    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;

    /// Answers are matched by the command line as displayed (`program args…`),
    /// by prefix, in the order they were queued; a command with no answer
    /// succeeds with empty output.
    #[derive(Default)]
    pub struct RecordingRunner {
        answers: RefCell<VecDeque<(String, Result<Output, String>)>>,
        pub calls: RefCell<Vec<CommandSpec>>,
    }

    impl RecordingRunner {
        pub fn answer(&self, command_prefix: &str, code: i32, stdout: &str, stderr: &str) {
            let output = Output { code: Some(code), stdout: stdout.into(), stderr: stderr.into() };
            self.answers.borrow_mut().push_back((command_prefix.to_string(), Ok(output)));
        }

        pub fn fail_to_start(&self, command_prefix: &str, reason: &str) {
            self.answers.borrow_mut().push_back((command_prefix.to_string(), Err(reason.to_string())));
        }

        pub fn command_lines(&self) -> Vec<String> {
            self.calls.borrow().iter().map(ToString::to_string).collect()
        }
    }

    impl Runner for RecordingRunner {
        fn run(&self, spec: &CommandSpec) -> Result<Output> {
            self.calls.borrow_mut().push(spec.clone());
            let line = spec.to_string();
            let mut answers = self.answers.borrow_mut();
            let position = answers.iter().position(|(prefix, _)| line.starts_with(prefix.as_str()));
            match position.and_then(|index| answers.remove(index)) {
                Some((_, Ok(output))) => Ok(output),
                Some((_, Err(reason))) => Err(anyhow!(reason)),
                None => Ok(Output { code: Some(0), ..Output::default() }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_every_word_that_needs_it() {
        let spec = CommandSpec::new("sh", &["-c", "echo 'hi' $HOME", "plain/path:1", ""], "test");
        assert_eq!(spec.to_string(), r#"sh -c 'echo '\''hi'\'' $HOME' plain/path:1 ''"#);
    }

    #[test]
    fn tail_prefers_stderr_and_keeps_last_lines() {
        let output = Output { code: Some(1), stdout: "out".into(), stderr: "a\n\nb\nc\n".into() };
        assert_eq!(output.tail(2), "b | c");
        let quiet = Output { code: Some(1), stdout: "x\ny\n".into(), stderr: " \n".into() };
        assert_eq!(quiet.tail(5), "x | y");
    }

    #[test]
    fn real_runner_reports_exit_code_output_and_timeout() {
        let runner = RealRunner::new(Ui::new(crate::ui::Verbosity::Quiet));
        let output = runner.run(&CommandSpec::new("sh", &["-c", "echo out; echo err >&2; exit 3"], "test")).unwrap();
        assert_eq!(output.code, Some(3));
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");

        let slow = CommandSpec::new("sleep", &["5"], "wait").timeout(Duration::from_millis(200));
        let started = Instant::now();
        let error = runner.run(&slow).unwrap_err().to_string();
        assert!(error.contains("did not finish within"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let runner = RealRunner::new(Ui::new(crate::ui::Verbosity::Quiet));
        let error = runner.run(&CommandSpec::new("labctl-no-such-program", &[], "probe")).unwrap_err();
        assert!(format!("{error:#}").contains("labctl-no-such-program"));
    }
}
