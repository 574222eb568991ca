//! ARCHITECTURE.md's rules that a test can hold, read from the sources: every
//! file of src/ has an owner in its table (and every file it names exists),
//! every script run on a node is a template, and nothing above the provider
//! layer switches on which provider it is.

use std::path::{Path, PathBuf};

use crate::support::files_under;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every .rs file under `dir`, as a path relative to src/.
fn source_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = files_under(dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .map(|path| path.strip_prefix(src()).unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// Unit tests kept in files of their own (`tests.rs`, `*_tests.rs`).
fn is_test_file(file: &str) -> bool {
    file.ends_with("/tests.rs") || file.ends_with("_tests.rs")
}

/// The file's code before its `#[cfg(test)] mod tests`, comment lines out.
fn code_of(file: &str) -> String {
    let text = std::fs::read_to_string(src().join(file)).unwrap();
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    code.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The backticked names in the first column of ARCHITECTURE.md's owner table.
fn owners() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let table = text.split("## Who owns what").nth(1).expect("a section 'Who owns what'");
    let mut names = Vec::new();
    for row in table.lines().take_while(|line| !line.starts_with("## ")).filter(|line| line.starts_with("| `")) {
        let first_column = row.split('|').nth(1).unwrap_or_default();
        names.extend(first_column.split('`').skip(1).step_by(2).map(String::from));
    }
    names
}

#[test]
fn every_source_file_has_an_owner_in_architecture_md_and_every_owner_exists() {
    let owners = owners();
    let files = source_files(&src());
    let unowned: Vec<&String> = files
        .iter()
        .filter(|file| !is_test_file(file) && !["lib.rs", "main.rs"].contains(&file.as_str()))
        .filter(|file| {
            !owners.iter().any(|owner| owner == *file || (owner.ends_with('/') && file.starts_with(owner.as_str())))
        })
        .collect();
    assert!(unowned.is_empty(), "files of src/ that ARCHITECTURE.md's table does not name: {unowned:?}");
    let stale: Vec<&String> = owners.iter().filter(|owner| !src().join(owner).exists()).collect();
    assert!(stale.is_empty(), "ARCHITECTURE.md's table names what src/ does not have: {stale:?}");
}

/// `sh -c` given a script written in the code, not a rendered template:
/// what each allowed one is.
const INLINE_SCRIPTS_ALLOWED: &[(&str, &str)] =
    &[("provider/docker.rs", "labctl ssh's login shell: bash -l where the node has bash, else sh -l")];

#[test]
fn every_script_run_on_a_node_is_a_template() {
    let inline: Vec<String> = source_files(&src())
        .iter()
        .filter(|file| !is_test_file(file) && !INLINE_SCRIPTS_ALLOWED.iter().any(|(allowed, _)| allowed == *file))
        .flat_map(|file| {
            inline_scripts(&code_of(file)).into_iter().map(move |script| format!("{file}: sh -c {script}"))
        })
        .collect();
    assert!(inline.is_empty(), "node scripts written in the code instead of templates/node/:\n{}", inline.join("\n"));
}

#[test]
fn an_inline_script_is_told_from_a_rendered_template() {
    let code = r#"let a = ["sh", "-c", IPVS_PROBE];
        let b = &["sh", "-c", "cat /etc/docker/daemon.json"];
        let c = vec!["sh".to_string(), "-c".to_string(), format!("cd; {login}")];
        let d = ["sh", "-c", &script, "labctl-seed"];
        let e = ["sh", "-c", &self.probe_script, "labctl-ipvs"];
        let f = CommandSpec::new("virsh", &["-c", URI, "version"]);"#;
    let found = inline_scripts(code);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("IPVS_PROBE") && found[1].starts_with("\"cat") && found[2].starts_with("format!"));
}

/// What follows `sh -c` where it is a script written in `code` (a string
/// literal, a constant or a `format!`) rather than a rendered template.
fn inline_scripts(code: &str) -> Vec<String> {
    let mut inline = Vec::new();
    for (at, _) in code.match_indices("\"-c\"") {
        if !code[at.saturating_sub(24)..at].contains("\"sh\"") {
            continue; // virsh -c URI, vagrant ssh -c COMMAND
        }
        let after = code[at + 4..].trim_start_matches(".to_string()");
        let after = after.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if after.starts_with('"') || after.starts_with("format!") || after.starts_with(char::is_uppercase) {
            inline.push(after.lines().next().unwrap_or_default().to_string());
        }
    }
    inline
}

#[test]
fn every_host_docker_command_starts_from_docker_cli() {
    let elsewhere: Vec<String> = source_files(&src())
        .into_iter()
        .filter(|file| !is_test_file(file) && file != "provider/docker_cli.rs")
        .filter(|file| code_of(file).contains("CommandSpec::new(\"docker\""))
        .collect();
    assert!(elsewhere.is_empty(), "docker commands built outside provider::docker_cli::DockerCli: {elsewhere:?}");
}

#[test]
fn nothing_above_the_providers_switches_on_which_provider_it_is() {
    // Who may name a kind: the providers, the command context that builds
    // one, and doctor, which checks each kind's prerequisites on this host.
    let allowed = |file: &str| file.starts_with("provider/") || file == "commands/mod.rs" || file.starts_with("doctor");
    let switching: Vec<String> = source_files(&src())
        .into_iter()
        .filter(|file| !is_test_file(file) && !allowed(file))
        .filter(|file| code_of(file).contains("ProviderKind"))
        .collect();
    assert!(switching.is_empty(), "ask Provider::info() instead of the kind: {switching:?}");
}
