use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::RenderArgs;
use crate::config::Cluster;
use crate::files::Outcome;
use crate::provider::vagrant::environment;
use crate::provider::Preparation;

pub fn run(context: &Context, args: &RenderArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let templates = context.templates()?;
    let out = args.out.clone().map(|dir| context.workspace.join(dir)).unwrap_or_else(|| context.vagrant_dir());
    let preparation = environment::prepare(&Cluster::new(&settings, &catalog)?, &templates, &out)?;
    for name in templates.overridden() {
        context.ui.note(&format!("using templates/{name} from the workspace instead of the built-in one"));
    }

    let outcomes = preparation.write()?;
    show_written(context, &preparation, &outcomes);

    let unchanged = outcomes.iter().filter(|(_, outcome)| *outcome == Outcome::Unchanged).count();
    let summary = match unchanged {
        0 => String::new(),
        n if n == outcomes.len() => " (all unchanged)".to_string(),
        n => format!(" ({n} unchanged)"),
    };
    context.ui.done(&format!(
        "rendered {} files into {}{summary}",
        outcomes.len(),
        shown_folder(context, &preparation)
    ));
    Ok(ExitCode::SUCCESS)
}

/// What a provider's preparation wrote: a warning for each hand-edited file
/// that was kept as a backup, and (with `-v`) every file.
pub fn show_written(context: &Context, preparation: &Preparation, outcomes: &[(PathBuf, Outcome)]) {
    let shown = shown_folder(context, preparation);
    for (path, outcome) in outcomes {
        if let Outcome::BackedUp(backup) = outcome {
            context.ui.warn(&format!(
                "{shown}/{} had been edited by hand; your version is kept as {}",
                path.display(),
                backup.strip_prefix(&preparation.folder).unwrap_or(backup).display()
            ));
        }
        context.ui.detail(&format!("{:?}: {shown}/{}", outcome, path.display()));
    }
}

/// What a provider's preparation would write (a dry run), one line a file
/// on stdout: a plan is data.
pub fn show_planned(context: &Context, preparation: &Preparation) {
    let shown = shown_folder(context, preparation);
    for (path, outcome) in preparation.planned() {
        let what = match outcome {
            Outcome::Unchanged => {
                context.ui.detail(&format!("unchanged: {shown}/{}", path.display()));
                continue;
            }
            Outcome::Created => "new".to_string(),
            Outcome::Updated => "updated".to_string(),
            Outcome::BackedUp(backup) => format!(
                "edited by hand: your version would be kept as {}",
                backup.strip_prefix(&preparation.folder).unwrap_or(&backup).display()
            ),
        };
        context.ui.print(&format!("would write {shown}/{} ({what})\n", path.display()));
    }
}

/// The folder as the user names it: relative to the workspace when inside it.
fn shown_folder(context: &Context, preparation: &Preparation) -> String {
    let folder = &preparation.folder;
    folder.strip_prefix(&context.workspace).unwrap_or(folder).display().to_string()
}
