//! What the labs' handouts tell students to type: the fenced shell blocks of
//! every `labs/*/README.md` and `README.en.md`, and the commands they run.
//! End-to-end tests check those commands exist on every node; a handout
//! replay can run the blocks themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::Workspace;

/// Fence info strings that mark a block as shell input (a bare fence is output).
const SHELL_FENCES: [&str; 4] = ["shell", "sh", "bash", "console"];

/// Commands the handouts run on the host, not on a node (they say so).
pub const HOST_COMMANDS: [&str; 1] = ["labctl"];

/// Shell keywords and POSIX special/regular builtins: the shell itself runs
/// them, so they need nothing on PATH.
const BUILTINS: [&str; 42] = [
    "!", "{", "}", ".", ":", "[", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done", "echo",
    "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fg", "fi", "for", "if", "in", "local",
    "printf", "pwd", "read", "return", "set", "shift", "source", "test", "then", "true", "unset", "while",
];

/// Words before a command that run it (`sudo docker …`): the command is the next word.
const PREFIXES: [&str; 6] = ["sudo", "env", "time", "nohup", "command", "exec"];

/// One fenced shell block: where it starts (1-based line of its fence) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellBlock {
    pub line: usize,
    pub text: String,
}

/// The fenced shell blocks of a Markdown text, indented ones (inside list
/// items) included, their indentation removed.
pub fn shell_blocks(markdown: &str) -> Vec<ShellBlock> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, bool, Vec<String>)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let shell = SHELL_FENCES.contains(&info.trim());
                    open = Some((index + 1, indent, shell, Vec::new()));
                }
            }
            Some((start, fence_indent, shell, mut lines)) => {
                if trimmed.starts_with("```") {
                    if shell {
                        blocks.push(ShellBlock { line: start, text: lines.join("\n") });
                    }
                } else {
                    let cut = indent.min(fence_indent);
                    lines.push(line[cut..].to_string());
                    open = Some((start, fence_indent, shell, lines));
                }
            }
        }
    }
    blocks
}

/// The command words of a shell script: the first word of every simple
/// command, after `|`, `&&`, `||`, `;`, `&`, a newline, `(`, `$(`, a
/// keyword such as `do` or `then`, and a prefix such as `sudo`; without
/// assignments, redirections, builtins, paths (`./run.sh`), expansions
/// (`$X`) and functions or aliases the script defines.
pub fn command_words(script: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    let mut defined = BTreeSet::new();
    for command in simple_commands(&script.replace("\\\n", " ")) {
        let body = match definition(&command) {
            Some(name) => {
                defined.insert(name);
                // `name() { curl …; }`: what the body's first command runs.
                command.iter().position(|word| word == "{").map_or(&[][..], |brace| &command[brace + 1..])
            }
            None => &command[..],
        };
        if let Some(word) = command_word(body) {
            words.insert(word);
        }
    }
    words.retain(|word| !defined.contains(word));
    words
}

/// `name() {…}`, `function name`, `alias name=…`: the name it defines.
fn definition(command: &[String]) -> Option<String> {
    match command {
        [first, ..] if first.ends_with("()") => Some(first.trim_end_matches("()").to_string()),
        [first, second, ..] if second == "()" || second.starts_with("()") => Some(first.clone()),
        [function, name, ..] if function == "function" => Some(name.trim_end_matches("()").to_string()),
        [alias, rest @ ..] if alias == "alias" => {
            rest.first().and_then(|word| word.split_once('=')).map(|(name, _)| name.to_string())
        }
        _ => None,
    }
}

fn command_word(command: &[String]) -> Option<String> {
    let mut words = command.iter().peekable();
    while let Some(word) = words.next() {
        let is_assignment = word
            .split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let redirection = word.trim_start_matches(|c: char| c.is_ascii_digit());
        if redirection.starts_with(['<', '>']) {
            // `> file` or `>file`: the target is not a command.
            if redirection.trim_start_matches(['<', '>', '&']).is_empty() {
                words.next();
            }
            continue;
        }
        if is_assignment
            || PREFIXES.contains(&word.as_str())
            || ["do", "then", "else", "!", "{", "if", "while", "until", "time"].contains(&word.as_str())
        {
            continue;
        }
        if ["for", "case", "select", "function"].contains(&word.as_str()) {
            return None;
        }
        if word.starts_with('-') {
            // An option of a prefix (`sudo -E docker`).
            continue;
        }
        if BUILTINS.contains(&word.as_str()) || word.contains('/') || word.starts_with(['$', '#']) || word.is_empty() {
            return None;
        }
        return Some(word.clone());
    }
    None
}

/// Split a script into simple commands, each a list of words with quotes
/// removed; `#` comments dropped.
fn simple_commands(script: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    // The commands a `$(…)` interrupted, innermost last.
    let mut outer: Vec<Vec<String>> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let end_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let end_command = |commands: &mut Vec<Vec<String>>, words: &mut Vec<String>| {
        if !words.is_empty() {
            commands.push(std::mem::take(words));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for quoted in chars.by_ref() {
                    if quoted == '\'' {
                        break;
                    }
                    word.push(quoted);
                }
            }
            '"' => {
                in_word = true;
                while let Some(quoted) = chars.next() {
                    match quoted {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        other => word.push(other),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => {
                while chars.peek().is_some_and(|&next| next != '\n') {
                    chars.next();
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                end_word(&mut words, &mut word, &mut in_word);
                let mut interrupted = std::mem::take(&mut words);
                // Stands for the substitution's output in the outer command.
                interrupted.push("$(…)".to_string());
                outer.push(interrupted);
            }
            ')' if !outer.is_empty() => {
                end_word(&mut words, &mut word, &mut in_word);
                end_command(&mut commands, &mut words);
                words = outer.pop().unwrap_or_default();
            }
            '&' if word.ends_with(['>', '<']) => word.push(c),
            '|' | '&' | ';' | '\n' | '(' | ')' | '`' => {
                if c == '(' && chars.peek() == Some(&')') {
                    // `name()`: part of a function definition.
                    chars.next();
                    word.push_str("()");
                    in_word = true;
                    continue;
                }
                end_word(&mut words, &mut word, &mut in_word);
                end_command(&mut commands, &mut words);
            }
            c if c.is_whitespace() => end_word(&mut words, &mut word, &mut in_word),
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    end_word(&mut words, &mut word, &mut in_word);
    end_command(&mut commands, &mut words);
    commands
}

/// Every handout of the shipped labs (`labs/*/README.md` and `README.en.md`).
pub fn handouts() -> Vec<PathBuf> {
    let labs = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&labs)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", labs.display()))
        .flatten()
        .flat_map(|lab| ["README.md", "README.en.md"].map(|name| lab.path().join(name)))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// The commands the handouts run on the nodes (host commands left out),
/// each with the places (`labs/lab1/README.md:42`) that use it.
pub fn node_commands() -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut commands: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in handouts() {
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        for block in shell_blocks(&text) {
            for word in command_words(&block.text) {
                if !HOST_COMMANDS.contains(&word.as_str()) {
                    commands.entry(word).or_default().push(format!("{shown}:{}", block.line));
                }
            }
        }
    }
    commands
}

/// A script for `sh -c SCRIPT sh WORD…` that prints every WORD the node
/// cannot run, one a line.
const MISSING_COMMANDS: &str = "for c; do command -v \"$c\" >/dev/null 2>&1 || echo \"$c\"; done";

/// Every command the handouts run on a node exists on each of `nodes` of
/// the cluster `workspace` is up for; panics naming each missing one, the
/// node and where the handouts use it.
pub fn assert_nodes_have_the_handouts_commands(workspace: &Workspace, nodes: &[&str]) {
    let commands = node_commands();
    let mut missing = Vec::new();
    for node in nodes {
        let mut args = vec!["exec", node, "--", "sh", "-c", MISSING_COMMANDS, "sh"];
        args.extend(commands.keys().map(String::as_str));
        let run = workspace.run_with_host_tools(&args).success();
        for command in run.stdout.lines() {
            missing.push(format!("{command} on {node} (used at {})", commands[command].join(", ")));
        }
    }
    assert!(missing.is_empty(), "the handouts use commands a node lacks:\n{}", missing.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<String> {
        command_words(script).into_iter().collect()
    }

    #[test]
    fn command_words_follow_pipes_lists_keywords_and_substitutions() {
        assert_eq!(
            words("for i in 1 2 3; do curl -s http://x/; echo; done | sort && tree . || sudo -E vim f; (cat a) &"),
            ["cat", "curl", "sort", "tree", "vim"]
        );
        assert_eq!(
            words("docker exec -i $(docker ps -q -f name=m) \\\n  sh -c 'mysql -uroot < /sql/x.sql'"),
            ["docker"]
        );
        assert_eq!(
            words("docker service logs x 2>&1 | grep -E 'a|b'   # comment: less; more\nX=1 env Y=2 head -5 < f"),
            ["docker", "grep", "head"]
        );
        assert_eq!(words("cd /root/work; ./solve.sh; $EDITOR f; if true; then wget u; fi"), ["wget"]);
        assert_eq!(words("greet() { echo hi; }\ngreet; alias ll='ls -l'; ll"), Vec::<String>::new());
        assert_eq!(words("fetch() { curl -s \"$1\"; }; fetch http://x/"), ["curl"]);
    }

    #[test]
    fn shell_blocks_include_indented_ones_and_skip_output() {
        let markdown =
            "text\n```shell\ndocker ps\n```\n```\nnot: a command\n```\n1. step\n   ```shell\n   tree .\n   ```\n";
        assert_eq!(
            shell_blocks(markdown),
            [ShellBlock { line: 2, text: "docker ps".into() }, ShellBlock { line: 9, text: "tree .".into() }]
        );
    }

    #[test]
    fn the_handouts_use_the_tools_the_nodes_must_have() {
        // Both languages of every lab are read, and what they use is found.
        let files = handouts();
        assert!(files.len() >= 10, "{files:?}");
        let commands = node_commands();
        eprintln!("the handouts run on the nodes: {commands:?}");
        for expected in ["docker", "curl", "tree", "grep"] {
            assert!(commands.contains_key(expected), "{expected} not found in {commands:?}");
        }
        assert!(!commands.contains_key("labctl"), "labctl runs on the host");
        assert!(commands["tree"].iter().any(|place| place.starts_with("labs/lab3/README.md:")), "{commands:?}");
    }
}
