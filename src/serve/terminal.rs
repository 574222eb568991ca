//! One terminal of a seat's page: the provider's shell command for a node in
//! a pseudo-terminal, its output sent to the browser and the browser's keys
//! written to it. Closing the page (or the idle limit) ends the process and
//! what is left of the shell on the node: nothing lingers.

use std::io::{Read, Write};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use anyhow::{Context, Result};
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};
use tokio::sync::mpsc;

use crate::exec::{CommandSpec, RealRunner, Runner};
use crate::provider::TaggedShell;
use crate::ui::{Ui, Verbosity};

/// Messages of keys waiting for a shell that does not read them.
const INPUT_QUEUE: usize = 256;

/// Where the keys of a terminal go: its shell's queue. Cloned for whoever
/// may type in it (its page, an instructor who took it over).
pub type Keys = std_mpsc::SyncSender<Vec<u8>>;

/// A running shell in a pseudo-terminal.
pub struct Session {
    child: Option<Box<dyn Child + Send + Sync>>,
    master: Box<dyn MasterPty + Send>,
    /// Ends what is left of the shell on its node (see [`TaggedShell`]).
    hang_up: Option<CommandSpec>,
    /// Keys for the shell, written by a thread of its own.
    input: Keys,
    /// What the shell prints, read by a thread of its own.
    pub output: mpsc::Receiver<Vec<u8>>,
}

impl Session {
    /// Start `shell` in a terminal of `cols` × `rows`.
    pub fn start(shell: &TaggedShell, cols: u16, rows: u16) -> Result<Session> {
        let open = &shell.open;
        let pair = native_pty_system()
            .openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 })
            .context("cannot open a pseudo-terminal")?;
        let mut command = CommandBuilder::new(&open.program);
        command.args(&open.args);
        for (key, value) in &open.env {
            command.env(key, value);
        }
        command.env("TERM", "xterm-256color");
        if let Some(dir) = &open.dir {
            command.cwd(dir);
        }
        let child = pair.slave.spawn_command(command).with_context(|| format!("cannot start {}", open.program))?;
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().context("cannot read the pseudo-terminal")?;
        let mut writer = pair.master.take_writer().context("cannot write to the pseudo-terminal")?;
        let (output_tx, output) = mpsc::channel::<Vec<u8>>(64);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 || output_tx.blocking_send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
        // Bounded: a shell that reads nothing (`sleep`) while keys pour in
        // fills it, and then the terminal ends instead of the memory.
        let (input, input_rx) = std_mpsc::sync_channel::<Vec<u8>>(INPUT_QUEUE);
        std::thread::spawn(move || {
            for keys in input_rx {
                if writer.write_all(&keys).and_then(|()| writer.flush()).is_err() {
                    break;
                }
            }
        });
        Ok(Session { child: Some(child), master: pair.master, hang_up: shell.hang_up.clone(), input, output })
    }

    /// Where keys for this shell go.
    pub fn keys(&self) -> Keys {
        self.input.clone()
    }

    /// The browser's terminal changed size.
    pub fn resize(&self, cols: u16, rows: u16) {
        let _ = self.master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 });
    }
}

/// Keys typed in a browser; false when the shell has not read the ones
/// before (its queue is full): the terminal should end.
pub fn type_keys(keys: &Keys, typed: Vec<u8>) -> bool {
    keys.try_send(typed).is_ok()
}

impl Drop for Session {
    /// The page went away: the shell's client (`docker exec`, ssh…) ends,
    /// and then what is left of the shell on the node. Both wait on other
    /// programs, so they run on a thread of their own, never the server's.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let hang_up = self.hang_up.take();
        std::thread::spawn(move || {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(hang_up) = hang_up {
                let runner = RealRunner::new(Ui::new(Verbosity::Quiet), Arc::default());
                let _ = runner.run(&hang_up);
            }
        });
    }
}
