use super::*;
use crate::labs::check_spec::Check;

fn catalog() -> Catalog {
    Catalog::load(Path::new("/nonexistent-workspace")).expect("built-in labs load")
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// A workspace with `labs/lab9/` holding `manifest`, `a.yml` and both handouts.
fn workspace_lab(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("labs/lab9/lab.toml", manifest),
            ("labs/lab9/a.yml", "x"),
            ("labs/lab9/README.md", "ko"),
            ("labs/lab9/README.en.md", "en"),
        ],
    );
    dir
}

const MINIMAL: &str = "id = \"lab9\"\ntitle = \"t\"\ntitle_ko = \"t\"\ndir = \"lab9\"\nfiles = [\"a.yml\"]\n";

#[test]
fn built_in_catalog_has_the_class_labs() {
    let catalog = catalog();
    let ids: Vec<(&str, &str)> =
        catalog.labs().iter().map(|lab| (lab.manifest.id.as_str(), lab.manifest.dir.as_str())).collect();
    assert_eq!(
        ids,
        vec![
            ("lab1", "ingress"),
            ("lab2", "work3"),
            ("lab3", "db"),
            ("lab4", "ch04"),
            ("lab5", "heal"),
            ("visualizer", "visualizer")
        ]
    );
}

#[test]
fn labs_resolve_by_id_alias_and_directory() {
    let catalog = catalog();
    for name in ["lab3", "db", "DB", "/root/work/db", "/root/work/db/"] {
        assert_eq!(catalog.resolve(name).unwrap().manifest.id, "lab3", "{name}");
    }
    assert_eq!(catalog.resolve("work3").unwrap().manifest.id, "lab2");
}

#[test]
fn unknown_lab_lists_the_catalog_and_suggests() {
    let message = catalog().resolve("lab33").unwrap_err();
    assert!(message.starts_with("\"lab33\" is not a lab; did you mean \"lab3\"?"), "{message}");
    assert!(
        message.contains("lab1 (ingress), lab2 (work3), lab3 (db), lab4 (ch04), lab5 (heal), visualizer (visualizer)"),
        "{message}"
    );
}

#[test]
fn instructor_only_files_are_not_seeded_files() {
    let catalog = catalog();
    let quiz = catalog.resolve("lab2").unwrap();
    assert!(quiz.manifest.instructor_only.iter().any(|file| file.starts_with("solution/")));
    assert!(quiz.manifest.files.iter().all(|file| !file.starts_with("solution/")));
}

#[test]
fn every_shell_script_is_executable_and_has_lf_endings() {
    for lab in catalog().labs() {
        for file in &lab.manifest.files {
            let bytes = lab.read(file).unwrap();
            assert!(!bytes.contains(&b'\r'), "{}/{file} has CR line endings", lab.manifest.id);
            if file.ends_with(".sh") {
                assert!(
                    lab.manifest.executable.contains(file),
                    "{}/{file} is not listed as executable",
                    lab.manifest.id
                );
                assert!(bytes.starts_with(b"#!"), "{}/{file} has no shebang", lab.manifest.id);
            }
        }
    }
}

#[test]
fn workspace_lab_is_added_and_overrides_by_id() {
    let dir = workspace_lab(MINIMAL);
    let catalog = Catalog::load(dir.path()).unwrap();
    let lab = catalog.resolve("lab9").unwrap();
    assert_eq!(lab.read("a.yml").unwrap(), b"x");
    assert_eq!(lab.handout(Language::En).unwrap(), "en");
    assert_eq!(catalog.labs().len(), 7);

    let replacement = MINIMAL.replace("lab9", "lab1");
    write(
        dir.path(),
        &[
            ("labs/lab1/lab.toml", &replacement),
            ("labs/lab1/a.yml", "mine"),
            ("labs/lab1/README.md", "ko"),
            ("labs/lab1/README.en.md", "en"),
        ],
    );
    let catalog = Catalog::load(dir.path()).unwrap();
    let lab1 = catalog.resolve("lab1").unwrap();
    assert_eq!(lab1.read("a.yml").unwrap(), b"mine");
    assert_eq!(lab1.source_label(), dir.path().join("labs/lab1").display().to_string());
    assert_eq!(catalog.labs().len(), 7, "replaced, not added");
    assert!(catalog.resolve("ingress").is_err(), "the replacement has no alias ingress");
}

#[test]
fn a_path_escaping_the_lab_folder_is_rejected_with_its_line() {
    let manifest = MINIMAL.replace("files = [\"a.yml\"]", "files = [\"a.yml\", \"../../etc/passwd\"]");
    let dir = workspace_lab(&manifest);
    let error = Catalog::load(dir.path()).unwrap_err().to_string();
    let expected = format!(
        "{}:5:19: files[1]: \"../../etc/passwd\" escapes the lab folder; use a path inside it, such as \"simple-web/Dockerfile\"",
        dir.path().join("labs/lab9/lab.toml").display()
    );
    assert_eq!(error, expected);
}

#[test]
fn the_handout_language_is_ko_by_default_en_when_written_and_nothing_else() {
    assert_eq!(catalog().resolve("lab1").unwrap().manifest.handout_language(), Language::Ko);
    let english = workspace_lab(&format!("{MINIMAL}language = \"en\"\n"));
    let catalog = Catalog::load(english.path()).unwrap();
    assert_eq!(catalog.resolve("lab9").unwrap().manifest.handout_language(), Language::En);

    let dir = workspace_lab(&format!("{MINIMAL}language = \"fr\"\n"));
    let error = Catalog::load(dir.path()).unwrap_err().to_string();
    let expected = format!(
        "{}:6:12: language: \"fr\" is not a handout language; use \"ko\" or \"en\"",
        dir.path().join("labs/lab9/lab.toml").display()
    );
    assert_eq!(error, expected);
}

#[test]
fn unlisted_missing_and_non_seeded_executables_are_reported() {
    let manifest =
        MINIMAL.replace("files = [\"a.yml\"]", "files = [\"a.yml\", \"gone.sh\"]\nexecutable = [\"run.sh\"]");
    let dir = workspace_lab(&manifest);
    write(dir.path(), &[("labs/lab9/stray.txt", "?")]);
    std::fs::remove_file(dir.path().join("labs/lab9/README.en.md")).unwrap();
    let error = Catalog::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("files[1]: \"gone.sh\" does not exist in the lab folder"), "{error}");
    assert!(error.contains("executable[0]: \"run.sh\" does not exist"), "{error}");
    assert!(error.contains("executable[0]: \"run.sh\" is not in `files`"), "{error}");
    assert!(error.contains("\"stray.txt\" is in the lab folder but not listed"), "{error}");
    assert!(error.contains("has no README.en.md"), "{error}");
}

#[test]
fn two_labs_answering_to_one_name_are_rejected() {
    let manifest = MINIMAL.replace("dir = \"lab9\"", "dir = \"db\"");
    let dir = workspace_lab(&manifest);
    let error = Catalog::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("both answer to \"db\""), "{error}");
}

/// `(service, replicas)` of every `docker service scale a=1 b=2` in `text`, in order.
fn scale_commands(text: &str) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    for (at, command) in text.match_indices("docker service scale ") {
        let rest = &text[at + command.len()..];
        let words = rest.split(|c: char| c.is_whitespace() || c == '`').take_while(|word| word.contains('='));
        for word in words {
            if let Some((service, count)) = word.split_once('=') {
                if let Ok(count) = count.parse() {
                    found.push((service.to_string(), count));
                }
            }
        }
    }
    found
}

#[test]
fn a_handout_that_scales_a_service_ends_where_the_check_wants_it() {
    assert_eq!(
        scale_commands("run `docker service scale ch04_api=6 x=2`, then"),
        vec![("ch04_api".into(), 6), ("x".into(), 2)]
    );
    for lab in catalog().labs() {
        for language in [Language::Ko, Language::En] {
            let mut last: BTreeMap<String, u32> = BTreeMap::new();
            last.extend(scale_commands(&lab.handout(language).unwrap()));
            for (service, count) in last {
                let Some(wanted) = lab.manifest.checks.iter().find_map(|spec| match &spec.check {
                    Check::ServiceReplicas { service: checked, replicas } if *checked == service => Some(*replicas),
                    _ => None,
                }) else {
                    continue;
                };
                assert_eq!(
                    count, wanted,
                    "{} handout ({language:?}) leaves {service} at {count}, but `labctl check` wants {wanted}",
                    lab.manifest.id,
                );
            }
        }
    }
}

#[test]
fn handout_placeholders_are_read_and_bad_ones_named_with_their_line() {
    let good =
        format!("{MINIMAL}\n[handout.placeholders]\n\"<stack name>\" = \"my-web\"\n\"<스택 이름>\" = \"my-web\"\n");
    let dir = workspace_lab(&good);
    let catalog = Catalog::load(dir.path()).unwrap();
    let placeholders = &catalog.resolve("lab9").unwrap().manifest.handout.placeholders;
    assert_eq!(placeholders.get("<stack name>").map(String::as_str), Some("my-web"));
    assert_eq!(placeholders.get("<스택 이름>").map(String::as_str), Some("my-web"));

    let bad = format!("{MINIMAL}\n[handout.placeholders]\n\"stack name\" = \"my-web\"\n\"<service>\" = \"\"\n");
    let dir = workspace_lab(&bad);
    let error = Catalog::load(dir.path()).unwrap_err().to_string();
    let file = dir.path().join("labs/lab9/lab.toml").display().to_string();
    assert!(error.contains(&format!("{file}:8:16: handout.placeholders.stack name: \"stack name\" is not a placeholder; write it as the handout does, in angle brackets, such as \"<stack name>\"")), "{error}");
    assert!(
        error.contains(&format!(
            "{file}:9:15: handout.placeholders.<service>: \"\" cannot replace <service>; give one line of text"
        )),
        "{error}"
    );

    let unknown = format!("{MINIMAL}\n[handout]\nrunnable = true\n");
    let dir = workspace_lab(&unknown);
    let error = Catalog::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("unknown key `runnable` (valid keys here: placeholders, written)"), "{error}");
}
