//! One terminal of a seat's page: the provider's shell command for a node in
//! a pseudo-terminal, its output sent to the browser and the browser's keys
//! written to it. Closing the page (or the idle limit) ends the process:
//! nothing lingers.

use std::io::{Read, Write};
use std::sync::mpsc as std_mpsc;

use anyhow::{Context, Result};
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};
use tokio::sync::mpsc;

use crate::exec::CommandSpec;

/// Messages of keys waiting for a shell that does not read them.
const INPUT_QUEUE: usize = 256;

/// A running shell in a pseudo-terminal.
pub struct Session {
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    /// Keys for the shell, written by a thread of its own.
    input: std_mpsc::SyncSender<Vec<u8>>,
    /// What the shell prints, read by a thread of its own.
    pub output: mpsc::Receiver<Vec<u8>>,
}

impl Session {
    /// Start `shell` in a terminal of `cols` × `rows`.
    pub fn start(shell: &CommandSpec, cols: u16, rows: u16) -> Result<Session> {
        let pair = native_pty_system()
            .openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 })
            .context("cannot open a pseudo-terminal")?;
        let mut command = CommandBuilder::new(&shell.program);
        command.args(&shell.args);
        for (key, value) in &shell.env {
            command.env(key, value);
        }
        command.env("TERM", "xterm-256color");
        if let Some(dir) = &shell.dir {
            command.cwd(dir);
        }
        let child = pair.slave.spawn_command(command).with_context(|| format!("cannot start {}", shell.program))?;
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
        Ok(Session { child, master: pair.master, input, output })
    }

    /// Keys typed in the browser; false when the shell has not read the
    /// ones before (its queue is full): the terminal should end.
    pub fn write(&self, keys: Vec<u8>) -> bool {
        self.input.try_send(keys).is_ok()
    }

    /// The browser's terminal changed size.
    pub fn resize(&self, cols: u16, rows: u16) {
        let _ = self.master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 });
    }
}

impl Drop for Session {
    /// The page went away: the shell (and `docker exec`, ssh…) ends with it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
