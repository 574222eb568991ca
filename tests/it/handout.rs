//! The handouts as tests. What the labs' handouts tell students to type:
//! the fenced shell blocks of every `labs/*/README.md` and `README.en.md`,
//! the commands they run (end-to-end tests check those exist on every node),
//! and the blocks opened with `` ```shell runnable `` — the steps a student
//! runs on the manager, in order (README.md, labs section), which
//! e2e_handouts.rs replays; `handouts_mark_the_same_steps_in_both_languages`
//! keeps the two languages in step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::Workspace;

/// The labs whose handouts are replayed.
pub const LABS: [&str; 6] = ["lab1", "lab2", "lab3", "lab4", "lab5", "visualizer"];

/// A fenced block of a handout.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The words after the fence: `shell runnable mesh` → ["shell", "runnable", "mesh"].
    pub info: Vec<String>,
    /// The lines inside, without the fence's indentation.
    pub text: String,
}

/// Fence languages that mark a block as shell input (a bare fence is output).
const SHELL_FENCES: [&str; 4] = ["shell", "sh", "bash", "console"];

impl Block {
    /// Shell input (not output, a file or a tree).
    pub fn is_shell(&self) -> bool {
        self.info.first().is_some_and(|language| SHELL_FENCES.contains(&language.as_str()))
    }

    /// A step the student runs on the manager.
    pub fn runnable(&self) -> bool {
        self.info.first().is_some_and(|language| ["shell", "sh"].contains(&language.as_str()))
            && self.info.get(1).is_some_and(|word| word == "runnable")
    }

    /// A step that needs the ingress routing mesh (IPVS on the nodes' kernel).
    pub fn needs_mesh(&self) -> bool {
        self.info.iter().skip(2).any(|word| word == "mesh")
    }

    /// The commands, without comments and blank lines: what both languages share.
    pub fn commands(&self) -> Vec<String> {
        self.text.lines().map(without_comment).filter(|line| !line.is_empty()).collect()
    }
}

/// Every fenced block of MARKDOWN, indented ones (in lists) too.
pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<(Block, usize)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        match open.take() {
            None if trimmed.starts_with("```") => {
                let info = trimmed.trim_start_matches('`').split_whitespace().map(str::to_string).collect();
                open = Some((Block { line: index + 1, info, text: String::new() }, indent));
            }
            None => {}
            Some((block, _)) if trimmed == "```" => found.push(block),
            Some((mut block, indent)) => {
                let strip = line.len() - line.trim_start().len();
                block.text.push_str(&line[strip.min(indent)..]);
                block.text.push('\n');
                open = Some((block, indent));
            }
        }
    }
    assert!(open.is_none(), "a fenced block is never closed: {open:?}");
    found
}

/// The runnable blocks of a handout, in order.
pub fn runnable(markdown: &str) -> Vec<Block> {
    blocks(markdown).into_iter().filter(Block::runnable).collect()
}

/// LINE without a shell comment (a `#` that starts a word outside quotes), trimmed.
fn without_comment(line: &str) -> String {
    let mut quote = None;
    let mut previous = ' ';
    for (index, character) in line.char_indices() {
        match (quote, character) {
            (None, '\'' | '"') => quote = Some(character),
            (Some(open), _) if character == open => quote = None,
            (None, '#') if previous.is_whitespace() => return line[..index].trim().to_string(),
            _ => {}
        }
        previous = character;
    }
    line.trim().to_string()
}

/// TEXT with each placeholder of the lab's `[handout.placeholders]` filled in.
pub fn fill(text: &str, placeholders: &BTreeMap<String, String>) -> String {
    placeholders.iter().fold(text.to_string(), |text, (placeholder, value)| text.replace(placeholder, value))
}

/// `<words>` left in TEXT: a placeholder the lab's table does not fill.
pub fn unfilled(text: &str) -> Vec<String> {
    let mut left = Vec::new();
    for (start, _) in text.match_indices('<') {
        let rest = &text[start + 1..];
        let Some(end) = rest.find('>') else { continue };
        let inner = &rest[..end];
        let word_like = !inner.is_empty() && !inner.starts_with(char::is_whitespace) && !inner.contains(['<', '\n']);
        if word_like {
            left.push(format!("<{inner}>"));
        }
    }
    left
}

/// A built-in lab's folder in this checkout.
pub fn lab_dir(lab: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("labs").join(lab)
}

/// A built-in lab's handout, Korean (README.md) or English (README.en.md).
pub fn handout(lab: &str, english: bool) -> String {
    let path = lab_dir(lab).join(if english { "README.en.md" } else { "README.md" });
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A built-in lab's lab.toml.
pub fn manifest(lab: &str) -> toml::Value {
    let path = lab_dir(lab).join("lab.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The lab's `[handout.placeholders]` table.
pub fn placeholders(lab: &str) -> BTreeMap<String, String> {
    let manifest = manifest(lab);
    let Some(table) = manifest.get("handout").and_then(|handout| handout.get("placeholders")) else {
        return BTreeMap::new();
    };
    let table = table.as_table().expect("[handout.placeholders] is a table");
    table.iter().map(|(key, value)| (key.clone(), value.as_str().expect("a string").to_string())).collect()
}

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
        for block in blocks(&text).into_iter().filter(Block::is_shell) {
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

#[test]
fn blocks_are_found_in_lists_and_comments_are_not_commands() {
    let markdown = "Intro\n\n1. Build\n\n   ```shell runnable\n   cd /root/work # go there\n   echo 'a # b'\n\n   ```\n\n```\ntree\n```\n\n```shell runnable mesh\ncurl -s http://x/ | grep 'q'  # through the mesh\n```\n";
    let found = blocks(markdown);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].line, 5);
    assert_eq!(found[0].text, "cd /root/work # go there\necho 'a # b'\n\n");
    assert_eq!(found[0].commands(), ["cd /root/work", "echo 'a # b'"]);
    assert!(found[0].runnable() && !found[0].needs_mesh());
    assert!(!found[1].runnable(), "a block without the marker is for reading");
    assert!(found[2].runnable() && found[2].needs_mesh());
    assert_eq!(runnable(markdown).len(), 2);
}

#[test]
fn placeholders_are_filled_and_the_ones_left_are_named() {
    let table = BTreeMap::from([("<stack name>".to_string(), "my-web".to_string())]);
    let filled = fill("docker stack ps <stack name> < in.sql # <stack name>", &table);
    assert_eq!(filled, "docker stack ps my-web < in.sql # my-web");
    assert!(unfilled(&filled).is_empty(), "a redirection is no placeholder");
    assert_eq!(unfilled("docker service logs <service name>"), ["<service name>"]);
}

/// Both languages mark the same steps, with the same commands once their
/// placeholders are filled, and every placeholder has a value; each lab has
/// steps to replay.
#[test]
fn handouts_mark_the_same_steps_in_both_languages() {
    for lab in LABS {
        let table = placeholders(lab);
        let steps = |english: bool| -> Vec<(Vec<String>, Vec<String>)> {
            runnable(&handout(lab, english))
                .into_iter()
                .map(|block| {
                    let commands = block.commands().iter().map(|command| fill(command, &table)).collect();
                    (block.info.clone(), commands)
                })
                .collect()
        };
        let (korean, english) = (steps(false), steps(true));
        assert!(!korean.is_empty(), "{lab}: README.md marks no block `shell runnable`");
        assert_eq!(korean.len(), english.len(), "{lab}: README.md and README.en.md mark different numbers of blocks");
        for (index, (ko, en)) in korean.iter().zip(&english).enumerate() {
            assert_eq!(ko, en, "{lab}: runnable block {} differs between README.md and README.en.md", index + 1);
            for command in &ko.1 {
                assert!(
                    unfilled(command).is_empty(),
                    "{lab}: {command:?} has a placeholder not in [handout.placeholders]"
                );
            }
        }
        for placeholder in table.keys() {
            let used = [false, true].iter().any(|&english| {
                runnable(&handout(lab, english)).iter().any(|block| block.text.contains(placeholder.as_str()))
            });
            assert!(used, "{lab}: [handout.placeholders] {placeholder:?} is in no runnable block");
        }
    }
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
        let shell: Vec<(usize, String)> =
            blocks(markdown).into_iter().filter(Block::is_shell).map(|block| (block.line, block.text)).collect();
        assert_eq!(shell, [(2, "docker ps\n".to_string()), (9, "tree .\n".to_string())]);
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

/// The final consonant a digit is read with in Korean (영 일 이 삼 사 오 육
/// 칠 팔 구): `None` for none, `Some('ㄹ')` for ㄹ, `Some('x')` for another.
fn batchim_of_digit(digit: char) -> Option<char> {
    match digit {
        '1' | '7' | '8' => Some('ㄹ'),
        '0' | '3' | '6' => Some('x'),
        _ => None,
    }
}

/// What is wrong with the particle right after a `code` span that ends in a
/// digit (read in Korean: `ch03` is 공삼, so `ch03`이, `ch03`은, `ch03`과), if anything.
fn particle_problem(digit: char, after: &str) -> Option<&'static str> {
    let batchim = batchim_of_digit(digit);
    let starts = |particle: &str| after.starts_with(particle);
    // The copula (이다, 이고, 이며, 이면, 이라) follows any word.
    let copula = ["이다", "이고", "이며", "이면", "이라", "이었"].iter().any(|word| after.starts_with(word));
    match batchim {
        Some(consonant) => {
            if starts("가") || starts("는") || starts("와") || starts("를") {
                return Some("after a final consonant: 이, 은, 과, 을");
            }
            if consonant != 'ㄹ' && starts("로") {
                return Some("after a final consonant other than ㄹ: 으로");
            }
            if consonant == 'ㄹ' && starts("으로") {
                return Some("after ㄹ: 로");
            }
            None
        }
        None => {
            if starts("은") || starts("과") || starts("을") || starts("으로") || (starts("이") && !copula) {
                return Some("after no final consonant: 가, 는, 와, 를, 로");
            }
            None
        }
    }
}

/// Problems a reader trips on that can be stated as rules, by line: in both
/// languages a word written twice in a row; in Korean, the particle after a
/// `code` span ending in a digit, which is read in Korean.
fn lint(markdown: &str, korean: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            // "without it, it uses" is English: a mark in between ends the run.
            let word = pair[0].trim_start_matches(|c: char| !c.is_alphanumeric());
            if !word.is_empty() && word.chars().any(char::is_alphabetic) && word == pair[1] {
                problems.push(format!("{number}: {word:?} twice: {line}"));
            }
        }
        if !korean {
            continue;
        }
        let spans: Vec<&str> = line.split('`').collect();
        // Odd pieces are inside a code span; the piece after one starts with its particle.
        for pair in spans.windows(2).skip(1).step_by(2) {
            let (code, after) = (pair[0], pair[1]);
            let Some(digit) = code.chars().last().filter(char::is_ascii_digit) else { continue };
            if let Some(rule) = particle_problem(digit, after) {
                problems.push(format!("{number}: `{code}`{}: {rule}", after.chars().take(2).collect::<String>()));
            }
        }
    }
    problems
}

#[test]
fn the_lint_knows_the_particles_after_digits() {
    assert_eq!(lint("네트워크 `ch03`가 있다", true).len(), 1);
    assert!(lint("네트워크 `ch03`이 있다", true).is_empty());
    assert_eq!(lint("`ch04`이 있다", true).len(), 1);
    assert!(lint("이름은 `ch04`이다", true).is_empty());
    assert_eq!(lint("`ch03`와 `8088`을", true), vec!["1: `ch03`와 : after a final consonant: 이, 은, 과, 을"]);
    assert!(lint("`8089`로 `8080`으로 `ch04`로", true).is_empty());
    assert_eq!(lint("the the file", false).len(), 1);
    assert!(lint("`code` `code`", false).is_empty(), "code spans are not words");
}

#[test]
fn the_handouts_pass_the_lint() {
    let mut problems = Vec::new();
    for path in handouts() {
        let korean = !path.to_string_lossy().ends_with(".en.md");
        let text = std::fs::read_to_string(&path).unwrap();
        problems.extend(lint(&text, korean).into_iter().map(|problem| format!("{}:{problem}", path.display())));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
