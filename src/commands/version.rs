//! `labctl --version`: labctl's version and commit, then the Docker,
//! Vagrant and hypervisors this host has, as a bug report needs them.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::VERSION;
use crate::exec::{Children, CommandSpec, RealRunner, Runner};
use crate::ui::{columns, Ui};

/// Each tool's version question, asked within a few seconds.
const TOOLS: [(&str, &[&str]); 4] = [
    ("docker", &["version", "--format", "client {{.Client.Version}}, engine {{.Server.Version}}"]),
    ("vagrant", &["--version"]),
    ("VBoxManage", &["--version"]),
    ("virsh", &["--version"]),
];

pub fn print(ui: Ui, children: Arc<Children>) {
    let runner = RealRunner::new(ui.clone(), children);
    ui.print(&text(&runner));
}

/// labctl's version line, then each tool found and its answer.
pub fn text(runner: &dyn Runner) -> String {
    let mut rows = Vec::new();
    for (program, args) in TOOLS {
        let found = crate::exec::find_program(program);
        let answer = match &found {
            None => "not found".to_string(),
            Some(path) => {
                let version = ask(runner, program, args).unwrap_or_else(|why| why);
                format!("{version} ({})", path.display())
            }
        };
        rows.push(vec![program.to_string(), answer]);
    }
    let mut text = format!("labctl {VERSION}\n");
    for line in columns(&rows) {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

/// The first line the tool answers, or why there is none.
fn ask(runner: &dyn Runner, program: &str, args: &[&str]) -> Result<String, String> {
    let spec = CommandSpec::new(program, args, &format!("ask {program} for its version"))
        .probe()
        .timeout(Duration::from_secs(5));
    let output = runner.run(&spec).map_err(|error| format!("no answer: {error:#}"))?;
    let first = |text: &str| text.lines().map(str::trim).find(|line| !line.is_empty()).map(String::from);
    match (output.success(), first(&output.stdout)) {
        (true, Some(line)) => Ok(line),
        // `docker version` prints the client even when the engine is down.
        (false, Some(line)) => Ok(format!("{line}; {}", first(&output.stderr).unwrap_or_default())),
        (_, None) => Err(first(&output.stderr).unwrap_or_else(|| "no answer".to_string())),
    }
}
