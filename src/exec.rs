//! The one place where labctl starts other programs.
//!
//! Callers describe a command as a [`CommandSpec`] and hand it to a
//! [`Runner`]: the real one (duct), a dry-run one that only runs read-only
//! probes and prints the rest, or in tests a recording fake that returns
//! canned answers. Nothing else in the crate spawns processes (clippy's
//! `disallowed-methods` enforces it). Secrets are masked wherever a command
//! or its output is shown (displays, `-v` traces, error tails); captured
//! output stays intact for the code that asked for it (a join token).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rustix::process::{kill_process, kill_process_group, Pid, Signal};

use crate::timeouts::RAISE_HINT;
use crate::ui::Ui;

pub mod batch;

/// What running a command does to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Only reads: safe to run in a dry run.
    Probe,
    /// Changes state: a dry run prints it instead.
    Change,
}

/// A program to run, described as data so it can be printed, recorded and asserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    /// Read stdin from this file (`this < file`): for input too large to
    /// hold in memory (a saved image fed to several nodes).
    pub stdin_file: Option<PathBuf>,
    /// Write stdout to this file (created or truncated) instead of capturing
    /// it: for output too large to hold in memory (a backup archive).
    pub stdout_file: Option<PathBuf>,
    /// Give up (and kill the program) after this long. Every command run
    /// through [`Runner::run`] has one; only interactive ones (the user's own
    /// terminal) have none.
    pub timeout: Option<Duration>,
    /// The program ends its own work after this long (a `timeout -s KILL` on
    /// a node, shorter than `timeout`) and then exits with 137.
    pub remote_timeout: Option<Duration>,
    /// What the command is for, in words, for errors: "read the Docker server version".
    pub purpose: String,
    pub effect: Effect,
    /// Values never to show: masked in displays and in captured output.
    pub secrets: Vec<String>,
    /// The line the far side prints after the command's own output, for a
    /// way back that can lose the output (`incus exec`, now and then, when
    /// several run at once): the runner checks that it came, takes it off,
    /// and runs a probe again when it did not (see [`take_trailer`]).
    pub trailer: Option<String>,
}

impl CommandSpec {
    /// A command that changes state (see [`CommandSpec::probe`]).
    pub fn new(program: &str, args: &[&str], purpose: &str) -> Self {
        CommandSpec {
            program: program.to_string(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: Vec::new(),
            dir: None,
            stdin: None,
            stdin_file: None,
            stdout_file: None,
            timeout: None,
            remote_timeout: None,
            purpose: purpose.to_string(),
            effect: Effect::Change,
            secrets: Vec::new(),
            trailer: None,
        }
    }

    /// Mark the command read-only, so a dry run still runs it.
    pub fn probe(mut self) -> Self {
        self.effect = Effect::Probe;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    pub fn dir(mut self, dir: PathBuf) -> Self {
        self.dir = Some(dir);
        self
    }

    pub fn stdin_file(mut self, path: PathBuf) -> Self {
        self.stdin_file = Some(path);
        self
    }

    pub fn stdout_file(mut self, path: PathBuf) -> Self {
        self.stdout_file = Some(path);
        self
    }

    /// See [`CommandSpec::trailer`].
    pub fn trailer(mut self, line: String) -> Self {
        self.trailer = Some(line);
        self
    }

    pub fn secret(mut self, value: &str) -> Self {
        self.secrets.push(value.to_string());
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Mask any swarm token (as `SWMTKN-****`) and this command's secrets in `text`.
    pub fn mask(&self, text: &str) -> String {
        let mut masked = mask_tokens(text);
        for secret in &self.secrets {
            if !secret.is_empty() {
                // Also as `Display` shows it inside single quotes.
                let quoted = secret.replace('\'', r"'\''");
                masked = masked.replace(secret.as_str(), "****").replace(&quoted, "****");
            }
        }
        masked
    }
}

impl fmt::Display for CommandSpec {
    /// The command as a user could paste it into a POSIX shell, secrets masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A script passed as one argument shows as its first line and "…",
        // then what follows its last line: in a command line for a remote
        // shell (`ssh HOST 'sudo -n -- sh -c '\''SCRIPT'\'' NAME ARG'`),
        // the script's name and arguments.
        let shorten = |word: &String| match (word.split_once('\n'), word.rsplit_once('\n')) {
            (Some((first, _)), Some((_, after))) => format!("{first}…{after}"),
            _ => word.clone(),
        };
        let words = std::iter::once(&self.program).chain(&self.args);
        let mut quoted: Vec<String> = words.map(|word| shell_quote(&shorten(word))).collect();
        if let Some(path) = &self.stdin_file {
            quoted.push(format!("< {}", shell_quote(&path.to_string_lossy())));
        }
        if let Some(path) = &self.stdout_file {
            quoted.push(format!("> {}", shell_quote(&path.to_string_lossy())));
        }
        write!(f, "{}", self.mask(&quoted.join(" ")))
    }
}

pub use crate::mask::mask_tokens;

/// Quote one word for a POSIX shell: unchanged when it has only characters
/// no shell treats specially, else single-quoted (`'` written as `'\''`).
///
/// Hand-written rather than `shlex::try_quote`, on purpose: shlex also
/// quotes `=`, `%`, `,` and every non-ASCII word, and puts a word with a
/// backslash or both `$` and `'` in double quotes (`"a\\nb"`), so the
/// commands shown by `-v`, `--dry-run` and errors would read
/// `'type=volume,src=…'` and `"it's "'$HOME'`, and a secret with a
/// backslash would no longer appear verbatim where [`CommandSpec::mask`]
/// looks for it. Single quotes keep every character literal, so this rule
/// is enough for POSIX shells (labctl makes no promise for fish).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Words joined into one shell command line, each quoted.
pub fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|word| shell_quote(word.as_ref())).collect::<Vec<_>>().join(" ")
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
    /// swarm tokens masked, for error messages.
    pub fn tail(&self, lines: usize) -> String {
        let text = if self.stderr.trim().is_empty() { &self.stdout } else { &self.stderr };
        let kept: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
        crate::mask::visible(&mask_tokens(&kept[kept.len().saturating_sub(lines)..].join(" | ")))
    }

    /// `Ok(self)` on exit 0, else an error naming the command and its last output.
    pub fn checked(self, spec: &CommandSpec) -> Result<Output> {
        if self.success() {
            return Ok(self);
        }
        let status = match self.code {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        };
        Err(anyhow!("could not {} (`{spec}` failed with {status}): {}", spec.purpose, spec.mask(&self.tail(3))))
    }
}

pub trait Runner: Send + Sync {
    /// Run the command to completion. `Err` only when it could not be
    /// started or ran past its timeout; a non-zero exit is an `Output`.
    fn run(&self, spec: &CommandSpec) -> Result<Output>;

    /// Run with the terminal attached (ssh, exec); returns the exit code.
    fn run_interactive(&self, spec: &CommandSpec) -> Result<i32>;

    /// Run and fail unless it exits 0.
    fn run_checked(&self, spec: &CommandSpec) -> Result<Output> {
        self.run(spec)?.checked(spec)
    }
}

/// The programs labctl is running right now, so that Ctrl-C (or SIGTERM)
/// can end them. Once interrupted, nothing new starts: a thread that was
/// about to start a program gets an error instead, so no child is left
/// behind by a start that raced with the signal.
#[derive(Default)]
pub struct Children {
    state: Mutex<ChildState>,
}

#[derive(Default)]
struct ChildState {
    interrupted: bool,
    next_id: u64,
    running: Vec<RunningChild>,
    /// What the last program started was for, to say what was interrupted.
    last_purpose: Option<String>,
}

struct RunningChild {
    id: u64,
    pids: Vec<u32>,
    /// Captured programs run in their own process group (so that their own
    /// children, e.g. a `sleep` in a script, end with them); interactive
    /// ones stay in the terminal's group.
    interactive: bool,
}

/// Removes a child from [`Children`] when its run ends.
struct Registration<'a> {
    children: &'a Children,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut state = self.children.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.running.retain(|child| child.id != self.id);
    }
}

impl Children {
    /// Start `expression` unless labctl was interrupted, and remember it.
    fn start(
        &self,
        expression: duct::Expression,
        spec: &CommandSpec,
        interactive: bool,
    ) -> Result<(duct::Handle, Registration<'_>)> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.interrupted {
            bail!("interrupted: not starting `{spec}`");
        }
        let handle =
            expression.start().with_context(|| format!("could not start `{}` to {}", spec.program, spec.purpose))?;
        state.next_id += 1;
        let id = state.next_id;
        state.running.push(RunningChild { id, pids: handle.pids(), interactive });
        state.last_purpose = Some(spec.purpose.clone());
        Ok((handle, Registration { children: self, id }))
    }

    /// Whether a program holds the user's terminal (`labctl ssh`, `exec`).
    pub fn interactive_running(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.running.iter().any(|child| child.interactive)
    }

    /// Start nothing more and end every running program (with its process
    /// group). Returns what the last program started was for.
    pub fn interrupt(&self) -> Option<String> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.interrupted = true;
        for child in &state.running {
            for pid in &child.pids {
                end_process(*pid, child.interactive);
            }
        }
        state.last_purpose.clone()
    }
}

/// SIGKILL a captured program's whole process group; SIGTERM an interactive
/// one, so that it can give the terminal back in a sane state.
fn end_process(pid: u32, interactive: bool) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else { return };
    // A process that is already gone is what we want anyway.
    let _ = if interactive { kill_process(pid, Signal::TERM) } else { kill_process_group(pid, Signal::KILL) };
}

/// Runs programs for real, through duct.
pub struct RealRunner {
    ui: Ui,
    children: Arc<Children>,
}

impl RealRunner {
    pub fn new(ui: Ui, children: Arc<Children>) -> Self {
        RealRunner { ui, children }
    }
}

// The one place a program is built (clippy.toml bans duct::cmd elsewhere).
#[allow(clippy::disallowed_methods)]
fn expression(spec: &CommandSpec) -> duct::Expression {
    let mut expression = duct::cmd(&spec.program, &spec.args);
    for (key, value) in &spec.env {
        expression = expression.env(key, value);
    }
    if let Some(dir) = &spec.dir {
        expression = expression.dir(dir);
    }
    expression
}

/// How often a probe whose output came back cut short is run again.
const CUT_SHORT_RETRIES: usize = 2;

/// Whether `output` ends with `trailer`'s line (printed after the command's
/// own output, `\n` TRAILER `\n`); if so, it is taken off, leaving the
/// command's own output as it was.
pub fn take_trailer(output: &mut Output, trailer: &str) -> bool {
    let line = format!("\n{trailer}\n");
    match output.stdout.strip_suffix(&line) {
        Some(own) => {
            output.stdout.truncate(own.len());
            true
        }
        None => false,
    }
}

impl Runner for RealRunner {
    fn run(&self, spec: &CommandSpec) -> Result<Output> {
        let mut output = self.run_once(spec)?;
        let Some(trailer) = &spec.trailer else { return Ok(output) };
        let mut runs = 1;
        while !take_trailer(&mut output, trailer) {
            if spec.effect != Effect::Probe {
                // A change is not run twice: its output is what came.
                self.ui.trace("  its output came back cut short");
                return Ok(output);
            }
            if runs > CUT_SHORT_RETRIES {
                bail!(
                    "could not {}: `{spec}` ran {runs} times, and each time its output came back cut short",
                    spec.purpose
                );
            }
            self.ui.trace("  its output came back cut short; running it again");
            output = self.run_once(spec)?;
            runs += 1;
        }
        Ok(output)
    }

    /// Not bounded: the user's own shell or command may rightly run for
    /// hours, and the user is there to end it with Ctrl-C.
    fn run_interactive(&self, spec: &CommandSpec) -> Result<i32> {
        self.ui.detail(&format!("$ {spec}"));
        let (handle, _registration) = self.children.start(expression(spec).unchecked(), spec, true)?;
        let output = handle.wait().with_context(|| format!("could not wait for `{}`", spec.program))?;
        // A signal (Ctrl-C in the remote shell) maps to the shell convention 128+n.
        Ok(output.status.code().unwrap_or(130))
    }
}

impl RealRunner {
    /// One run of `spec`, within its time limit.
    fn run_once(&self, spec: &CommandSpec) -> Result<Output> {
        let Some(timeout) = spec.timeout else {
            bail!("internal error: `{spec}` (to {}) has no time limit", spec.purpose);
        };
        self.ui.detail(&format!("$ {spec}"));
        let command = match (&spec.stdin, &spec.stdin_file) {
            (Some(bytes), _) => expression(spec).stdin_bytes(bytes.clone()),
            (None, Some(path)) => expression(spec).stdin_path(path),
            (None, None) => expression(spec).stdin_null(),
        };
        // Each program gets its own process group, so a timeout or Ctrl-C
        // ends its children too.
        let command = match &spec.stdout_file {
            Some(path) => command.stdout_path(path),
            None => command.stdout_capture(),
        };
        let command = command.stderr_capture().unchecked().before_spawn(|command| {
            std::os::unix::process::CommandExt::process_group(command, 0);
            Ok(())
        });
        let started = Instant::now();
        let (handle, _registration) = self.children.start(command, spec, false)?;
        let output = wait_with_deadline(&handle, timeout, spec)?;
        if let Some(remote) = spec.remote_timeout {
            // The far side's own `timeout` fired: SIGKILL, exit 128+9.
            if output.status.code() == Some(137) && started.elapsed() >= remote {
                return Err(timed_out(spec, timeout));
            }
        }
        let output = Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        // The run log gets every command's outcome; a failure with its last lines.
        let took = humantime::format_duration(Duration::from_millis(started.elapsed().as_millis() as u64));
        match output.code {
            Some(0) => self.ui.trace(&format!("  exit 0 after {took}")),
            code => self.ui.trace(&format!(
                "  exit {} after {took}: {}",
                code.map_or("by a signal".to_string(), |code| code.to_string()),
                spec.mask(&output.tail(5))
            )),
        }
        Ok(output)
    }
}

/// Wait for the program and its captured output until `timeout`, then end
/// its whole process group: a child it left behind holding the output pipe
/// must not keep labctl waiting past the limit.
fn wait_with_deadline(handle: &duct::Handle, timeout: Duration, spec: &CommandSpec) -> Result<std::process::Output> {
    if let Some(output) = handle.wait_timeout(timeout)? {
        return Ok(output.clone());
    }
    for pid in handle.pids() {
        end_process(pid, false);
    }
    // Also through duct, in case a pid could not be signalled above; duct
    // reaps them when the handle drops (their output is not waited for).
    handle.kill().ok();
    Err(timed_out(spec, timeout))
}

/// A command that ran past its time limit and was ended: a value, so that
/// a caller can say "no reply within 30s" in its own words.
#[derive(Debug)]
pub struct TimedOut {
    pub purpose: String,
    pub limit: Duration,
    /// The command as displayed (secrets masked).
    pub command: String,
}

impl fmt::Display for TimedOut {
    /// "could not read the swarm state on node2: no answer within 30s (`…`); on a slow host …"
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = crate::ui::format_elapsed(self.limit);
        write!(formatter, "could not {}: no answer within {limit} (`{}`); {RAISE_HINT}", self.purpose, self.command)
    }
}

impl std::error::Error for TimedOut {}

fn timed_out(spec: &CommandSpec, timeout: Duration) -> anyhow::Error {
    TimedOut { purpose: spec.purpose.clone(), limit: timeout, command: spec.to_string() }.into()
}

/// The runner of a dry run (`up --dry-run`): runs read-only probes for real,
/// so plans reflect the actual state, and refuses every command that would
/// change something. What a dry run would run is printed from the plans
/// (cluster::up), never from here: this is only the safety net that makes a
/// plan that tries to change something fail loudly instead of doing it.
pub struct DryRunner {
    real: RealRunner,
}

impl DryRunner {
    pub fn new(ui: Ui, children: Arc<Children>) -> Self {
        DryRunner { real: RealRunner::new(ui, children) }
    }
}

impl Runner for DryRunner {
    fn run(&self, spec: &CommandSpec) -> Result<Output> {
        match spec.effect {
            Effect::Probe => self.real.run(spec),
            Effect::Change => Err(refused(spec)),
        }
    }

    fn run_interactive(&self, spec: &CommandSpec) -> Result<i32> {
        Err(refused(spec))
    }
}

fn refused(spec: &CommandSpec) -> anyhow::Error {
    anyhow!("internal error: a dry run would have run `{spec}` (to {}); nothing was changed", spec.purpose)
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

    use std::sync::Mutex;

    use super::*;

    type Answer = (String, Result<Output, String>, bool);

    /// Answers are matched by the command line as displayed (`program args…`,
    /// secrets masked, without a node's `timeout -s KILL SECS` wrapper, so that
    /// tests say what runs rather than its limit) by prefix, in the order they
    /// were queued; a one-shot answer is used once, a standing one every time.
    /// A command with no answer fails the test (it panics, naming the
    /// command), unless the runner was made [`RecordingRunner::lenient`]. A
    /// command without a time limit is a bug: it panics too. A batch of reads
    /// (see [`super::batch`]) is answered command by command, each as if run
    /// alone, and framed as the node's script would frame them.
    #[derive(Default)]
    pub struct RecordingRunner {
        answers: Mutex<Vec<Answer>>,
        calls: Mutex<Vec<CommandSpec>>,
        batches: Mutex<Vec<CommandSpec>>,
        lenient: bool,
    }

    impl RecordingRunner {
        /// A runner whose unanswered commands succeed with no output: for a
        /// test that answers only the commands its assertions are about and
        /// lets the rest of a long sequence (an `up`) pass.
        pub fn lenient() -> RecordingRunner {
            RecordingRunner { lenient: true, ..RecordingRunner::default() }
        }

        /// Answer the next command starting with `command_prefix` once.
        pub fn answer(&self, command_prefix: &str, code: i32, stdout: &str, stderr: &str) {
            self.push(command_prefix, code, stdout, stderr, false);
        }

        /// Answer every command starting with `command_prefix` (after one-shot answers).
        pub fn always(&self, command_prefix: &str, code: i32, stdout: &str, stderr: &str) {
            self.push(command_prefix, code, stdout, stderr, true);
        }

        fn push(&self, prefix: &str, code: i32, stdout: &str, stderr: &str, standing: bool) {
            let output = Output { code: Some(code), stdout: stdout.into(), stderr: stderr.into() };
            self.answers.lock().unwrap().push((prefix.to_string(), Ok(output), standing));
        }

        pub fn fail_to_start(&self, command_prefix: &str, reason: &str) {
            self.answers.lock().unwrap().push((command_prefix.to_string(), Err(reason.to_string()), false));
        }

        /// Every command run so far, as displayed (secrets masked, no node-side wrapper).
        pub fn command_lines(&self) -> Vec<String> {
            self.calls.lock().unwrap().iter().map(shown).collect()
        }

        /// Every batch of reads run so far (each round trip to a node that
        /// carried several commands), as displayed; the commands it carried
        /// are in [`RecordingRunner::command_lines`], as if run alone.
        pub fn batch_lines(&self) -> Vec<String> {
            self.batches.lock().unwrap().iter().map(shown).collect()
        }

        /// Every command run so far, unmasked.
        pub fn calls(&self) -> Vec<CommandSpec> {
            self.calls.lock().unwrap().clone()
        }

        /// The displayed commands that changed state.
        pub fn changes(&self) -> Vec<String> {
            let calls = self.calls.lock().unwrap();
            calls.iter().filter(|spec| spec.effect == Effect::Change).map(shown).collect()
        }
    }

    /// A batch of reads (`… sh -c SCRIPT labctl-reads BOUNDARY …`, see
    /// [`super::batch`]): its boundary, and each of its commands as if run
    /// alone, with the batch's own prefix (`docker exec NODE timeout …`).
    fn batch_of(spec: &CommandSpec) -> Option<(String, Vec<CommandSpec>)> {
        let name = spec.args.iter().position(|arg| arg == super::batch::SCRIPT_NAME)?;
        let prefix = name.checked_sub(3).filter(|&start| spec.args[start..start + 2] == ["sh", "-c"])?;
        let (boundary, commands) = super::batch::commands_of(&spec.args[name + 1..])?;
        let alone = |command: Vec<String>| CommandSpec {
            args: spec.args[..prefix].iter().cloned().chain(command).collect(),
            ..spec.clone()
        };
        Some((boundary, commands.into_iter().map(alone).collect()))
    }

    /// The displayed command without `timeout -s KILL SECS ` (see [`RecordingRunner`]).
    fn shown(spec: &CommandSpec) -> String {
        let line = spec.to_string();
        let Some(start) = line.find("timeout -s KILL ") else { return line };
        let rest = &line[start + "timeout -s KILL ".len()..];
        let seconds = rest.find(' ').unwrap_or(rest.len());
        let after = rest[seconds..].trim_start();
        format!("{}{after}", &line[..start])
    }

    impl Runner for RecordingRunner {
        fn run(&self, spec: &CommandSpec) -> Result<Output> {
            assert!(spec.timeout.is_some(), "`{spec}` (to {}) has no time limit", spec.purpose);
            if let Some((boundary, commands)) = batch_of(spec) {
                self.batches.lock().unwrap().push(spec.clone());
                let outputs = commands.iter().map(|command| self.run(command)).collect::<Result<Vec<_>>>()?;
                return Ok(Output {
                    code: Some(0),
                    stdout: super::batch::framed(&boundary, &outputs),
                    ..Output::default()
                });
            }
            self.calls.lock().unwrap().push(spec.clone());
            let line = shown(spec);
            let answer = {
                let mut answers = self.answers.lock().unwrap();
                let matches = |standing: bool| {
                    answers.iter().position(|(prefix, _, kind)| *kind == standing && line.starts_with(prefix.as_str()))
                };
                match (matches(false), matches(true)) {
                    (Some(index), _) => Some(answers.remove(index).1),
                    (None, Some(index)) => Some(answers[index].1.clone()),
                    (None, None) => None,
                }
            };
            match answer {
                Some(Ok(output)) => match &spec.stdout_file {
                    Some(path) => {
                        std::fs::write(path, output.stdout.as_bytes())?;
                        Ok(Output { stdout: String::new(), ..output })
                    }
                    None => Ok(output),
                },
                Some(Err(reason)) => Err(anyhow!(reason)),
                None if self.lenient => Ok(Output { code: Some(0), ..Output::default() }),
                None => panic!(
                    "unexpected command `{line}` (to {}): answer it (`answer` / `always`), or make the runner `RecordingRunner::lenient()`",
                    spec.purpose
                ),
            }
        }

        fn run_interactive(&self, spec: &CommandSpec) -> Result<i32> {
            let bounded = CommandSpec { timeout: Some(Duration::MAX), ..spec.clone() };
            Ok(self.run(&bounded)?.code.unwrap_or(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_runner_fails_a_test_on_a_command_it_was_not_told_of() {
        let spec = CommandSpec::new("docker", &["rm", "--force", "x"], "remove x").timeout(SECOND);
        let strict = fake::RecordingRunner::default();
        strict.answer("docker rm", 0, "x\n", "");
        assert_eq!(strict.run(&spec).unwrap().stdout, "x\n");
        let unexpected = std::panic::catch_unwind(|| strict.run(&spec)).unwrap_err();
        let said = unexpected.downcast_ref::<String>().unwrap();
        assert!(said.starts_with("unexpected command `docker rm --force x` (to remove x)"), "{said}");
        // A lenient one lets it succeed, saying nothing.
        let lenient = fake::RecordingRunner::lenient();
        assert_eq!((lenient.run(&spec).unwrap().code, lenient.command_lines().len()), (Some(0), 1));
    }

    #[test]
    fn display_quotes_every_word_that_needs_it() {
        let spec = CommandSpec::new("sh", &["-c", "echo 'hi' $HOME", "plain/path:1", ""], "test");
        assert_eq!(spec.to_string(), r#"sh -c 'echo '\''hi'\'' $HOME' plain/path:1 ''"#);
    }

    #[test]
    fn scripts_are_shown_by_their_first_line() {
        let spec = CommandSpec::new("sh", &["-c", "#!/bin/sh\nset -eu\necho hi\n", "seed"], "test");
        assert_eq!(spec.to_string(), "sh -c '#!/bin/sh…' seed");
    }

    #[test]
    fn a_script_inside_a_remote_command_line_shows_its_name_and_arguments() {
        let remote = shell_line(&["sudo", "-n", "--", "sh", "-c", "#!/bin/sh\nset -eu\n", "labctl-seed", "/root/work"]);
        let spec = CommandSpec::new("ssh", &["--", "10.0.0.5", &remote], "test");
        assert_eq!(spec.to_string(), r"ssh -- 10.0.0.5 'sudo -n -- sh -c '\''#!/bin/sh…'\'' labctl-seed /root/work'");
    }

    #[test]
    fn secrets_and_swarm_tokens_are_masked_everywhere() {
        let token = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx";
        let spec = CommandSpec::new("docker", &["swarm", "join", "--token", token, "10.0.0.1:2377"], "join")
            .secret("hunter2")
            .arg("--password=hunter2");
        let shown = spec.to_string();
        assert_eq!(shown, "docker swarm join --token SWMTKN-**** 10.0.0.1:2377 --password=****");
        assert_eq!(mask_tokens(&format!("sh -c 'x {token}'")), "sh -c 'x SWMTKN-****'");
        assert_eq!(mask_tokens("no token here"), "no token here");
    }

    #[test]
    fn secrets_with_shell_specials_are_masked_as_shown() {
        // Inside single quotes a secret's text stays verbatim, except `'`,
        // which reads `'\''`: both forms are masked.
        for secret in [r#"pa\ss$word"x"#, "it's-secret"] {
            let spec = CommandSpec::new("sh", &["-c", "login \"$1\"", "login", secret], "log in").secret(secret);
            assert_eq!(spec.to_string(), r#"sh -c 'login "$1"' login '****'"#, "{secret}");
        }
    }

    #[test]
    fn tail_prefers_stderr_and_keeps_last_lines() {
        let output = Output { code: Some(1), stdout: "out".into(), stderr: "a\n\nb\nc\n".into() };
        assert_eq!(output.tail(2), "b | c");
        let quiet = Output { code: Some(1), stdout: "x\ny\n".into(), stderr: " \n".into() };
        assert_eq!(quiet.tail(5), "x | y");
    }

    #[test]
    fn checked_failures_name_purpose_command_status_and_output() {
        let spec = CommandSpec::new("docker", &["swarm", "init"], "initialise the swarm");
        let failed = Output { code: Some(1), stdout: String::new(), stderr: "Error: could not choose an IP\n".into() };
        let error = failed.checked(&spec).unwrap_err().to_string();
        assert_eq!(
            error,
            "could not initialise the swarm (`docker swarm init` failed with exit status 1): Error: could not choose an IP"
        );
    }

    fn quiet() -> Ui {
        Ui::new(crate::ui::Verbosity::Quiet)
    }

    fn real_runner() -> RealRunner {
        RealRunner::new(quiet(), Arc::new(Children::default()))
    }

    const SECOND: Duration = Duration::from_secs(1);

    /// Whether process `pid` is gone (a zombie counts as gone: it runs no more).
    fn gone(pid: &str) -> bool {
        let started = Instant::now();
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let running = state.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'));
            if !running {
                return true;
            }
            if started.elapsed() > 2 * SECOND {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A script that starts `sleep 30` in the background, writes its pid to `pidfile`, and waits.
    fn sleeper(pidfile: &std::path::Path) -> CommandSpec {
        let script = "sleep 30 & echo $! > \"$1\"; wait";
        CommandSpec::new("sh", &["-c", script, "sleeper", pidfile.to_str().unwrap()], "sleep a while")
    }

    fn read_pid(pidfile: &std::path::Path) -> String {
        let started = Instant::now();
        loop {
            let pid = std::fs::read_to_string(pidfile).unwrap_or_default();
            if pid.ends_with('\n') {
                return pid.trim().to_string();
            }
            assert!(started.elapsed() < 5 * SECOND, "the sleeper never started");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A command that prints `own` (no newline at its end) and, from its
    /// `good`th run on, the trailer after it: earlier runs lose the end of
    /// their output, as `incus exec` now and then does. Its runs are counted in `count`.
    fn cut_short(count: &std::path::Path, good: u32, own: &str) -> CommandSpec {
        let script = "n=$(($(cat \"$1\" 2>/dev/null || echo 0) + 1)); echo $n > \"$1\"; printf %s \"$3\"; \
                      [ \"$n\" -lt \"$2\" ] || printf '\\n%s\\n' end-of-it";
        let count = count.to_str().unwrap();
        CommandSpec::new("sh", &["-c", script, "cut", count, &good.to_string(), own], "read a thing")
            .timeout(SECOND * 5)
            .trailer("end-of-it".into())
    }

    #[test]
    fn a_probe_whose_output_came_back_cut_short_runs_again_and_its_trailer_is_taken_off() {
        let runner = real_runner();
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let output = runner.run(&cut_short(&count, 2, "a\nb").probe()).unwrap();
        assert_eq!(output.stdout, "a\nb", "the command's own output, as it printed it");
        assert_eq!(std::fs::read_to_string(&count).unwrap().trim(), "2", "run again once");

        let count = dir.path().join("never");
        let error = runner.run(&cut_short(&count, 9, "x").probe()).unwrap_err().to_string();
        assert!(error.contains("could not read a thing") && error.contains("cut short"), "{error}");
        assert_eq!(std::fs::read_to_string(&count).unwrap().trim(), "3", "three runs in all");

        // A change runs once, whatever came back.
        let count = dir.path().join("change");
        let output = runner.run(&cut_short(&count, 2, "made")).unwrap();
        assert_eq!(output.stdout, "made");
        assert_eq!(std::fs::read_to_string(&count).unwrap().trim(), "1");
    }

    #[test]
    fn real_runner_reports_exit_code_output_and_timeout() {
        let runner = real_runner();
        let spec = CommandSpec::new("sh", &["-c", "echo out; echo err >&2; exit 3"], "test").timeout(SECOND * 5);
        let output = runner.run(&spec).unwrap();
        assert_eq!(output.code, Some(3));
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");

        let slow = CommandSpec::new("sleep", &["5"], "wait on node2").timeout(Duration::from_millis(200));
        let started = Instant::now();
        let error = runner.run(&slow).unwrap_err().to_string();
        assert_eq!(
            error,
            "could not wait on node2: no answer within 0.2s (`sleep 5`); on a slow host, LABCTL_TIMEOUT_SCALE=2 doubles every time limit"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_timeout_ends_the_programs_children_too() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("sleep.pid");
        let started = Instant::now();
        let error = real_runner().run(&sleeper(&pidfile).timeout(Duration::from_millis(300))).unwrap_err();
        assert!(error.to_string().contains("no answer within 0.3s"), "{error}");
        assert!(started.elapsed() < 3 * SECOND, "the runner did not wait for the orphaned sleep");
        assert!(gone(&read_pid(&pidfile)), "the script's own child was left running");
    }

    #[test]
    fn a_program_whose_child_keeps_its_output_open_still_times_out() {
        // The script exits at once, but the `sleep` it left behind holds the
        // captured stdout: waiting for that output must end at the limit too.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("sleep.pid");
        let script = "sleep 30 & echo $! > \"$1\"; exit 0";
        let spec = CommandSpec::new("sh", &["-c", script, "leaver", pidfile.to_str().unwrap()], "leave a child behind")
            .timeout(Duration::from_millis(300));
        let started = Instant::now();
        let error = real_runner().run(&spec).unwrap_err().to_string();
        assert!(error.starts_with("could not leave a child behind: no answer within 0.3s"), "{error}");
        assert!(started.elapsed() < 3 * SECOND, "waited {:?} for the orphan's output", started.elapsed());
        assert!(gone(&read_pid(&pidfile)), "the child left behind is still running");
    }

    #[test]
    fn a_limit_that_fires_on_the_far_side_is_a_timeout_too() {
        // What `docker exec NODE timeout -s KILL 1 …` returns when the node ends the command.
        let spec = CommandSpec {
            remote_timeout: Some(Duration::from_millis(100)),
            ..CommandSpec::new("sh", &["-c", "sleep 0.2; exit 137"], "read the swarm state on node2")
        }
        .timeout(5 * SECOND);
        let error = real_runner().run(&spec).unwrap_err().to_string();
        assert!(error.starts_with("could not read the swarm state on node2: no answer within 5.0s"), "{error}");
        let quick =
            CommandSpec { remote_timeout: Some(5 * SECOND), ..CommandSpec::new("sh", &["-c", "exit 137"], "x") }
                .timeout(5 * SECOND);
        assert_eq!(real_runner().run(&quick).unwrap().code, Some(137), "killed early for another reason: an exit code");
    }

    #[test]
    fn a_command_without_a_time_limit_is_refused() {
        let error = real_runner().run(&CommandSpec::new("true", &[], "do nothing")).unwrap_err().to_string();
        assert_eq!(error, "internal error: `true` (to do nothing) has no time limit");
    }

    #[test]
    fn an_interrupt_ends_running_children_and_starts_no_new_ones() {
        let children = Arc::new(Children::default());
        let runner = RealRunner::new(quiet(), children.clone());
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("sleep.pid");
        let spec = sleeper(&pidfile).timeout(60 * SECOND);
        std::thread::scope(|scope| {
            let running = scope.spawn(|| runner.run(&spec));
            let pid = read_pid(&pidfile);
            let started = Instant::now();
            assert_eq!(children.interrupt().as_deref(), Some("sleep a while"));
            let finished = running.join().unwrap().unwrap();
            assert_eq!(finished.code, None, "killed by a signal");
            assert!(started.elapsed() < 2 * SECOND);
            assert!(gone(&pid), "the script's child was left running");
        });
        // A command started after the signal (another thread, a cleanup) never runs.
        let marker = dir.path().join("late");
        let late = CommandSpec::new("touch", &[marker.to_str().unwrap()], "touch").timeout(SECOND);
        let error = runner.run(&late).unwrap_err().to_string();
        assert!(error.starts_with("interrupted: not starting `touch "), "{error}");
        assert!(!marker.exists());
    }

    #[test]
    fn real_runner_feeds_stdin_and_masks_what_it_shows() {
        let runner = real_runner();
        let spec = CommandSpec::new("printf", &["a\\nSWMTKN-1-abc-def\\n"], "produce").timeout(5 * SECOND);
        assert_eq!(spec.to_string(), "printf 'a\\nSWMTKN-****\\n'");
        let output = runner.run(&spec).unwrap();
        assert_eq!(output.stdout, "a\nSWMTKN-1-abc-def\n", "the caller gets the real output");
        assert_eq!(output.tail(1), "SWMTKN-****", "error messages never show it");
        let fed = runner
            .run(&CommandSpec::new("cat", &[], "echo stdin").stdin(b"hello".to_vec()).timeout(5 * SECOND))
            .unwrap();
        assert_eq!(fed.stdout, "hello");
    }

    #[test]
    fn real_runner_feeds_a_file_on_stdin_and_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("image.tar");
        std::fs::write(&file, b"layer\0bytes").unwrap();
        let spec = CommandSpec::new("wc", &["-c"], "count").stdin_file(file.clone()).timeout(5 * SECOND);
        assert_eq!(spec.to_string(), format!("wc -c < {}", file.display()));
        assert_eq!(real_runner().run(&spec).unwrap().stdout.trim(), "11");
    }

    #[test]
    fn real_runner_streams_stdout_to_a_file_and_keeps_the_exit_status() {
        let runner = real_runner();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.bin");
        let spec = CommandSpec::new("sh", &["-c", "printf 'part\\000ial'; echo broke >&2; exit 2"], "write")
            .stdout_file(file.clone())
            .timeout(5 * SECOND);
        assert!(spec.to_string().ends_with(&format!("> {}", file.display())), "{spec}");
        let output = runner.run(&spec).unwrap();
        assert_eq!(output.code, Some(2));
        assert_eq!((output.stdout.as_str(), output.stderr.as_str()), ("", "broke\n"));
        assert_eq!(std::fs::read(&file).unwrap(), b"part\0ial");
    }

    #[test]
    fn dry_runner_runs_probes_and_refuses_changes() {
        let runner = DryRunner::new(quiet(), Arc::new(Children::default()));
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("made");
        let change = CommandSpec::new("touch", &[marker.to_str().unwrap()], "make a file").timeout(5 * SECOND);
        let error = runner.run(&change).unwrap_err().to_string();
        assert!(error.starts_with("internal error: a dry run would have run `touch "), "{error}");
        assert!(!marker.exists(), "a dry run changes nothing");
        assert!(runner.run_interactive(&change).is_err());
        assert!(!marker.exists());
        let probe = CommandSpec::new("echo", &["state"], "read").probe().timeout(5 * SECOND);
        assert_eq!(runner.run(&probe).unwrap().stdout, "state\n");
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let spec = CommandSpec::new("labctl-no-such-program", &[], "probe").timeout(5 * SECOND);
        let error = real_runner().run(&spec).unwrap_err();
        assert!(format!("{error:#}").contains("labctl-no-such-program"));
    }
}
