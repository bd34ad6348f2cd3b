//! `--user` / `--group-add` resolution against the image's /etc/passwd and
//! /etc/group, with runc's `libcontainer/user` semantics.
//!
//! Hand-written: the passwd/group formats are tiny, and the available crates
//! (`users`, `nix::unistd::User`) read the *host's* databases through libc.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::types::User;
use crate::SpecError;

/// Largest /etc/passwd or /etc/group read from a rootfs.
pub const MAX_DB_FILE_BYTES: u64 = 1 << 20;

const MAX_ID: i64 = (1 << 31) - 1;
const ERR_RANGE: &str = "uids and gids must be in range 0-2147483647";
const NO_PASSWD: &str = "no matching entries in passwd file";
const NO_GROUP: &str = "no matching entries in group file";

/// One /etc/passwd line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id (unparsable = 0, as runc).
    pub uid: i64,
    /// Primary group id (unparsable = 0, as runc).
    pub gid: i64,
    /// Home directory.
    pub home: String,
}

/// One /etc/group line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id (unparsable = 0, as runc).
    pub gid: i64,
    /// Member login names.
    pub members: Vec<String>,
}

/// Go's `strconv.Atoi` with the error ignored, as runc's `parseLine` does.
fn atoi(s: &str) -> i64 {
    s.parse().unwrap_or(0)
}

fn lines(data: &[u8]) -> impl Iterator<Item = &str> {
    data.split(|&b| b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// Parses /etc/passwd content (runc: blank lines skipped, comments are not).
pub fn parse_passwd(data: &[u8]) -> Vec<PasswdEntry> {
    lines(data)
        .map(|l| {
            let f: Vec<&str> = l.splitn(8, ':').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            PasswdEntry {
                name: get(0).to_string(),
                uid: atoi(get(2)),
                gid: atoi(get(3)),
                home: get(5).to_string(),
            }
        })
        .collect()
}

/// Parses /etc/group content (blank and `#` lines skipped).
pub fn parse_group(data: &[u8]) -> Vec<GroupEntry> {
    lines(data)
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, ':').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            let list = get(3);
            GroupEntry {
                name: get(0).to_string(),
                gid: atoi(get(2)),
                members: if list.is_empty() {
                    Vec::new()
                } else {
                    list.split(',').map(str::to_string).collect()
                },
            }
        })
        .collect()
}

/// Resolves `user` ("", "name", "uid", "name:group", "uid:gid", ...) and
/// `group_add` from already-read passwd/group contents (`None` = file absent).
/// Pure; the fuzz entry point.
pub fn resolve_user_from(
    user: &str,
    group_add: &[String],
    passwd: Option<&[u8]>,
    group: Option<&[u8]>,
) -> Result<User, SpecError> {
    let mut parts = user.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_num = user_arg.parse::<i64>().ok();
    let gid_num = group_arg.parse::<i64>().ok();

    let users = passwd.map(parse_passwd).unwrap_or_default();
    let matched = users.iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if let Some(n) = uid_num {
            u.uid == n
        } else {
            u.name == user_arg
        }
    });

    let (mut uid, mut gid) = (0i64, 0i64);
    let mut sgids: Vec<i64> = Vec::new();
    let mut matched_name = "";
    if let Some(u) = matched {
        matched_name = &u.name;
        uid = u.uid;
        gid = u.gid;
    } else if !user_arg.is_empty() {
        let Some(n) = uid_num else {
            return Err(SpecError::User(format!(
                "unable to find user {user_arg}: {NO_PASSWD}"
            )));
        };
        if !(0..=MAX_ID).contains(&n) {
            return Err(SpecError::User(ERR_RANGE.into()));
        }
        uid = n;
    }

    if !group_arg.is_empty() || !matched_name.is_empty() {
        let groups = group.map(parse_group).unwrap_or_default();
        if !group_arg.is_empty() {
            let found = groups.iter().find(|g| match gid_num {
                Some(n) => g.gid == n,
                None => g.name == group_arg,
            });
            if let Some(g) = found {
                gid = g.gid;
            } else {
                let Some(n) = gid_num else {
                    return Err(SpecError::User(format!(
                        "unable to find group {group_arg}: {NO_GROUP}"
                    )));
                };
                if !(0..=MAX_ID).contains(&n) {
                    return Err(SpecError::User(ERR_RANGE.into()));
                }
                gid = n;
            }
        } else {
            sgids = groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == matched_name))
                .map(|g| g.gid)
                .collect();
        }
    }

    // runc's GetAdditionalGroups; first match per requested group, deduplicated
    // (runc returns them in map order; we keep request order).
    let mut added: Vec<i64> = Vec::new();
    if !group_add.is_empty() {
        let groups = group.map(parse_group).unwrap_or_default();
        for ag in group_add {
            let found = groups
                .iter()
                .filter(|g| g.name == *ag || g.gid.to_string() == *ag)
                .find(|g| !added.contains(&g.gid));
            if let Some(g) = found {
                added.push(g.gid);
                continue;
            }
            let Ok(n) = ag.parse::<i64>() else {
                return Err(SpecError::User(format!(
                    "Unable to find group {ag}: {NO_GROUP}"
                )));
            };
            if !(0..=MAX_ID).contains(&n) {
                return Err(SpecError::User(ERR_RANGE.into()));
            }
            if !added.contains(&n) {
                added.push(n);
            }
        }
    }
    sgids.extend(added);

    // Docker converts with uint32(); ids from files may be out of range.
    let to_u32 = |v: i64| v as u32;
    Ok(User {
        uid: to_u32(uid),
        gid: to_u32(gid),
        additional_gids: sgids.into_iter().map(to_u32).collect(),
    })
}

/// Resolves `--user` and `--group-add` against `rootfs`'s /etc/passwd and
/// /etc/group. The files are opened with symlinks resolved *inside* the
/// rootfs (`openat2(RESOLVE_IN_ROOT)`), must be regular files, and are read
/// up to [`MAX_DB_FILE_BYTES`]; a missing file is treated like runc does.
pub fn resolve_user(rootfs: &Path, user: &str, group_add: &[String]) -> Result<User, SpecError> {
    let passwd = read_in_root(rootfs, "etc/passwd")?;
    let group = read_in_root(rootfs, "etc/group")?;
    resolve_user_from(user, group_add, passwd.as_deref(), group.as_deref())
}

fn open_in_root(rootfs: &Path, rel: &str) -> Result<Option<OwnedFd>, SpecError> {
    let io_err = |e: std::io::Error| SpecError::RootfsRead {
        rootfs: rootfs.to_path_buf(),
        path: rel.to_string(),
        source: e,
    };
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(e.into()))?;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    match rustix::fs::openat2(
        &root,
        rel,
        flags,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOSYS) => open_in_root_fallback(rootfs, rel, flags).map_err(io_err),
        // runc ignores every open error (the file is then "absent").
        Err(_) => Ok(None),
    }
}

/// For kernels before 5.6 (no openat2): resolve the path component by
/// component, reading symlinks ourselves and clamping them to the rootfs.
/// Not race-free against a concurrently modified rootfs, which is acceptable
/// for an image rootfs the engine owns.
fn open_in_root_fallback(
    rootfs: &Path,
    rel: &str,
    flags: OFlags,
) -> std::io::Result<Option<OwnedFd>> {
    let mut pending: Vec<String> = rel.split('/').rev().map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let mut p = rootfs.to_path_buf();
        p.extend(&resolved);
        p.push(&c);
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Ok(None);
                }
                let target = std::fs::read_link(&p)?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
            }
            Ok(_) => resolved.push(c),
            Err(_) => return Ok(None),
        }
    }
    let mut p = rootfs.to_path_buf();
    p.extend(&resolved);
    match rustix::fs::open(&p, flags | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(_) => Ok(None),
    }
}

fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<Vec<u8>>, SpecError> {
    let Some(fd) = open_in_root(rootfs, rel)? else {
        return Ok(None);
    };
    let io_err = |e: std::io::Error| SpecError::RootfsRead {
        rootfs: rootfs.to_path_buf(),
        path: rel.to_string(),
        source: e,
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| io_err(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(None);
    }
    let mut buf = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_DB_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > MAX_DB_FILE_BYTES {
        return Err(SpecError::RootfsFileTooLarge {
            rootfs: rootfs.to_path_buf(),
            path: rel.to_string(),
            limit: MAX_DB_FILE_BYTES,
        });
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\n\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &[u8] =
        b"root:x:0:root\n# comment\nwheel:x:10:root,alice\naudio:x:29:alice\nalice:x:1000:\n";

    fn r(user: &str, add: &[&str]) -> Result<User, SpecError> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_user_from(user, &add, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn empty_user_is_root_with_root_memberships() {
        let u = r("", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (0, 0, vec![0, 10]));
    }

    #[test]
    fn name_gets_primary_and_supplementary_groups() {
        let u = r("alice", &[]).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids),
            (1000, 1000, vec![10, 29])
        );
    }

    #[test]
    fn explicit_group_sets_gid_and_no_supplementary() {
        let u = r("alice:audio", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 29));
        assert!(u.additional_gids.is_empty());
        let u = r("1000:5", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 5));
    }

    #[test]
    fn unknown_numeric_uid_is_accepted() {
        let u = r("4242", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert!(u.additional_gids.is_empty());
    }

    #[test]
    fn unknown_names_use_runc_messages() {
        assert_eq!(
            r("foo", &[]).unwrap_err().to_string(),
            "unable to find user foo: no matching entries in passwd file"
        );
        assert_eq!(
            r("alice:nogroup", &[]).unwrap_err().to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert_eq!(
            r("alice", &["nogroup"]).unwrap_err().to_string(),
            "Unable to find group nogroup: no matching entries in group file"
        );
        assert_eq!(r("-1", &[]).unwrap_err().to_string(), ERR_RANGE);
    }

    #[test]
    fn group_add_by_name_and_number() {
        let u = r("alice", &["audio", "4000", "wheel"]).unwrap();
        assert_eq!(u.additional_gids, vec![10, 29, 29, 4000, 10]);
    }

    #[test]
    fn missing_files_allow_numeric_ids_only() {
        let u = resolve_user_from("12:34", &["56".into()], None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (12, 34, vec![56]));
        assert!(resolve_user_from("bob", &[], None, None).is_err());
        let u = resolve_user_from("", &[], None, None).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
    }

    #[test]
    fn resolve_from_rootfs_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(d.path().join("etc/group"), GROUP).unwrap();
        let u = resolve_user(d.path(), "alice", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
    }

    #[test]
    fn symlinked_passwd_stays_inside_rootfs() {
        let outer = tempfile::tempdir().unwrap();
        // A "host" file outside the rootfs that must not be read.
        std::fs::write(outer.path().join("passwd"), b"evil:x:0:0::/:/bin/sh\n").unwrap();
        let root = outer.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        // In-root, /etc/../../passwd clamps to /passwd inside the rootfs.
        std::os::unix::fs::symlink("/etc/../../passwd", root.join("etc/passwd")).unwrap();
        assert_eq!(
            resolve_user(&root, "evil", &[]).unwrap_err().to_string(),
            "unable to find user evil: no matching entries in passwd file"
        );
        std::fs::write(root.join("passwd"), b"good:x:7:7::/:/bin/sh\n").unwrap();
        assert_eq!(resolve_user(&root, "good", &[]).unwrap().uid, 7);
        // The fallback resolver gives the same answers.
        let fd = open_in_root_fallback(&root, "etc/passwd", OFlags::RDONLY)
            .unwrap()
            .unwrap();
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        assert!(s.starts_with("good:"));
    }

    #[test]
    fn oversized_passwd_is_rejected() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            vec![b'a'; (MAX_DB_FILE_BYTES + 1) as usize],
        )
        .unwrap();
        assert!(matches!(
            resolve_user(d.path(), "1", &[]).unwrap_err(),
            SpecError::RootfsFileTooLarge { .. }
        ));
    }

    #[test]
    fn parsers_tolerate_garbage() {
        let p = parse_passwd(b"a:b:notanumber\n::\n\xff\xfe\n:::::::::::\n");
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].uid, 0);
        let g = parse_group(b"g:x:5:a,b,,c\n#x:y:1:\n");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].members, vec!["a", "b", "", "c"]);
    }
}
