//! `cp`: copies between a container and the local file system with the
//! docker CLI's rules (`cli/command/container/cp.go` and `pkg/archive`'s
//! `CopyInfo` logic): a directory source ending in `/.` copies its
//! contents, a destination that does not exist is created with the
//! source's content under its name, `-` is a tar stream on stdin/stdout.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::client::{Client, ClientError};
use crate::commands::enc;
use crate::{Env, Failure};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

// --------------------------------------------------------------- paths

/// `CONTAINER:PATH` or a local path (absolute, or starting with `.`, or
/// without a colon), as `splitCpArg`.
pub(crate) fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

fn has_trailing_sep(p: &str) -> bool {
    p.ends_with('/')
}

/// Go's `filepath.Base`.
fn base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn specifies_current_dir(p: &str) -> bool {
    base(p) == "."
}

/// Go's `filepath.Clean`.
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let j = out.join("/");
    match (abs, j.is_empty()) {
        (true, _) => format!("/{j}"),
        (false, true) => ".".into(),
        (false, false) => j,
    }
}

/// Go's `filepath.Dir`.
fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

/// `archive.SplitPathDirEntry`.
pub(crate) fn split_path_dir_entry(p: &str) -> (String, String) {
    let mut c = clean(p);
    if specifies_current_dir(p) {
        c.push_str("/.");
    }
    (dir(&c), base(&c))
}

/// `archive.PreserveTrailingDotOrSeparator`.
fn preserve_trailing(cleaned: &str, original: &str) -> String {
    let mut c = cleaned.to_string();
    if !specifies_current_dir(&c) && specifies_current_dir(original) {
        if !has_trailing_sep(&c) {
            c.push('/');
        }
        c.push('.');
    }
    if !has_trailing_sep(&c) && has_trailing_sep(original) {
        c.push('/');
    }
    c
}

fn resolve_local_path(p: &str) -> Result<String, Failure> {
    let abs = std::path::absolute(p).map_err(|e| Failure::new(1, format!("{p}: {e}")))?;
    Ok(preserve_trailing(&clean(&abs.to_string_lossy()), p))
}

/// `archive.GetRebaseName`.
fn get_rebase_name(path: &str, resolved: &str) -> (String, String) {
    let mut r = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&r) {
        r.push_str("/.");
    }
    if has_trailing_sep(path) && !has_trailing_sep(&r) {
        r.push('/');
    }
    let rebase = if base(path) != base(&r) {
        base(path)
    } else {
        String::new()
    };
    (r, rebase)
}

fn join(a: &str, b: &str) -> String {
    clean(&format!("{a}/{b}"))
}

#[derive(Debug, Clone, Default)]
struct CopyInfo {
    path: String,
    exists: bool,
    is_dir: bool,
    rebase_name: String,
}

/// `archive.PrepareArchiveCopy`: where to extract, and how to rename the
/// archive's first component (`(old, new)`, or None).
fn prepare_archive_copy(
    src: &CopyInfo,
    dst: &CopyInfo,
) -> Result<(String, Option<(String, String)>), String> {
    let (dst_dir, dst_base) = split_path_dir_entry(&dst.path);
    let (_, mut src_base) = split_path_dir_entry(&src.path);
    if !src.rebase_name.is_empty() {
        src_base = src.rebase_name.clone();
    }
    if dst.exists && dst.is_dir {
        return Ok((dst.path.clone(), None));
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory".into());
    }
    if !dst.exists && !src.is_dir && has_trailing_sep(&dst.path) {
        return Err("no such directory".into());
    }
    if !dst.exists && !src.is_dir && specifies_current_dir(&dst.path) {
        return Err("no such directory".into());
    }
    Ok((dst_dir, Some((src_base, dst_base))))
}

// ---------------------------------------------------------------- tars

fn rebase_name(name: &[u8], old: &str, new: &str) -> Vec<u8> {
    let old = if old == "/" { "" } else { old };
    let s = String::from_utf8_lossy(name);
    match s.find(old) {
        Some(i) if !old.is_empty() => {
            format!("{}{}{}", &s[..i], new, &s[i + old.len()..]).into_bytes()
        }
        _ if old.is_empty() => format!("{new}{s}").into_bytes(),
        _ => name.to_vec(),
    }
}

fn set_field(field: &mut [u8], v: &[u8]) {
    field.fill(0);
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
}

/// Appends one entry with raw name bytes (PAX records for long names).
fn append_raw<W: Write>(
    b: &mut tar::Builder<W>,
    mut h: tar::Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: impl Read,
) -> std::io::Result<()> {
    let mut pax: Vec<(&str, &[u8])> = Vec::new();
    if name.len() > 100 {
        pax.push(("path", name));
    }
    set_field(&mut h.as_old_mut().name, name);
    if let Some(l) = link {
        if l.len() > 100 {
            pax.push(("linkpath", l));
        }
        set_field(&mut h.as_old_mut().linkname, l);
    }
    if !pax.is_empty() {
        b.append_pax_extensions(pax)?;
    }
    h.set_cksum();
    b.append(&h, data)
}

/// A local tar of `path` as `TarResourceRebase(path, rebase)`: the entry
/// and, for a directory, everything under it (symlinks not followed),
/// named from its base name (`rebase` instead when given).
fn tar_local(path: &str, rebase: &str, out: impl Write) -> std::io::Result<()> {
    let (dir, b) = split_path_dir_entry(path);
    let mut builder = tar::Builder::new(out);
    let mut links = std::collections::HashMap::new();
    let top = Path::new(&dir).join(&b);
    let name = if rebase.is_empty() {
        b.clone()
    } else {
        rebase.to_string()
    };
    add_local(&mut builder, &top, name.as_bytes(), &mut links)?;
    builder.into_inner().map(|_| ())
}

fn add_local<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &[u8],
    links: &mut std::collections::HashMap<(u64, u64), Vec<u8>>,
) -> std::io::Result<()> {
    let m = std::fs::symlink_metadata(path)?;
    let ft = m.file_type();
    let mut h = tar::Header::new_gnu();
    h.set_mode(m.mode() & 0o177777);
    h.set_uid(u64::from(m.uid()));
    h.set_gid(u64::from(m.gid()));
    h.set_mtime(u64::try_from(m.mtime()).unwrap_or(0));
    h.set_size(0);
    if !ft.is_dir() && m.nlink() > 1 {
        if let Some(first) = links.get(&(m.dev(), m.ino())) {
            h.set_entry_type(tar::EntryType::Link);
            let first = first.clone();
            return append_raw(b, h, name, Some(&first), std::io::empty());
        }
        links.insert((m.dev(), m.ino()), name.to_vec());
    }
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        let mut dname = name.to_vec();
        if !dname.ends_with(b"/") {
            dname.push(b'/');
        }
        append_raw(b, h, &dname, None, std::io::empty())?;
        let mut kids: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        kids.sort();
        for k in kids {
            let mut n = dname.clone();
            n.extend_from_slice(k.as_bytes());
            add_local(b, &path.join(&k), &n, links)?;
        }
        Ok(())
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        let f = std::fs::File::open(path)?;
        h.set_size(m.len());
        append_raw(b, h, name, None, f.take(m.len()))
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let t = std::fs::read_link(path)?;
        append_raw(b, h, name, Some(t.as_os_str().as_bytes()), std::io::empty())
    } else if ft.is_fifo() {
        h.set_entry_type(tar::EntryType::Fifo);
        append_raw(b, h, name, None, std::io::empty())
    } else if ft.is_char_device() || ft.is_block_device() {
        h.set_entry_type(if ft.is_char_device() {
            tar::EntryType::Char
        } else {
            tar::EntryType::Block
        });
        let rdev = m.rdev();
        h.set_device_major(libc_major(rdev))?;
        h.set_device_minor(libc_minor(rdev))?;
        append_raw(b, h, name, None, std::io::empty())
    } else {
        Ok(())
    }
}

fn libc_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

fn libc_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

/// `archive.Untar` with `NoLchown` and `NoOverwriteDirNonDir` into
/// `dst_dir`, the first name component renamed by `rebase`. Names that
/// would leave `dst_dir` are refused by the tar crate's `unpack_in`.
fn untar_local(
    input: impl Read,
    dst_dir: &Path,
    rebase: Option<(String, String)>,
) -> Result<(), String> {
    let mut a = tar::Archive::new(input);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    let root = std::fs::canonicalize(dst_dir).map_err(|e| e.to_string())?;
    for e in a.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        let mut name = e.path_bytes().into_owned();
        let mut link = e.link_name_bytes().map(|l| l.into_owned());
        if let Some((old, new)) = &rebase {
            name = rebase_name(&name, old, new);
            if e.header().entry_type() == tar::EntryType::Link {
                link = link.map(|l| rebase_name(&l, old, new));
            }
        }
        let rel = safe_rel(&name)?;
        if rel.is_empty() {
            continue;
        }
        let target = root.join(&rel);
        let parent = target.parent().unwrap_or(&root).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
        let real = std::fs::canonicalize(&parent).map_err(|e| e.to_string())?;
        if !real.starts_with(&root) {
            return Err(format!(
                "{rel:?} would be written outside {}",
                root.display()
            ));
        }
        let is_dir = e.header().entry_type() == tar::EntryType::Directory;
        if let Ok(m) = std::fs::symlink_metadata(&target) {
            if m.is_dir() && !is_dir {
                return Err(format!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    target.display().to_string(),
                    dst_dir.display().to_string()
                ));
            }
            if !m.is_dir() && is_dir {
                return Err(format!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    target.display().to_string(),
                    dst_dir.display().to_string()
                ));
            }
            if !m.is_dir() {
                let _ = std::fs::remove_file(&target);
            }
        }
        if e.header().entry_type() == tar::EntryType::Link {
            let l = link.ok_or_else(|| format!("hard link {rel:?} without a target"))?;
            let src = root.join(safe_rel(&l)?);
            std::fs::hard_link(&src, &target).map_err(|e| format!("link {rel:?}: {e}"))?;
            continue;
        }
        e.unpack(&target).map_err(|e| format!("{rel}: {e}"))?;
    }
    Ok(())
}

/// A tar name as a relative path: `.` components dropped, absolute names
/// and `..` refused.
fn safe_rel(name: &[u8]) -> Result<String, String> {
    let s = String::from_utf8_lossy(name);
    if s.starts_with('/') {
        return Err(format!("invalid absolute name {s:?} in archive"));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("invalid name {s:?} in archive")),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

// --------------------------------------------------------------- client

fn decode_stat(h: &http::HeaderMap) -> Option<api::fs::PathStat> {
    let v = h.get("X-Docker-Container-Path-Stat")?.to_str().ok()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    serde_json::from_slice(&raw).ok()
}

fn not_found(ctr: &str, path: &str) -> Failure {
    Failure::new(1, format!("Error: No such container:path: {ctr}:{path}"))
}

fn daemon_err(e: ClientError) -> Failure {
    match e {
        ClientError::Daemon { message, .. } => {
            Failure::new(1, format!("Error response from daemon: {message}"))
        }
        e => e.into(),
    }
}

/// `HEAD .../archive`: the path's stat, None when it does not exist.
async fn stat_path(
    client: &mut Client,
    ctr: &str,
    path: &str,
) -> Result<Option<api::fs::PathStat>, Failure> {
    let url = format!("/containers/{}/archive?path={}", enc(ctr), enc(path));
    match client.request(Method::HEAD, &url, None).await {
        Ok(r) => Ok(decode_stat(&r.headers)),
        Err(ClientError::Daemon { status, .. }) if status == StatusCode::NOT_FOUND => {
            // The container itself may be missing: ask for it.
            if let Err(ClientError::Daemon { status, message }) =
                client.get(&format!("/containers/{}/json", enc(ctr))).await
            {
                if status == StatusCode::NOT_FOUND {
                    return Err(Failure::new(1, format!("Error: {message}")));
                }
            }
            Ok(None)
        }
        Err(e) => Err(daemon_err(e)),
    }
}

fn is_dir(s: &api::fs::PathStat) -> bool {
    s.mode & api::fs::go_mode::DIR != 0
}

fn is_symlink(s: &api::fs::PathStat) -> bool {
    s.mode & api::fs::go_mode::SYMLINK != 0
}

/// `balena-engine cp`.
pub async fn cp(env: &Env, a: CpArgs) -> Result<(), Failure> {
    let (sc, sp) = split_cp_arg(&a.src);
    let (dc, dp) = split_cp_arg(&a.dest);
    match (sc, dc) {
        (Some(c), None) => from_container(env, &a, c, sp, dp).await,
        (None, Some(c)) => to_container(env, &a, c, sp, dp).await,
        (Some(_), Some(_)) => Err(Failure::new(
            1,
            "copying between containers is not supported",
        )),
        (None, None) => Err(Failure::new(
            1,
            "must specify at least one container source",
        )),
    }
}

async fn from_container(
    env: &Env,
    a: &CpArgs,
    ctr: &str,
    src: &str,
    dst: &str,
) -> Result<(), Failure> {
    let dst = if dst == "-" {
        dst.to_string()
    } else {
        resolve_local_path(dst)?
    };
    let mut client = env.client()?;
    let mut src_path = src.to_string();
    let mut rebase = String::new();
    if a.follow_link {
        if let Some(st) = stat_path(&mut client, ctr, src).await? {
            if is_symlink(&st) {
                let mut t = st.link_target.clone();
                if !t.starts_with('/') {
                    let (parent, _) = split_path_dir_entry(src);
                    t = join(&parent, &t);
                }
                let (t, r) = get_rebase_name(src, &t);
                src_path = t;
                rebase = r;
            }
        }
    }
    let url = format!("/containers/{}/archive?path={}", enc(ctr), enc(&src_path));
    let empty = http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed();
    let resp = match client.stream(Method::GET, &url, empty, None).await {
        Ok(r) => r,
        Err(ClientError::Daemon { status, message }) if status == StatusCode::NOT_FOUND => {
            if message.starts_with("No such container") {
                return Err(Failure::new(1, format!("Error: {message}")));
            }
            return Err(not_found(ctr, &src_path));
        }
        Err(e) => return Err(daemon_err(e)),
    };
    let stat = decode_stat(resp.headers())
        .ok_or_else(|| Failure::new(1, "unable to get resource stat from response"))?;
    let body = resp.into_body();
    if dst == "-" {
        let mut out = tokio::io::stdout();
        return pump(body, &mut out).await;
    }
    let src_info = CopyInfo {
        path: src_path.clone(),
        exists: true,
        is_dir: is_dir(&stat),
        rebase_name: rebase.clone(),
    };
    let (rx, fwd) = forward(body);
    let r = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut input: Box<dyn Read> = Box::new(ChanReader {
            rx,
            cur: Bytes::new(),
        });
        let mut pre_rename: Option<(String, String)> = None;
        if !src_info.rebase_name.is_empty() {
            let (_, sb) = split_path_dir_entry(&src_info.path);
            pre_rename = Some((sb, src_info.rebase_name.clone()));
        }
        let dst_info = copy_info_destination(&dst)?;
        let (dst_dir, rename) = prepare_archive_copy(&src_info, &dst_info)?;
        // Both renames apply to the first component: compose them.
        let rename = match (pre_rename, rename) {
            (Some((o, _)), Some((_, n))) => Some((o, n)),
            (p, None) => p,
            (None, r) => r,
        };
        let res = untar_local(&mut input, Path::new(&dst_dir), rename);
        let _ = std::io::copy(&mut input, &mut std::io::sink());
        res
    })
    .await
    .map_err(|e| Failure::new(1, e.to_string()))?;
    fwd.abort();
    r.map_err(|e| Failure::new(1, format!("Error: {e}")))
}

/// `archive.CopyInfoDestinationPath`.
fn copy_info_destination(path: &str) -> Result<CopyInfo, String> {
    let mut p = path.to_string();
    let mut st = std::fs::symlink_metadata(&p);
    let mut n = 0;
    while let Ok(m) = &st {
        if !m.file_type().is_symlink() {
            break;
        }
        n += 1;
        if n > 10 {
            return Err(format!("too many symlinks in {path}"));
        }
        let t = std::fs::read_link(&p).map_err(|e| e.to_string())?;
        let t = t.to_string_lossy().into_owned();
        p = if t.starts_with('/') {
            t
        } else {
            let (parent, _) = split_path_dir_entry(&p);
            join(&parent, &t)
        };
        st = std::fs::symlink_metadata(&p);
    }
    match st {
        Ok(m) => Ok(CopyInfo {
            path: p,
            exists: true,
            is_dir: m.is_dir(),
            rebase_name: String::new(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (parent, _) = split_path_dir_entry(&p);
            let m = std::fs::metadata(&parent).map_err(|e| format!("stat {parent}: {e}"))?;
            if !m.is_dir() {
                return Err("not a directory".into());
            }
            Ok(CopyInfo {
                path: p,
                ..Default::default()
            })
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn to_container(
    env: &Env,
    a: &CpArgs,
    ctr: &str,
    src: &str,
    dst: &str,
) -> Result<(), Failure> {
    let src = if src == "-" {
        src.to_string()
    } else {
        resolve_local_path(src)?
    };
    let mut client = env.client()?;
    let mut dst_info = CopyInfo {
        path: dst.to_string(),
        ..Default::default()
    };
    let mut st = stat_path(&mut client, ctr, dst).await?;
    if let Some(s) = st.as_ref().filter(|s| is_symlink(s)) {
        let mut t = s.link_target.clone();
        if !t.starts_with('/') {
            let (parent, _) = split_path_dir_entry(dst);
            t = join(&parent, &t);
        }
        dst_info.path = t.clone();
        st = stat_path(&mut client, ctr, &t).await?;
    }
    if let Some(s) = &st {
        let m = s.mode;
        let irregular = m
            & (api::fs::go_mode::SYMLINK
                | api::fs::go_mode::DEVICE
                | api::fs::go_mode::NAMED_PIPE
                | api::fs::go_mode::SOCKET
                | api::fs::go_mode::CHAR_DEVICE)
            != 0;
        if irregular {
            return Err(Failure::new(
                1,
                format!("Error: destination \"{ctr}:{dst}\" must be a directory or a regular file"),
            ));
        }
        dst_info.exists = true;
        dst_info.is_dir = is_dir(s);
    }
    let (dst_dir, body) = if src == "-" {
        if !dst_info.is_dir {
            return Err(Failure::new(
                1,
                format!("Error: destination \"{ctr}:{dst}\" must be a directory"),
            ));
        }
        (
            dst_info.path.clone(),
            crate::client::reader_body(tokio::io::stdin()),
        )
    } else {
        let src_info = copy_info_source(&src, a.follow_link)
            .map_err(|e| Failure::new(1, format!("Error: {e}")))?;
        let (dst_dir, rename) = prepare_archive_copy(&src_info, &dst_info)
            .map_err(|e| Failure::new(1, format!("Error: {e}")))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let path = src_info.path.clone();
        let rebase = match &rename {
            Some((_, new)) => new.clone(),
            None => src_info.rebase_name.clone(),
        };
        std::thread::spawn(move || {
            let w = std::io::BufWriter::with_capacity(128 << 10, ChanWriter(tx.clone()));
            if let Err(e) = tar_local(&path, &rebase, w) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|r| (r.map(hyper::body::Frame::data), rx))
        });
        (dst_dir, http_body_util::StreamBody::new(stream).boxed())
    };
    let mut url = format!(
        "/containers/{}/archive?path={}&noOverwriteDirNonDir=true",
        enc(ctr),
        enc(&dst_dir)
    );
    if a.archive {
        url.push_str("&copyUIDGID=true");
    }
    let resp = client
        .stream(Method::PUT, &url, body, Some("application/x-tar"))
        .await
        .map_err(|e| match e {
            ClientError::Daemon { status, message } if status == StatusCode::NOT_FOUND => {
                if message.starts_with("No such container") {
                    Failure::new(1, format!("Error: {message}"))
                } else {
                    not_found(ctr, &dst_dir)
                }
            }
            e => daemon_err(e),
        })?;
    let _ = resp.into_body().collect().await;
    Ok(())
}

/// `archive.CopyInfoSourcePath`.
fn copy_info_source(path: &str, follow: bool) -> Result<CopyInfo, String> {
    let (resolved, rebase) = if follow {
        let r = std::fs::canonicalize(path).map_err(|e| format!("lstat {path}: {e}"))?;
        get_rebase_name(path, &r.to_string_lossy())
    } else {
        let (d, b) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let rd = std::fs::canonicalize(if d.is_empty() { "." } else { d })
            .map_err(|e| format!("lstat {path}: {e}"))?;
        let resolved = format!("{}/{}", rd.to_string_lossy().trim_end_matches('/'), b);
        let rebase = if has_trailing_sep(path) && base(path) != base(&resolved) {
            base(path)
        } else {
            String::new()
        };
        (resolved, rebase)
    };
    let m = std::fs::symlink_metadata(&resolved).map_err(|e| format!("lstat {resolved}: {e}"))?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: m.is_dir(),
        rebase_name: rebase,
    })
}

struct ChanWriter(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(b)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload ended"))?;
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct ChanReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// Forwards a response body to a channel a blocking reader drains.
fn forward(
    mut body: hyper::body::Incoming,
) -> (
    tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let h = tokio::spawn(async move {
        while let Some(f) = body.frame().await {
            match f {
                Ok(f) => {
                    if let Ok(d) = f.into_data() {
                        if tx.send(Ok(d)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    return;
                }
            }
        }
    });
    (rx, h)
}

/// Copies a response body to `out`.
pub(crate) async fn pump(
    mut body: hyper::body::Incoming,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> Result<(), Failure> {
    use tokio::io::AsyncWriteExt;
    while let Some(f) = body.frame().await {
        let f = f.map_err(|e| Failure::new(1, e.to_string()))?;
        if let Ok(d) = f.into_data() {
            out.write_all(&d)
                .await
                .map_err(|e| Failure::new(1, e.to_string()))?;
        }
    }
    out.flush()
        .await
        .map_err(|e| Failure::new(1, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_args_split_like_dockers() {
        assert_eq!(split_cp_arg("c:/etc"), (Some("c"), "/etc"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./f:x"), (None, "./f:x"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }

    #[test]
    fn path_entries_keep_a_trailing_dot() {
        assert_eq!(split_path_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_path_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_path_dir_entry("/a"), ("/".into(), "a".into()));
        assert_eq!(preserve_trailing("/a/b", "x/b/."), "/a/b/.");
        assert_eq!(preserve_trailing("/a/b", "b/"), "/a/b/");
        assert_eq!(get_rebase_name("/l/", "/t"), ("/t/".into(), "l".into()));
    }

    #[test]
    fn copy_decisions_follow_prepare_archive_copy() {
        let file = CopyInfo {
            path: "/src/f".into(),
            exists: true,
            ..Default::default()
        };
        let dir = CopyInfo {
            path: "/src/d".into(),
            exists: true,
            is_dir: true,
            ..Default::default()
        };
        let existing_dir = CopyInfo {
            path: "/dst".into(),
            exists: true,
            is_dir: true,
            ..Default::default()
        };
        let missing = CopyInfo {
            path: "/dst/new".into(),
            ..Default::default()
        };
        assert_eq!(
            prepare_archive_copy(&file, &existing_dir).unwrap(),
            ("/dst".into(), None)
        );
        assert_eq!(
            prepare_archive_copy(&dir, &missing).unwrap(),
            ("/dst".into(), Some(("d".into(), "new".into())))
        );
        let missing_dir = CopyInfo {
            path: "/dst/new/".into(),
            ..Default::default()
        };
        assert!(prepare_archive_copy(&file, &missing_dir).is_err());
        let existing_file = CopyInfo {
            path: "/dst/f2".into(),
            exists: true,
            ..Default::default()
        };
        assert!(prepare_archive_copy(&dir, &existing_file).is_err());
        assert_eq!(rebase_name(b"d/x", "d", "new"), b"new/x");
    }

    #[test]
    fn local_tars_round_trip_with_a_rename() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("src/sub")).unwrap();
        std::fs::write(t.path().join("src/sub/f"), b"data").unwrap();
        std::os::unix::fs::symlink("sub/f", t.path().join("src/l")).unwrap();
        let mut tar = Vec::new();
        tar_local(&t.path().join("src").to_string_lossy(), "", &mut tar).unwrap();
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        untar_local(tar.as_slice(), &out, Some(("src".into(), "copy".into()))).unwrap();
        assert_eq!(std::fs::read(out.join("copy/sub/f")).unwrap(), b"data");
        assert_eq!(
            std::fs::read_link(out.join("copy/l")).unwrap(),
            Path::new("sub/f")
        );
    }
}
