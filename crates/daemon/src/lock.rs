//! Exclusive ownership of the pid file and the data root.
//!
//! Both are held with `flock`, so a daemon killed with `kill -9` releases
//! them with its last file descriptor and a restart never trips over a
//! stale lock; a second daemon on the same pid file or data root is
//! refused with the pid of the first.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "pid file found, ensure balena-engine is not running or delete {path} (held by pid {pid})"
    )]
    PidfileHeld { path: PathBuf, pid: String },
    #[error("data root {path} is in use by another balena-engine-daemon (pid {pid})")]
    DataRootHeld { path: PathBuf, pid: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LockError {
    let path = path.to_path_buf();
    move |source| LockError::Io { op, path, source }
}

/// The held pid file; removed when dropped.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    _lock: Flock<File>,
}

impl Pidfile {
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("create pid file directory", dir))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("open pid file", path))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, _)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::PidfileHeld {
                    path: path.to_path_buf(),
                    pid: pid.trim().to_string(),
                });
            }
        };
        lock.set_len(0).map_err(io("truncate pid file", path))?;
        lock.rewind().map_err(io("write pid file", path))?;
        lock.write_all(format!("{}", std::process::id()).as_bytes())
            .map_err(io("write pid file", path))?;
        lock.sync_all().map_err(io("sync pid file", path))?;
        Ok(Self {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        // Remove while still holding the lock, so no other daemon's fresh
        // pid file can be removed by us.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The held data root lock (a `flock` on the directory itself: no file is
/// added to a data root that Docker or balenaEngine may also read).
#[derive(Debug)]
pub struct DataRootLock {
    _lock: Flock<File>,
}

impl DataRootLock {
    pub fn acquire(root: &Path, pidfile_hint: &Path) -> Result<Self, LockError> {
        std::fs::create_dir_all(root).map_err(io("create data root", root))?;
        let dir = File::open(root).map_err(io("open data root", root))?;
        match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Self { _lock: l }),
            Err(_) => Err(LockError::DataRootHeld {
                path: root.to_path_buf(),
                pid: owner_pid(root).unwrap_or_else(|| {
                    format!("unknown; its pid file is not {}", pidfile_hint.display())
                }),
            }),
        }
    }
}

/// Finds which process holds a lock on `path`, from /proc/locks.
fn owner_pid(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).ok()?;
    let (maj, min) = (
        nix::sys::stat::major(md.dev()),
        nix::sys::stat::minor(md.dev()),
    );
    let want = format!("{maj:02x}:{min:02x}:{}", md.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
        let dev_ino = f.get(5)?;
        (*dev_ino == want || dev_ino.eq_ignore_ascii_case(&want))
            .then(|| f.get(4).map(|p| p.to_string()))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_pidfile_lock_is_refused_with_the_first_pid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run/e.pid");
        let first = Pidfile::acquire(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            std::process::id().to_string()
        );
        let err = Pidfile::acquire(&p).unwrap_err();
        assert!(
            matches!(&err, LockError::PidfileHeld { pid, .. } if *pid == std::process::id().to_string())
        );
        assert!(err
            .to_string()
            .starts_with("pid file found, ensure balena-engine is not running"));
        drop(first);
        assert!(!p.exists());
        let _again = Pidfile::acquire(&p).unwrap();
    }

    #[test]
    fn second_data_root_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let first = DataRootLock::acquire(&root, Path::new("/x.pid")).unwrap();
        let err = DataRootLock::acquire(&root, Path::new("/x.pid")).unwrap_err();
        assert!(
            matches!(&err, LockError::DataRootHeld { pid, .. } if *pid == std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        let _again = DataRootLock::acquire(&root, Path::new("/x.pid")).unwrap();
    }
}
