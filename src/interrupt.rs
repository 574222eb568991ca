//! Ctrl-C and SIGTERM: end every program labctl started, say in one line
//! what was interrupted and that running the same command again finishes
//! the job (every command is idempotent), and exit 130 / 143 like a shell.
//! The cluster lock is a file lock held by this process, so exiting frees it.

use std::sync::Arc;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exec::Children;
use crate::ui::Ui;

/// Watch for the signals on a thread of their own for the rest of the run.
/// `command_line` is the command as the user would type it again.
pub fn watch(children: Arc<Children>, ui: Ui, command_line: String) -> Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot watch for Ctrl-C")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            // `labctl ssh`/`exec` on a terminal: the program there got the
            // Ctrl-C too and decides what it means (as ssh and sudo do).
            if signal == SIGINT && children.interactive_running() {
                continue;
            }
            let doing = children.interrupt();
            ui.interrupted(&message(&command_line, doing.as_deref()));
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

fn message(command_line: &str, doing: Option<&str>) -> String {
    let during = doing.map(|purpose| format!(" while trying to {purpose}")).unwrap_or_default();
    format!("interrupted `{command_line}`{during}; run `{command_line}` again to finish the job")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_what_was_interrupted_and_how_to_finish() {
        assert_eq!(
            message("labctl up", Some("read the swarm state on node2")),
            "interrupted `labctl up` while trying to read the swarm state on node2; run `labctl up` again to finish the job"
        );
        assert_eq!(
            message("labctl reset lab2", None),
            "interrupted `labctl reset lab2`; run `labctl reset lab2` again to finish the job"
        );
    }
}
