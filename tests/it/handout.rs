//! The handouts as tests: fenced blocks opened with `` ```shell runnable ``
//! are the steps a student runs on the manager, in order (README.md, labs
//! section). This module reads them; `handouts_mark_the_same_steps_in_both_languages`
//! keeps the two languages in step, and e2e_handouts.rs runs them.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The labs whose handouts are replayed.
pub const LABS: [&str; 5] = ["lab1", "lab2", "lab3", "lab4", "visualizer"];

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

impl Block {
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
