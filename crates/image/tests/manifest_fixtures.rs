#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Manifest parsing over real-shaped documents in tests/fixtures/manifests.

use image::manifest::{
    parse_manifest, Compression, Manifest, ManifestError, MAX_DESCRIPTORS, MAX_MANIFEST_SIZE,
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_DOCKER_SCHEMA1,
    MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};
use image::{Platform, PlatformMatcher};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/manifests/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

#[test]
fn docker_v2_by_content_type_and_by_body() {
    let body = fixture("docker_v2.json");
    for ct in [
        Some(MEDIA_TYPE_DOCKER_MANIFEST),
        None,
        Some("application/json"),
    ] {
        let m = parse_manifest(ct, &body).unwrap();
        let Manifest::DockerV2(img) = &m else {
            panic!("{ct:?}: got {m:?}")
        };
        assert_eq!(img.schema_version, 2);
        assert_eq!(img.config.size, 1457);
        assert_eq!(img.layers.len(), 1);
        assert_eq!(
            img.layers[0].layer_kind().unwrap().compression,
            Compression::Gzip
        );
    }
}

#[test]
fn docker_list_selects_platforms() {
    let body = fixture("docker_list.json");
    let m = parse_manifest(Some(MEDIA_TYPE_DOCKER_MANIFEST_LIST), &body).unwrap();
    assert_eq!(m.media_type(), MEDIA_TYPE_DOCKER_MANIFEST_LIST);
    let index = m.as_index().unwrap();
    assert_eq!(index.manifests.len(), 9);
    let pick = |spec: &str| {
        let p = Platform::parse(spec).unwrap();
        index
            .select(&PlatformMatcher::only(&p))
            .and_then(|d| d.platform.as_ref())
            .map(|p| p.to_string())
    };
    assert_eq!(pick("linux/arm/v7").as_deref(), Some("linux/arm/v7"));
    assert_eq!(pick("linux/arm/v6").as_deref(), Some("linux/arm/v6"));
    assert_eq!(pick("linux/arm64").as_deref(), Some("linux/arm64/v8"));
    assert_eq!(pick("linux/amd64").as_deref(), Some("linux/amd64"));
    assert_eq!(pick("linux/mips64le"), None);
}

#[test]
fn oci_index_skips_attestations_and_falls_back() {
    let body = fixture("oci_index.json");
    let m = parse_manifest(Some(MEDIA_TYPE_OCI_INDEX), &body).unwrap();
    let index = m.as_index().unwrap();
    assert_eq!(index.manifests.len(), 4);
    assert_eq!(
        index.annotations["org.opencontainers.image.ref.name"],
        "latest"
    );
    let arm64 = Platform::new("linux", "arm64", "v8");
    let d = index.select(&PlatformMatcher::only(&arm64)).unwrap();
    assert_eq!(d.platform.as_ref().unwrap().architecture, "arm64");
    // An armv6 device cannot run the v7 image.
    let v6 = Platform::new("linux", "arm", "v6");
    assert!(index.select(&PlatformMatcher::only(&v6)).is_none());
    // A 64-bit board with only an arm/v7 image would run it: drop arm64.
    let mut no64 = index.clone();
    no64.manifests.retain(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.architecture != "arm64")
    });
    let d = no64.select(&PlatformMatcher::only(&arm64)).unwrap();
    assert_eq!(d.platform.as_ref().unwrap().variant, "v7");
    assert!(no64.select(&PlatformMatcher::only_strict(&arm64)).is_none());
}

#[test]
fn missing_media_type_is_sniffed_from_shape() {
    let m = parse_manifest(None, &fixture("oci_manifest_no_media_type.json")).unwrap();
    let img = match m {
        Manifest::OciManifest(img) => img,
        other => panic!("got {other:?}"),
    };
    let kinds: Vec<_> = img
        .layers
        .iter()
        .map(|l| l.layer_kind().unwrap().compression)
        .collect();
    assert_eq!(kinds, [Compression::Zstd, Compression::None]);

    let m = parse_manifest(
        Some("application/octet-stream"),
        &fixture("oci_index_no_media_type.json"),
    )
    .unwrap();
    assert_eq!(m.media_type(), MEDIA_TYPE_OCI_INDEX);

    // An OCI content type with no mediaType in the body is fine.
    let m = parse_manifest(
        Some(MEDIA_TYPE_OCI_MANIFEST),
        &fixture("oci_manifest_no_media_type.json"),
    )
    .unwrap();
    assert_eq!(m.media_type(), MEDIA_TYPE_OCI_MANIFEST);
}

#[test]
fn oci_manifest_with_annotations() {
    let m = parse_manifest(None, &fixture("oci_manifest.json")).unwrap();
    let img = m.as_image().unwrap();
    assert_eq!(m.media_type(), MEDIA_TYPE_OCI_MANIFEST);
    assert_eq!(
        img.layers[1].annotations["org.opencontainers.image.title"],
        "layer2"
    );
    assert_eq!(img.annotations.len(), 2);
}

#[test]
fn foreign_layers_keep_urls() {
    let m = parse_manifest(None, &fixture("docker_v2_foreign_layers.json")).unwrap();
    let img = m.as_image().unwrap();
    let foreign: Vec<bool> = img
        .layers
        .iter()
        .map(|l| l.layer_kind().unwrap().foreign)
        .collect();
    assert_eq!(foreign, [true, true, false]);
    assert_eq!(img.layers[0].urls.len(), 1);
    assert_eq!(img.layers[0].size, 1_718_332_879);
}

#[test]
fn unknown_fields_and_nulls_are_tolerated() {
    let m = parse_manifest(
        Some(MEDIA_TYPE_DOCKER_MANIFEST),
        &fixture("docker_v2_unknown_fields.json"),
    )
    .unwrap();
    let img = m.as_image().unwrap();
    assert!(img.config.urls.is_empty());
    assert!(img.layers[0].platform.is_none());
    assert!(img.annotations.is_empty());
}

#[test]
fn schema1_is_refused_every_way() {
    let body = fixture("schema1_signed.json");
    for ct in [
        None,
        Some("application/json"),
        Some(MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED),
        Some(MEDIA_TYPE_DOCKER_SCHEMA1),
    ] {
        let err = parse_manifest(ct, &body).unwrap_err();
        assert!(matches!(err, ManifestError::Schema1), "{ct:?}: {err}");
        assert!(err.to_string().contains("schema 1"));
    }
    let with_mt = br#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+json","fsLayers":[]}"#;
    assert!(matches!(
        parse_manifest(None, with_mt),
        Err(ManifestError::Schema1)
    ));
}

#[test]
fn kind_conflicts_are_refused() {
    let list = fixture("docker_list.json");
    let err = parse_manifest(Some(MEDIA_TYPE_DOCKER_MANIFEST), &list).unwrap_err();
    assert!(
        matches!(err, ManifestError::MediaTypeMismatch { .. }),
        "{err}"
    );
    let idx = fixture("oci_index_no_media_type.json");
    let err = parse_manifest(Some(MEDIA_TYPE_OCI_MANIFEST), &idx).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::UnexpectedField {
                field: "manifests",
                ..
            }
        ),
        "{err}"
    );
    let img = fixture("oci_manifest_no_media_type.json");
    let err = parse_manifest(Some(MEDIA_TYPE_OCI_INDEX), &img).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::UnexpectedField {
                field: "config",
                ..
            }
        ),
        "{err}"
    );
    let unknown = br#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.config.v1+json","config":{}}"#;
    assert!(matches!(
        parse_manifest(None, unknown),
        Err(ManifestError::UnsupportedMediaType { .. })
    ));
}

#[test]
fn bad_descriptors_are_refused() {
    let bad_digest =
        br#"{"schemaVersion":2,"config":{"digest":"sha256:nothex","size":1},"layers":[]}"#;
    assert!(matches!(
        parse_manifest(None, bad_digest),
        Err(ManifestError::Json { .. })
    ));
    let negative = br#"{"schemaVersion":2,"config":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":-1},"layers":[]}"#;
    assert!(matches!(
        parse_manifest(None, negative),
        Err(ManifestError::Json { .. })
    ));
    assert!(matches!(
        parse_manifest(None, b"not json"),
        Err(ManifestError::Json { .. })
    ));
}

#[test]
fn oversize_manifest_is_refused_before_parsing() {
    let mut body = fixture("docker_v2.json");
    body.resize(MAX_MANIFEST_SIZE + 1, b' ');
    let err = parse_manifest(Some(MEDIA_TYPE_DOCKER_MANIFEST), &body).unwrap_err();
    assert!(matches!(err, ManifestError::TooLarge { size, .. } if size == MAX_MANIFEST_SIZE + 1));
    // Exactly at the limit is fine (trailing whitespace is valid JSON).
    body.truncate(MAX_MANIFEST_SIZE);
    assert!(parse_manifest(Some(MEDIA_TYPE_DOCKER_MANIFEST), &body).is_ok());
}

#[test]
fn too_many_layers_are_refused() {
    let layer = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1}"#;
    let make = |n: usize| {
        let layers = vec![layer; n].join(",");
        format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1}},"layers":[{layers}]}}"#
        )
    };
    assert!(parse_manifest(None, make(MAX_DESCRIPTORS).as_bytes()).is_ok());
    let err = parse_manifest(None, make(MAX_DESCRIPTORS + 1).as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::TooManyDescriptors {
                what: "layers",
                count: 1001,
                ..
            }
        ),
        "{err}"
    );
}
