// Cargo reads a build script's instructions from its stdout.
#![allow(clippy::disallowed_macros)]
// The labs, templates and pages are embedded with include_dir, which cannot
// tell cargo about the files it reads on stable Rust: rebuild when they change.
// `labctl --version` names the commit it was built from (LABCTL_COMMIT):
// "unknown" when built outside a git checkout (a source tarball).
fn main() {
    println!("cargo:rerun-if-changed=labs");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=web");
    let commit = git(&["rev-parse", "--short=7", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|status| !status.is_empty());
    println!("cargo:rustc-env=LABCTL_COMMIT={commit}{}", if dirty { "+changes" } else { "" });
    // A new commit (HEAD or the branch it points at moves) rebuilds.
    for path in ["HEAD", "index"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "--quiet", "HEAD"]) {
        if let Some(file) = git(&["rev-parse", "--git-path", &branch]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
}

/// `git ARGS`' trimmed output, or `None` without git or a repository.
#[allow(clippy::disallowed_methods)] // a build script, not labctl: no Runner here
fn git(args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git").args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
