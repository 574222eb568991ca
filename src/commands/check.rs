use std::process::ExitCode;

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::Context;
use crate::cli::{CheckArgs, Language};
use crate::labs::check::{self, Outcome};
use crate::provider::NodeShell;
use crate::ui::Mark;

#[derive(Serialize)]
struct Report<'a> {
    lab: &'a str,
    passed: bool,
    checks: &'a [Outcome],
}

pub fn run(context: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let templates = context.templates()?;
    let lab = catalog.resolve(&args.lab).map_err(|message| anyhow!(message))?;
    if lab.manifest.checks.is_empty() {
        return Err(anyhow!("lab {} declares no checks in its lab.toml", lab.manifest.id));
    }
    let runner = context.runner(false);
    let (_, provider) = context.open_cluster(&settings, runner.as_ref(), None)?;
    let english = match args.lang {
        Some(language) => language == Language::En,
        None => lab.manifest.language == "en",
    };
    let outcomes =
        check::run_checks(lab, &settings, &templates, NodeShell::new(provider.as_ref(), runner.as_ref()), english)?;
    let passed = outcomes.iter().all(|outcome| outcome.passed);

    let text = if args.json {
        serde_json::to_string_pretty(&Report { lab: &lab.manifest.id, passed, checks: &outcomes })? + "\n"
    } else {
        let mut text = String::new();
        for outcome in &outcomes {
            let mark = context.ui.mark(if outcome.passed { Mark::Ok } else { Mark::Fail });
            text.push_str(&format!("{mark} {}: {}\n", outcome.name, outcome.detail));
            if !outcome.passed {
                text.push_str(&format!("    hint: {}\n", outcome.hint));
            }
        }
        let failed = outcomes.iter().filter(|outcome| !outcome.passed).count();
        text.push_str(&match failed {
            0 => format!("{}: all {} checks pass\n", lab.manifest.id, outcomes.len()),
            n => format!("{}: {n} of {} checks fail\n", lab.manifest.id, outcomes.len()),
        });
        text
    };
    context.ui.print(&text);
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
