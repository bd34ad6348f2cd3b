//! The balena-engine multi-call binary.
//!
//! The role is chosen from the basename of argv[0] before anything else
//! runs: no thread, no async runtime and no allocator-heavy setup happens
//! here, so roles that must fork or clone (the runtime, the shim) start from
//! a single-threaded process.
//!
//! # Layout
//! - [`Role`] and [`role_for`]: the name → role table.
//! - `install_links`: `balena-engine --install-links DIR` creates the
//!   symlinks for every role name.

use std::ffi::OsString;
use std::path::Path;

/// What this process is, by the name it was started under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Cli,
    Daemon,
    Runc,
    Proxy,
    /// The per-container shim (internal; started by the daemon).
    Shim,
}

/// Every name we answer to, for `--install-links`.
const LINK_NAMES: &[&str] = &[
    "balena",
    "balena-engine-daemon",
    "balenad",
    "balena-engine-runc",
    "balena-runc",
    "balena-engine-proxy",
    "balena-proxy",
];

fn role_for(name: &str) -> Option<Role> {
    match name {
        "balena-engine" | "balena" => Some(Role::Cli),
        "balena-engine-daemon" | "balenad" => Some(Role::Daemon),
        "balena-engine-runc" | "balena-runc" => Some(Role::Runc),
        // docker-proxy: the name dockerd's --userland-proxy-path usually
        // points at; answered, not installed (it would shadow Docker's).
        "balena-engine-proxy" | "balena-proxy" | "docker-proxy" => Some(Role::Proxy),
        "balena-engine-shim" => Some(Role::Shim),
        _ => None,
    }
}

/// The runc applet clones itself into containers, so (like the shim) it
/// must run from a read-only view of the binary (CVE-2019-5736): re-execute
/// once through the daemon's protection. Failing that, carry on: the
/// applet still works, unprotected, as youki's library does by default.
fn protect_runc() {
    const MARK: &str = "_BALENA_ENGINE_RUNC_PROTECTED";
    if std::env::var_os(MARK).is_some() {
        std::env::remove_var(MARK);
        return;
    }
    let Ok(exe) = engine::shimexe::ShimExe::open() else {
        return;
    };
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let err = std::process::Command::new(exe.path())
        .arg0(argv0)
        .args(args)
        .env(MARK, "1")
        .exec();
    eprintln!("balena-engine-runc: re-executing read-only: {err}");
}

fn basename(argv0: &OsString) -> String {
    Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Creates `DIR/NAME -> <this executable>` for every role name; existing
/// links are replaced, other files are left alone and reported.
fn install_links(dir: &Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("find own executable: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    for name in std::iter::once(&"balena-engine").chain(LINK_NAMES) {
        let link = dir.join(name);
        if link == exe {
            continue;
        }
        match std::fs::symlink_metadata(&link) {
            Ok(md) if md.file_type().is_symlink() => std::fs::remove_file(&link)
                .map_err(|e| format!("replace {}: {e}", link.display()))?,
            Ok(_) => {
                return Err(format!(
                    "{} exists and is not a symlink; not replacing it",
                    link.display()
                ))
            }
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&exe, &link)
            .map_err(|e| format!("link {}: {e}", link.display()))?;
        println!("{} -> {}", link.display(), exe.display());
    }
    Ok(())
}

fn main() {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.map(|a| a.to_string_lossy().into_owned()).collect();
    let name = basename(&argv0);
    let code = match role_for(&name) {
        Some(Role::Cli) if args.first().map(String::as_str) == Some("--install-links") => {
            match args.get(1) {
                Some(dir) => match install_links(Path::new(dir)) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("error: {e}");
                        1
                    }
                },
                None => {
                    eprintln!("usage: balena-engine --install-links DIR");
                    1
                }
            }
        }
        Some(Role::Cli) => cli::main(&args),
        Some(Role::Daemon) => daemon::main(&args),
        Some(Role::Shim) => shim::main(std::env::args_os().collect()),
        Some(Role::Runc) => {
            protect_runc();
            runc::main(std::env::args_os().collect())
        }
        Some(Role::Proxy) => network::proxy::main(args),
        None => {
            eprintln!("error: unknown command: {name}");
            1
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_name_has_its_role() {
        assert_eq!(role_for("balena-engine"), Some(Role::Cli));
        assert_eq!(role_for("balena"), Some(Role::Cli));
        assert_eq!(role_for("balena-engine-daemon"), Some(Role::Daemon));
        assert_eq!(role_for("balenad"), Some(Role::Daemon));
        assert_eq!(role_for("balena-engine-runc"), Some(Role::Runc));
        assert_eq!(role_for("balena-runc"), Some(Role::Runc));
        assert_eq!(role_for("balena-engine-proxy"), Some(Role::Proxy));
        assert_eq!(role_for("balena-proxy"), Some(Role::Proxy));
        assert_eq!(role_for("docker-proxy"), Some(Role::Proxy));
    }

    #[test]
    fn other_names_have_no_role() {
        for n in [
            "docker",
            "balena-engine-containerd",
            "",
            "Balena-Engine",
            "balena-engine.old",
        ] {
            assert_eq!(role_for(n), None, "{n}");
        }
    }

    #[test]
    fn basename_strips_directories() {
        assert_eq!(basename(&OsString::from("/usr/bin/balenad")), "balenad");
        assert_eq!(basename(&OsString::from("balena")), "balena");
        assert_eq!(
            basename(&OsString::from("./x/balena-engine")),
            "balena-engine"
        );
    }

    #[test]
    fn every_link_name_dispatches() {
        for n in LINK_NAMES {
            assert!(role_for(n).is_some(), "{n}");
        }
    }
}
