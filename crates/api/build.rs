//! Records the git commit and build time of the tree being built, so that
//! `/version` and `balena-engine version` can report them. The build time is
//! the commit time (or `SOURCE_DATE_EPOCH`), never "now", so builds are
//! reproducible and do not re-run on every invocation.
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let commit = std::env::var("BALENA_ENGINE_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "--short=7", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    let build_time = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => git(&["log", "-1", "--format=%cI", &format!("--before=@{epoch}")])
            .unwrap_or_else(|| format!("@{epoch}")),
        Err(_) => git(&["log", "-1", "--format=%cI"]).unwrap_or_default(),
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BALENA_ENGINE_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BALENA_ENGINE_BUILD_TIME={build_time}");
    println!("cargo:rustc-env=BALENA_ENGINE_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-env-changed=BALENA_ENGINE_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // HEAD moves on commit and checkout; refs under it move on commit.
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
}
