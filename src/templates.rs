//! Every generated file comes from a Tera template. Templates are built into
//! the binary; a file of the same name under `<workspace>/templates/`
//! replaces the built-in one, so instructors can customise without a rebuild.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::{anyhow, Context, Result};
use include_dir::{include_dir, Dir};
use tera::{Tera, Value};

static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

pub const OVERRIDE_DIR: &str = "templates";

pub struct Templates {
    tera: Tera,
    /// Template name → where it came from, for error messages.
    origins: BTreeMap<String, TemplateOrigin>,
    /// Files under templates/ whose name matches no built-in template.
    pub unused_overrides: Vec<PathBuf>,
    /// Node scripts rendered so far: each is rendered once per run.
    node_scripts: Mutex<HashMap<String, String>>,
}

#[derive(Debug, Clone)]
enum TemplateOrigin {
    BuiltIn,
    Workspace { path: PathBuf, source: String },
}

impl Templates {
    pub fn load(workspace: &Path) -> Result<Templates> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("sh", shell_filter);
        tera.register_filter("ruby", ruby_filter);

        let mut sources: BTreeMap<String, (String, TemplateOrigin)> = BTreeMap::new();
        collect_built_in(&BUILT_IN, &mut sources);
        let mut unused_overrides = Vec::new();
        let override_root = workspace.join(OVERRIDE_DIR);
        if override_root.is_dir() {
            for path in files_under(&override_root)? {
                let name = path.strip_prefix(&override_root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                if !sources.contains_key(&name) {
                    unused_overrides.push(path);
                    continue;
                }
                let source =
                    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                sources.insert(name, (source.clone(), TemplateOrigin::Workspace { path, source }));
            }
        }

        let mut origins = BTreeMap::new();
        for (name, (source, origin)) in sources {
            tera.add_raw_template(&name, &source).map_err(|error| anyhow!(describe(&name, &origin, &error)))?;
            origins.insert(name, origin);
        }
        Ok(Templates { tera, origins, unused_overrides, node_scripts: Mutex::default() })
    }

    /// Names of the templates that a workspace file replaced.
    pub fn overridden(&self) -> Vec<&str> {
        let overridden = self.origins.iter().filter(|(_, origin)| matches!(origin, TemplateOrigin::Workspace { .. }));
        overridden.map(|(name, _)| name.as_str()).collect()
    }

    /// Template names under a folder (`provision/`), sorted.
    pub fn names_under(&self, folder: &str) -> Vec<&str> {
        self.origins.keys().map(String::as_str).filter(|name| name.starts_with(folder)).collect()
    }

    /// Render a template; the text always ends with a newline.
    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String> {
        let mut text = self.tera.render(name, context).map_err(|error| {
            let origin = self.origins.get(name).cloned().unwrap_or(TemplateOrigin::BuiltIn);
            anyhow!(describe(name, &origin, &error))
        })?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(text)
    }

    /// A script labctl runs on nodes as `sh -c SCRIPT NAME ARG…` (a
    /// `node/*.sh.tera` template that needs only `labctl_version`): its
    /// values come as positional arguments, never pasted into the text.
    /// Rendered on first use, then reused for the rest of the run.
    pub fn node_script(&self, name: &str) -> Result<String> {
        let mut rendered = self.node_scripts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(script) = rendered.get(name) {
            return Ok(script.clone());
        }
        let mut context = tera::Context::new();
        context.insert("labctl_version", env!("CARGO_PKG_VERSION"));
        let script = self.render(name, &context)?;
        rendered.insert(name.to_string(), script.clone());
        Ok(script)
    }
}

fn collect_built_in(dir: &'static Dir<'static>, out: &mut BTreeMap<String, (String, TemplateOrigin)>) {
    for file in dir.files() {
        let name = file.path().to_string_lossy().replace('\\', "/");
        let source = file.contents_utf8().unwrap_or_default().to_string();
        out.insert(name, (source, TemplateOrigin::BuiltIn));
    }
    for sub in dir.dirs() {
        collect_built_in(sub, out);
    }
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_under(&path)?);
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// One line: `templates/Vagrantfile.tera:12:5: what went wrong`.
fn describe(name: &str, origin: &TemplateOrigin, error: &tera::Error) -> String {
    let (label, source) = match origin {
        TemplateOrigin::BuiltIn => (format!("built-in template {name} (a labctl bug, please report it)"), None),
        TemplateOrigin::Workspace { path, source } => (path.display().to_string(), Some(source.as_str())),
    };
    let mut messages = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        messages.push(err.to_string());
        current = err.source();
    }
    let innermost = messages.last().cloned().unwrap_or_default();

    // Parse errors carry pest's " --> line:col" and an "= expected …" line.
    if let Some(at) = innermost.find("--> ") {
        let position = innermost[at + 4..].split_whitespace().next().unwrap_or_default();
        let expected = innermost.lines().find_map(|line| line.trim().strip_prefix("= ")).unwrap_or("syntax error");
        return format!("{label}:{position}: {expected}");
    }
    let message = innermost.split_whitespace().collect::<Vec<_>>().join(" ");
    match source.and_then(|source| line_of_backticked_name(source, &message)) {
        Some(line) => format!("{label}:{line}: {message}"),
        None => format!("{label}: {message}"),
    }
}

/// Render errors name the variable or filter in backticks but give no line;
/// find the first template tag that mentions it.
fn line_of_backticked_name(source: &str, message: &str) -> Option<usize> {
    let name = message.split('`').nth(1)?;
    source
        .lines()
        .position(|line| (line.contains("{{") || line.contains("{%")) && line.contains(name))
        .map(|index| index + 1)
}

/// `{{ value | sh }}`: one word for a POSIX shell.
fn shell_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(crate::exec::shell_quote(&plain_text(value)?)))
}

/// `{{ value | ruby }}`: a single-quoted Ruby string literal (no interpolation).
fn ruby_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = plain_text(value)?;
    Ok(Value::String(format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))))
}

fn plain_text(value: &Value) -> tera::Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(tera::Error::msg(format!("expected text, got {other}"))),
    }
}

#[cfg(test)]
mod node_script_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(OVERRIDE_DIR).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn filters_quote_for_shell_and_ruby() {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let mut tera = templates.tera;
        let mut context = tera::Context::new();
        context.insert("v", "it's $HOME\\x");
        let out = tera.render_str("{{ v | sh }} {{ v | ruby }}", &context).unwrap();
        assert_eq!(out, r#"'it'\''s $HOME\x' 'it\'s $HOME\\x'"#);
    }

    #[test]
    #[allow(clippy::disallowed_macros)] // says why it is skipped
    fn node_scripts_pass_shellcheck() {
        use crate::exec::{CommandSpec, RealRunner, Runner};
        if crate::exec::find_program("shellcheck").is_none() {
            assert!(std::env::var_os("CI").is_none(), "CI must have shellcheck (apt-get install shellcheck)");
            eprintln!("SKIPPED: shellcheck is not installed");
            return;
        }
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let mut context = tera::Context::new();
        context.insert("labctl_version", "test");
        context.insert("state_dir", "/var/lib/labctl");
        // node/incus-init.sh's own.
        context.insert("cluster", "cls");
        context.insert("node", "manager");
        context.insert("address", "192.168.56.10/24");
        context.insert("gateway", "192.168.56.1");
        context.insert("hosts", &serde_json::json!([{ "ip": "192.168.56.10", "name": "manager" }]));
        context.insert("dockerd", "dockerd '--host=unix:///var/run/docker.sock'");
        context.insert("log_mb", &10);
        let dir = tempfile::tempdir().unwrap();
        let ui = crate::ui::Ui::new(crate::ui::Verbosity::Quiet);
        let runner = RealRunner::new(ui, std::sync::Arc::default());
        let folders = ["node/", "host/"].into_iter().flat_map(|folder| templates.names_under(folder));
        let scripts = folders.filter(|name| name.ends_with(".sh.tera"));
        let names: Vec<&str> = scripts.collect();
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            let path = dir.path().join(name.replace('/', "-"));
            std::fs::write(&path, templates.render(name, &context).unwrap()).unwrap();
            let lint = CommandSpec::new("shellcheck", &[path.to_str().unwrap()], "lint");
            let output = runner.run(&lint.timeout(std::time::Duration::from_secs(60))).unwrap();
            assert!(output.success(), "{name}: {}", output.stdout);
        }
    }

    #[test]
    fn workspace_file_overrides_built_in_and_strays_are_reported() {
        let dir = workspace_with(&[("Vagrantfile.tera", "custom {{ 1 + 1 }}"), ("Vagrantfile.tear", "typo")]);
        let templates = Templates::load(dir.path()).unwrap();
        assert_eq!(templates.overridden(), vec!["Vagrantfile.tera"]);
        assert_eq!(templates.render("Vagrantfile.tera", &tera::Context::new()).unwrap(), "custom 2\n");
        assert_eq!(templates.unused_overrides, vec![dir.path().join("templates/Vagrantfile.tear")]);
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let dir = workspace_with(&[("Vagrantfile.tera", "line one\n{% if %}\n")]);
        let error = Templates::load(dir.path()).err().unwrap().to_string();
        let expected_prefix = format!("{}:2:", dir.path().join("templates/Vagrantfile.tera").display());
        assert!(error.starts_with(&expected_prefix), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn render_error_names_file_and_line_of_the_variable() {
        let dir = workspace_with(&[("Vagrantfile.tera", "a\nb\n{{ no_such_value }}\n")]);
        let templates = Templates::load(dir.path()).unwrap();
        let error = templates.render("Vagrantfile.tera", &tera::Context::new()).unwrap_err().to_string();
        let expected_prefix = format!("{}:3: ", dir.path().join("templates/Vagrantfile.tera").display());
        assert!(error.starts_with(&expected_prefix), "{error}");
        assert!(error.contains("no_such_value"), "{error}");
    }
}
