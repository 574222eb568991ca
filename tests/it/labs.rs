use crate::support::Workspace;

#[test]
fn labs_lists_the_catalog_with_targets() {
    let run = Workspace::new().run(&["labs"]).success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("LAB"), "{}", run.stdout);
    for (id, alias, target) in [
        ("lab1", "ingress", "/root/work/ingress"),
        ("lab2", "work3", "/root/work/work3"),
        ("lab3", "db", "/root/work/db"),
        ("lab4", "ch04", "/root/work/ch04"),
        ("visualizer", "viz", "/root/work/visualizer"),
    ] {
        let row = lines.iter().find(|line| line.starts_with(id)).unwrap_or_else(|| panic!("{id} missing"));
        assert!(row.contains(alias) && row.contains(target), "{row}");
    }
}

#[test]
fn labs_json_describes_each_lab_for_scripts() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[labs]\nseed = [\"lab1\", \"lab3\"]\n");
    let run = workspace.run(&["labs", "--json"]).success();
    let labs: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let labs = labs.as_array().unwrap();
    assert_eq!(labs.len(), 6);
    let lab3 = labs.iter().find(|lab| lab["id"] == "lab3").unwrap();
    assert_eq!(lab3["target"], "/root/work/db");
    assert_eq!(lab3["seeded"], true);
    assert_eq!(lab3["networks"][0]["name"], "todoapp");
    assert_eq!(lab3["stacks"][0]["name"], "todo_mysql");
    assert!(lab3["images"].as_array().unwrap().contains(&serde_json::json!("mysql:5.7")));
    let lab2 = labs.iter().find(|lab| lab["id"] == "lab2").unwrap();
    assert_eq!(lab2["seeded"], false);
    assert_eq!(lab2["target"], serde_json::Value::Null);
}

#[test]
fn one_lab_by_alias_or_directory() {
    let workspace = Workspace::new();
    let by_alias = workspace.run(&["labs", "ingress"]).success().stdout;
    let by_dir = workspace.run(&["labs", "/root/work/ingress"]).success().stdout;
    assert_eq!(by_alias, by_dir);
    assert!(by_alias.starts_with("lab1: "), "{by_alias}");
    assert!(by_alias.contains("network:     ch03 (overlay, attachable)"), "{by_alias}");
    let quiz = workspace.run(&["labs", "work3"]).success().stdout;
    assert!(quiz.contains("instructor only (never seeded): solution/"), "{quiz}");
    let db = workspace.run(&["labs", "lab3"]).success().stdout;
    assert!(db.contains("\n  0755 add-server-id.sh\n"), "seeded modes as chmod takes them: {db}");
    assert!(db.contains("\n  0644 sql/01_ddl.sql\n"), "{db}");
}

#[test]
fn unknown_lab_lists_labs_and_suggests() {
    let error = Workspace::new().run(&["labs", "lab33"]).single_error();
    assert!(error.starts_with("\"lab33\" is not a lab; did you mean \"lab3\"? Labs: lab1 (ingress)"), "{error}");
}

#[test]
fn handouts_in_korean_and_english() {
    let workspace = Workspace::new();
    let korean = workspace.run(&["labs", "lab1", "--handout"]).success().stdout;
    let english = workspace.run(&["labs", "lab1", "--handout", "en"]).success().stdout;
    assert!(korean.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)), "Korean handout has Hangul");
    assert!(english.contains("docker tag"), "{english}");
    assert!(!english.contains("docker build tag"));
    // The flag's optional value takes the next word: `--handout lab1` names the lab.
    assert_eq!(workspace.run(&["labs", "--handout", "lab1"]).success().stdout, korean);
    assert_eq!(workspace.run(&["labs", "--handout", "en", "lab1"]).success().stdout, english);
    let error = workspace.run(&["labs", "lab1", "--handout", "fr"]).single_error();
    assert_eq!(error, "--handout \"fr\": the language is ko or en, e.g. `labctl labs lab1 --handout en`");
    let error = workspace.run(&["labs", "--handout", "en"]).single_error();
    assert_eq!(error, "--handout needs a lab: `labctl labs LAB --handout en`");
}

#[test]
fn a_workspace_lab_joins_the_catalog() {
    let workspace = with_lab9_in("extra");
    let run = workspace.run(&["labs"]).success();
    assert!(
        run.stdout.lines().any(|line| line.starts_with("lab9") && line.contains("/root/work/extra")),
        "{}",
        run.stdout
    );
}

#[test]
fn labs_columns_line_up_with_korean_text() {
    // A Korean folder name takes two terminal columns a syllable: the TITLE
    // column still starts at the same place on every row.
    let workspace = with_lab9_in("실습");
    let run = workspace.run(&["labs"]).success();
    assert!(run.stdout.contains("/root/work/실습  "), "{}", run.stdout);
    let title_column = |line: &str| {
        let (before, _) = line.rsplit_once("  ").unwrap_or_else(|| panic!("no columns in {line:?}"));
        before.chars().map(|c| if ('가'..='힣').contains(&c) { 2 } else { 1 }).sum::<usize>() + 2
    };
    let columns: Vec<usize> = run.stdout.lines().map(title_column).collect();
    assert!(columns.iter().all(|column| *column == columns[0]), "{columns:?}\n{}", run.stdout);
}

/// A workspace with its own lab, lab9, seeded to `/root/work/<dir>`.
fn with_lab9_in(dir: &str) -> Workspace {
    let workspace = Workspace::new();
    let manifest =
        format!("id = \"lab9\"\ntitle = \"Extra\"\ntitle_ko = \"추가\"\ndir = \"{dir}\"\nfiles = [\"stack.yml\"]\n");
    workspace
        .file("labs/lab9/lab.toml", &manifest)
        .file("labs/lab9/stack.yml", "services: {}\n")
        .file("labs/lab9/README.md", "# 추가\n")
        .file("labs/lab9/README.en.md", "# Extra\n");
    workspace
}
