//! Entry points shared by the fuzz targets (`fuzz/`) and the corpus replay
//! test. Each parses arbitrary bytes and checks invariants, returning a
//! description of the first one broken instead of panicking; the callers
//! turn that into a failure.

use crate::config::ImageConfig;
use crate::digest::{Digest, ImageId};
use crate::manifest::{parse_manifest, Manifest, MAX_DESCRIPTORS};
use crate::platform::Platform;
use crate::reference::{parse, parse_any_reference, parse_normalized_named, Reference};

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// References and platform specifiers from arbitrary text.
pub fn reference(data: &[u8]) -> Result<(), String> {
    let Ok(s) = std::str::from_utf8(data) else {
        return Ok(());
    };
    if let Ok(n) = parse(s) {
        check(n.to_string() == s, || {
            format!("parse({s:?}) printed as {n}")
        })?;
    }
    if let Ok(n) = parse_normalized_named(s) {
        let printed = n.to_string();
        check(parse(&printed).as_ref() == Ok(&n), || {
            format!("normalized {s:?} -> {printed:?} does not parse back")
        })?;
        let familiar = n.familiar_string();
        // Docker's familiar form is ambiguous in two cases, kept as Docker has
        // them: a bare 64-hex name reads as an id, and a Docker Hub path whose
        // first component looks like a registry (`docker.io/a.b/c` shows as
        // `a.b/c`) reads back as that registry.
        let is_hex_id = familiar.len() == 64 && familiar.bytes().all(|b| b.is_ascii_hexdigit());
        let looks_like_registry = n.domain() == crate::reference::DEFAULT_DOMAIN
            && familiar
                .split_once('/')
                .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost");
        if !is_hex_id && !looks_like_registry {
            check(parse_normalized_named(&familiar).as_ref() == Ok(&n), || {
                format!("familiar form {familiar:?} of {s:?} does not normalise back")
            })?;
        }
    }
    if let Ok(Reference::Digest(d)) = parse_any_reference(s) {
        check(Digest::parse(d.as_str()).as_ref() == Ok(&d), || {
            format!("digest {d} does not parse back")
        })?;
    }
    if let Ok(p) = Platform::parse(s) {
        let formatted = p.to_string();
        let again = Platform::parse(&formatted).map(|q| q.to_string());
        check(again.as_deref() == Ok(formatted.as_str()), || {
            format!("platform {s:?} formats as {formatted:?}, which reparses as {again:?}")
        })?;
    }
    Ok(())
}

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some(crate::manifest::MEDIA_TYPE_DOCKER_MANIFEST),
    Some(crate::manifest::MEDIA_TYPE_DOCKER_MANIFEST_LIST),
    Some(crate::manifest::MEDIA_TYPE_OCI_MANIFEST),
    Some(crate::manifest::MEDIA_TYPE_OCI_INDEX),
    Some(crate::manifest::MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED),
    Some("text/plain; charset=utf-8"),
];

/// Manifests: the first byte picks a Content-Type, the rest is the body.
pub fn manifest(data: &[u8]) -> Result<(), String> {
    let Some((first, body)) = data.split_first() else {
        return Ok(());
    };
    let ct = CONTENT_TYPES
        .get(usize::from(*first) % CONTENT_TYPES.len())
        .copied()
        .flatten();
    let Ok(m) = parse_manifest(ct, body) else {
        return Ok(());
    };
    let count = match &m {
        Manifest::DockerV2(i) | Manifest::OciManifest(i) => i.layers.len(),
        Manifest::DockerList(x) | Manifest::OciIndex(x) => x.manifests.len(),
    };
    check(count <= MAX_DESCRIPTORS, || {
        format!("{count} descriptors accepted")
    })?;
    let json = match &m {
        Manifest::DockerV2(i) | Manifest::OciManifest(i) => serde_json::to_vec(i),
        Manifest::DockerList(x) | Manifest::OciIndex(x) => serde_json::to_vec(x),
    }
    .map_err(|e| format!("serialising a parsed manifest failed: {e}"))?;
    let again = parse_manifest(Some(m.media_type()), &json)
        .map_err(|e| format!("re-serialised manifest does not parse: {e}"))?;
    check(again == m, || {
        "re-serialised manifest parses differently".to_owned()
    })
}

/// Image configs, and the delta target they may embed.
pub fn config(data: &[u8]) -> Result<(), String> {
    let Ok(cfg) = ImageConfig::parse(data.to_vec()) else {
        return Ok(());
    };
    check(cfg.id() == &ImageId::from_config_bytes(data), || {
        "id is not the sha256 of the raw bytes".to_owned()
    })?;
    let made = ImageConfig::create(cfg.parsed())
        .map_err(|e| format!("re-serialised config does not parse: {e}"))?;
    check(made.parsed() == cfg.parsed(), || {
        "re-serialised config parses differently".to_owned()
    })?;
    if let Ok(Some(delta)) = cfg.delta() {
        check(
            delta.target_image_id() == ImageId::from_config_bytes(delta.target_config.as_bytes()),
            || "delta target id mismatch".to_owned(),
        )?;
        if let Ok(target) = delta.target() {
            check(target.id() == &delta.target_image_id(), || {
                "parsed delta target id mismatch".to_owned()
            })?;
        }
    }
    let _ = cfg.chain_id();
    Ok(())
}
