#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Image configs from tests/fixtures/configs.

use image::config::{build_delta_config, ImageConfig};
use image::digest::{chain_id, Digest};
use image::{DiffId, ImageId};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/configs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

#[test]
fn docker_config_fields() {
    let raw = fixture("docker_config.json");
    let cfg = ImageConfig::parse(raw.clone()).unwrap();
    assert_eq!(cfg.id().digest(), &Digest::sha256_of(&raw));
    let p = cfg.parsed();
    assert_eq!(cfg.platform(), image::Platform::new("linux", "arm", "v7"));
    let c = p.config.as_ref().unwrap();
    assert_eq!(c.cmd.as_deref(), Some(&["sh".to_owned()][..]));
    assert_eq!(
        c.entrypoint.as_deref(),
        Some(&["/usr/bin/entry.sh".to_owned()][..])
    );
    assert_eq!(c.working_dir.as_deref(), Some("/usr/src/app"));
    assert_eq!(c.stop_signal.as_deref(), Some("SIGTERM"));
    assert!(c.volumes.as_ref().unwrap().contains("/data"));
    assert!(c.exposed_ports.as_ref().unwrap().contains("80/tcp"));
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.interval, Some(30_000_000_000));
    assert_eq!(hc.retries, Some(3));
    assert_eq!(
        c.labels.as_ref().unwrap()["io.balena.device-type"],
        "raspberrypi3"
    );
    assert_eq!(p.container_config.as_ref().unwrap().volumes, None);
    assert_eq!(p.docker_version.as_deref(), Some("20.10.23"));
    let h = p.history.as_ref().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].empty_layer, Some(true));
    assert_eq!(cfg.diff_ids().len(), 2);
    assert_eq!(cfg.chain_id(), chain_id(cfg.diff_ids()));
    assert!(!cfg.is_delta());
}

#[test]
fn oci_config_with_string_entrypoint_and_extra_fields() {
    let cfg = ImageConfig::parse(fixture("oci_config.json")).unwrap();
    let p = cfg.parsed();
    let c = p.config.as_ref().unwrap();
    assert_eq!(c.entrypoint.as_deref(), Some(&["/app".to_owned()][..]));
    assert_eq!(c.cmd, None);
    assert_eq!(c.args_escaped, Some(true));
    assert!(p.extra.contains_key("moby.buildkit.buildinfo.v1"));
    // Creating from the parsed document keeps the unknown field.
    let made = ImageConfig::create(p).unwrap();
    assert!(made
        .parsed()
        .extra
        .contains_key("moby.buildkit.buildinfo.v1"));
    assert_ne!(
        made.id(),
        cfg.id(),
        "new bytes, new id: ids come from raw bytes only"
    );
}

#[test]
fn delta_config_from_target_fixture() {
    let target = ImageConfig::parse(fixture("docker_config.json")).unwrap();
    let base = ImageId::from_config_bytes(b"some basis config");
    let empty_tar =
        DiffId::parse("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")
            .unwrap();
    let delta_layers = vec![
        empty_tar.clone(),
        DiffId::from(Digest::sha256_of(b"delta tar")),
    ];
    let delta = build_delta_config(&base, &target, delta_layers, "2024-05-01T00:00:00Z").unwrap();
    assert!(delta.is_delta());
    let info = delta.delta().unwrap().unwrap();
    assert_eq!(info.base, base);
    assert_eq!(info.target_config.as_bytes(), target.raw());
    assert_eq!(&info.target_image_id(), target.id());
    assert_eq!(delta.diff_ids()[0], empty_tar);
    // The delta config itself parses back from its own raw bytes.
    let again = ImageConfig::parse(delta.raw().to_vec()).unwrap();
    assert_eq!(again.id(), delta.id());
}
