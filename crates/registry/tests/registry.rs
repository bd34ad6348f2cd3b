#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests against Debian's `docker-registry` on 127.0.0.1 (run as
//! root: the harness installs the package when missing).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use registry::{
    Auth, BlobEvent, BlobStream, Client, ErrorKind, MountOutcome, RegistryConfig, RegistryError,
    Scheme, UploadMethod,
};
use sha2::{Digest as _, Sha256};
use support::{pseudo_random, AuthMode, FaultProxy, ProxyOptions, RegistryServer, TokenOptions};

const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn config() -> RegistryConfig {
    RegistryConfig {
        backoff_unit: Duration::from_millis(10),
        io_timeout: Duration::from_secs(20),
        ..RegistryConfig::default()
    }
}

fn client() -> Client {
    Client::new(config()).unwrap()
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

fn body_of(
    data: Vec<u8>,
    chunk: usize,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(chunks)
}

struct Pushed {
    layer: Vec<u8>,
    layer_digest: String,
    config: Vec<u8>,
    config_digest: String,
    manifest: Vec<u8>,
    manifest_digest: String,
}

fn schema2_manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": SCHEMA2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": sha(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer.len(), "digest": sha(layer)}],
    }))
    .unwrap()
}

/// Pushes a config blob (monolithic), a layer (streamed) and a schema2
/// manifest under `tag`.
async fn push_image(
    c: &Client,
    host: &str,
    repo: &str,
    tag: &str,
    layer: Vec<u8>,
    auth: &Auth,
) -> Pushed {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha(&layer)
    )
    .into_bytes();
    let layer_digest = sha(&layer);
    let config_digest = sha(&config);
    c.upload_blob(
        host,
        repo,
        &layer_digest,
        layer.len() as u64,
        body_of(layer.clone(), 64 * 1024),
        auth,
    )
    .await
    .unwrap();
    let session = c.start_upload(host, repo, auth).await.unwrap();
    c.upload_to(
        session,
        &config_digest,
        config.len() as u64,
        body_of(config.clone(), 7),
        UploadMethod::Monolithic,
        auth,
    )
    .await
    .unwrap();
    let manifest = schema2_manifest(&config, &layer);
    let manifest_digest = c
        .put_manifest(
            host,
            repo,
            tag,
            SCHEMA2,
            Bytes::from(manifest.clone()),
            auth,
        )
        .await
        .unwrap();
    assert_eq!(manifest_digest, sha(&manifest));
    Pushed {
        layer,
        layer_digest,
        config,
        config_digest,
        manifest,
        manifest_digest,
    }
}

/// Drains a stream, applying restarts; returns the bytes and the non-data
/// events.
async fn collect(s: &mut BlobStream) -> Result<(Vec<u8>, Vec<BlobEvent>), RegistryError> {
    let mut data = Vec::new();
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        match ev? {
            BlobEvent::Data(b) => data.extend_from_slice(&b),
            BlobEvent::Restarted => {
                data.clear();
                events.push(BlobEvent::Restarted);
            }
            other => events.push(other),
        }
    }
    Ok((data, events))
}

#[tokio::test]
async fn push_then_pull_roundtrip_by_tag_and_digest() {
    let reg = RegistryServer::start(AuthMode::Anonymous).await;
    let c = client();
    let auth = Auth::Anonymous;
    let p = push_image(
        &c,
        &reg.host,
        "test/app",
        "v1",
        pseudo_random(300_000, 1),
        &auth,
    )
    .await;

    let by_tag = c
        .get_manifest(&reg.host, "test/app", "v1", &[SCHEMA2], &auth)
        .await
        .unwrap();
    assert_eq!(by_tag.bytes.as_ref(), p.manifest.as_slice());
    assert_eq!(by_tag.content_type, SCHEMA2);
    assert_eq!(by_tag.digest, p.manifest_digest);
    let by_digest = c
        .get_manifest(&reg.host, "test/app", &p.manifest_digest, &[SCHEMA2], &auth)
        .await
        .unwrap();
    assert_eq!(by_digest, by_tag);

    let config = c
        .get_blob_bytes(&reg.host, "test/app", &p.config_digest, 1 << 20, &auth)
        .await
        .unwrap();
    assert_eq!(config.as_ref(), p.config.as_slice());
    let too_small = c
        .get_blob_bytes(&reg.host, "test/app", &p.config_digest, 10, &auth)
        .await
        .unwrap_err();
    assert!(
        matches!(too_small, RegistryError::TooLarge { limit: 10, .. }),
        "{too_small:?}"
    );

    let mut s = c
        .blob_stream(
            &reg.host,
            "test/app",
            &p.layer_digest,
            Some(p.layer.len() as u64),
            &auth,
        )
        .unwrap();
    let (data, events) = collect(&mut s).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(sha(&data), p.layer_digest);
    assert_eq!(s.bytes_received(), p.layer.len() as u64);

    assert_eq!(
        c.blob_exists(&reg.host, "test/app", &p.layer_digest, &auth)
            .await
            .unwrap(),
        Some(p.layer.len() as u64)
    );
    assert_eq!(
        c.blob_exists(&reg.host, "test/app", &sha(b"absent"), &auth)
            .await
            .unwrap(),
        None
    );

    // loopback is insecure: HTTPS failed and plain HTTP is remembered
    let eps = c.endpoints(&reg.host).await.unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].scheme, Scheme::Http);
    assert!(eps[0].insecure);
}

#[tokio::test]
async fn upload_rejects_a_body_that_does_not_match_its_digest() {
    let reg = RegistryServer::start(AuthMode::Anonymous).await;
    let c = client();
    let data = pseudo_random(1000, 2);
    let wrong = sha(b"something else");
    let err = c
        .upload_blob(
            &reg.host,
            "test/bad",
            &wrong,
            1000,
            body_of(data.clone(), 100),
            &Auth::Anonymous,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(
        c.blob_exists(&reg.host, "test/bad", &wrong, &Auth::Anonymous)
            .await
            .unwrap(),
        None
    );
    let err = c
        .upload_blob(
            &reg.host,
            "test/bad",
            &sha(&data),
            999,
            body_of(data, 100),
            &Auth::Anonymous,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err:?}");
}

#[tokio::test]
async fn manifest_accept_negotiation_picks_list_or_platform_manifest() {
    let reg = RegistryServer::start(AuthMode::Anonymous).await;
    let c = client();
    let auth = Auth::Anonymous;
    let p = push_image(
        &c,
        &reg.host,
        "multi/app",
        "amd64",
        pseudo_random(1000, 3),
        &auth,
    )
    .await;
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": LIST,
        "manifests": [{"mediaType": SCHEMA2, "size": p.manifest.len(), "digest": p.manifest_digest, "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    c.put_manifest(
        &reg.host,
        "multi/app",
        "latest",
        LIST,
        Bytes::from(list.clone()),
        &auth,
    )
    .await
    .unwrap();

    let got = c
        .get_manifest(&reg.host, "multi/app", "latest", &[LIST, SCHEMA2], &auth)
        .await
        .unwrap();
    assert_eq!(got.content_type, LIST);
    assert_eq!(got.bytes.as_ref(), list.as_slice());
    // without the list type, the registry serves the linux/amd64 manifest
    let got = c
        .get_manifest(&reg.host, "multi/app", "latest", &[SCHEMA2], &auth)
        .await
        .unwrap();
    assert_eq!(got.content_type, SCHEMA2);
    assert_eq!(got.digest, p.manifest_digest);

    // an OCI manifest comes back with its own type
    let oci = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": p.config.len(), "digest": p.config_digest},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": p.layer.len(), "digest": p.layer_digest}],
    }))
    .unwrap();
    let d = c
        .put_manifest(
            &reg.host,
            "multi/app",
            "oci",
            OCI_MANIFEST,
            Bytes::from(oci.clone()),
            &auth,
        )
        .await
        .unwrap();
    let got = c
        .get_manifest(&reg.host, "multi/app", &d, &[OCI_MANIFEST, SCHEMA2], &auth)
        .await
        .unwrap();
    assert_eq!(got.content_type, OCI_MANIFEST);
    assert_eq!(got.bytes.as_ref(), oci.as_slice());
}

#[tokio::test]
async fn cut_connections_resume_with_ranges_and_little_overhead() {
    let reg = RegistryServer::start(AuthMode::Anonymous).await;
    let pusher = client();
    let size = 20 * 1024 * 1024;
    let p = push_image(
        &pusher,
        &reg.host,
        "big/layer",
        "v1",
        pseudo_random(size, 4),
        &Auth::Anonymous,
    )
    .await;
    let proxy = FaultProxy::start(
        reg.host.parse().unwrap(),
        ProxyOptions {
            cut_after: Some(1024 * 1024 + 517),
            max_cuts: None,
            strip_range: false,
        },
    )
    .await;
    let c = client();
    let start = Instant::now();
    let mut s = c
        .blob_stream(
            &proxy.host(),
            "big/layer",
            &p.layer_digest,
            Some(size as u64),
            &Auth::Anonymous,
        )
        .unwrap();
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut retries = 0;
    while let Some(ev) = s.next().await {
        match ev.unwrap() {
            BlobEvent::Data(b) => {
                hasher.update(&b);
                total += b.len() as u64;
            }
            BlobEvent::Retrying {
                attempt,
                in_secs,
                error,
            } => {
                assert_eq!(attempt, 1, "progress resets the backoff: {error}");
                assert_eq!(in_secs, 1);
                retries += 1;
            }
            BlobEvent::Restarted => panic!("the registry honours ranges"),
        }
    }
    assert_eq!(total, size as u64);
    assert_eq!(format!("sha256:{:x}", hasher.finalize()), p.layer_digest);
    let cuts = proxy.stats.cuts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(cuts >= 19, "cuts {cuts}");
    assert_eq!(retries as u64, cuts);
    assert!(
        proxy
            .stats
            .range_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= cuts
    );
    let body = s.bytes_received();
    let wire = c.wire_bytes_received();
    eprintln!(
        "20 MiB through {cuts} cuts in {:?}: body bytes {body}, wire bytes {wire}, proxy response bytes {}",
        start.elapsed(),
        proxy.stats.response_bytes.load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_eq!(body, size as u64);
    assert!(wire as f64 <= size as f64 * 1.10, "wire {wire}");
}

#[tokio::test]
async fn range_ignoring_registry_restarts_from_zero() {
    let reg = RegistryServer::start(AuthMode::Anonymous).await;
    let pusher = client();
    let size = 3 * 1024 * 1024;
    let p = push_image(
        &pusher,
        &reg.host,
        "norange/layer",
        "v1",
        pseudo_random(size, 5),
        &Auth::Anonymous,
    )
    .await;
    let proxy = FaultProxy::start(
        reg.host.parse().unwrap(),
        ProxyOptions {
            cut_after: Some(1024 * 1024),
            max_cuts: Some(1),
            strip_range: true,
        },
    )
    .await;
    let c = client();
    let mut s = c
        .blob_stream(
            &proxy.host(),
            "norange/layer",
            &p.layer_digest,
            None,
            &Auth::Anonymous,
        )
        .unwrap();
    let (data, events) = collect(&mut s).await.unwrap();
    assert!(
        matches!(events[0], BlobEvent::Retrying { attempt: 1, .. }),
        "{events:?}"
    );
    assert_eq!(events[1], BlobEvent::Restarted);
    assert_eq!(events.len(), 2);
    assert_eq!(sha(&data), p.layer_digest);
    assert_eq!(
        proxy
            .stats
            .ranges_stripped
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(s.bytes_received() > size as u64);
}

#[tokio::test]
async fn missing_blob_and_manifest_fail_fast_as_not_found() {
    let reg = RegistryServer::start(AuthMode::Anonymous).await;
    let c = client();
    let auth = Auth::Anonymous;
    push_image(&c, &reg.host, "foo", "v1", pseudo_random(100, 6), &auth).await;

    let start = Instant::now();
    let err = c
        .get_manifest(&reg.host, "foo", "bar", &[SCHEMA2], &auth)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/foo:bar not found: manifest unknown: manifest unknown",
            reg.host
        )
    );
    let missing = sha(b"missing");
    let mut s = c
        .blob_stream(&reg.host, "foo", &missing, None, &auth)
        .unwrap();
    let first = s.next().await.unwrap();
    let err = first.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("blob {missing} not found in {}/foo", reg.host)),
        "{err}"
    );
    assert!(s.next().await.is_none());
    let err = c
        .get_blob_bytes(&reg.host, "foo", &missing, 100, &auth)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = c
        .get_manifest(&reg.host, "nope/nothing", "latest", &[SCHEMA2], &auth)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn unreachable_registry_retries_then_gives_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::new(RegistryConfig {
        max_download_attempts: 3,
        ..config()
    })
    .unwrap();
    let mut s = c
        .blob_stream(
            &format!("127.0.0.1:{port}"),
            "x",
            &sha(b"x"),
            None,
            &Auth::Anonymous,
        )
        .unwrap();
    let mut attempts = vec![];
    let err = loop {
        match s.next().await.unwrap() {
            Ok(BlobEvent::Retrying {
                attempt, in_secs, ..
            }) => attempts.push((attempt, in_secs)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(attempts, vec![(1, 1), (2, 1)]);
    assert!(
        matches!(err, RegistryError::RetriesExhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(s.next().await.is_none());
}

#[tokio::test]
async fn htpasswd_basic_auth_accepts_good_and_rejects_wrong_credentials() {
    let reg =
        RegistryServer::start(AuthMode::Htpasswd(vec![("alice".into(), "s3cret".into())])).await;
    let c = client();
    let good = Auth::basic("alice", "s3cret");
    let p = push_image(
        &c,
        &reg.host,
        "private/app",
        "v1",
        pseudo_random(5000, 7),
        &good,
    )
    .await;
    let got = c
        .get_manifest(&reg.host, "private/app", "v1", &[SCHEMA2], &good)
        .await
        .unwrap();
    assert_eq!(got.digest, p.manifest_digest);
    let mut s = c
        .blob_stream(&reg.host, "private/app", &p.layer_digest, None, &good)
        .unwrap();
    assert_eq!(sha(&collect(&mut s).await.unwrap().0), p.layer_digest);

    for bad in [Auth::basic("alice", "wrong"), Auth::Anonymous] {
        let start = Instant::now();
        let err = client()
            .get_manifest(&reg.host, "private/app", "v1", &[SCHEMA2], &bad)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        assert!(err.to_string().starts_with("unauthorized: "), "{err}");
        let mut s = client()
            .blob_stream(&reg.host, "private/app", &p.layer_digest, None, &bad)
            .unwrap();
        assert_eq!(
            s.next().await.unwrap().unwrap_err().kind(),
            ErrorKind::Unauthorized
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn token_auth_works_and_tokens_are_cached() {
    let reg = RegistryServer::start(AuthMode::Token(TokenOptions {
        users: vec![("alice".into(), "pw".into())],
        refresh_tokens: vec![("refresh-alice".into(), "alice".into())],
    }))
    .await;
    let tokens = reg.token.as_ref().unwrap();
    let c = client();
    let alice = Auth::basic("alice", "pw");
    let p = push_image(
        &c,
        &reg.host,
        "tok/app",
        "v1",
        pseudo_random(10_000, 8),
        &alice,
    )
    .await;
    let after_push = tokens.request_count();
    assert_eq!(after_push, 1, "one push-scope token for the whole push");

    let m = c
        .get_manifest(&reg.host, "tok/app", "v1", &[SCHEMA2], &alice)
        .await
        .unwrap();
    assert_eq!(m.digest, p.manifest_digest);
    c.get_blob_bytes(&reg.host, "tok/app", &p.config_digest, 1 << 20, &alice)
        .await
        .unwrap();
    let mut s = c
        .blob_stream(&reg.host, "tok/app", &p.layer_digest, None, &alice)
        .unwrap();
    assert_eq!(sha(&collect(&mut s).await.unwrap().0), p.layer_digest);
    assert_eq!(
        tokens.request_count(),
        after_push + 1,
        "one pull-scope token, then cached"
    );

    // a clone shares the cache
    c.clone()
        .get_manifest(&reg.host, "tok/app", "v1", &[SCHEMA2], &alice)
        .await
        .unwrap();
    assert_eq!(tokens.request_count(), after_push + 1);

    // identity token: POST grant_type=refresh_token
    let id = Auth::IdentityToken {
        username: "alice".into(),
        token: "refresh-alice".into(),
    };
    let m = client()
        .get_manifest(&reg.host, "tok/app", "v1", &[SCHEMA2], &id)
        .await
        .unwrap();
    assert_eq!(m.digest, p.manifest_digest);

    // a registry token is sent as is
    let err = client()
        .get_manifest(
            &reg.host,
            "tok/app",
            "v1",
            &[SCHEMA2],
            &Auth::RegistryToken("garbage".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");

    let err = client()
        .get_manifest(
            &reg.host,
            "tok/app",
            "v1",
            &[SCHEMA2],
            &Auth::basic("alice", "nope"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(
        err.to_string(),
        "unauthorized: invalid username or password"
    );

    // anonymous gets a token without access: the registry denies, worded as Docker does
    let err = client()
        .get_manifest(&reg.host, "tok/app", "v1", &[SCHEMA2], &Auth::Anonymous)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "pull access denied for {}/tok/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            reg.host
        )
    );
}

#[tokio::test]
async fn cross_repository_mount_links_existing_blobs() {
    let reg = RegistryServer::start(AuthMode::Token(TokenOptions {
        users: vec![("bob".into(), "pw".into())],
        ..TokenOptions::default()
    }))
    .await;
    let c = client();
    let bob = Auth::basic("bob", "pw");
    let p = push_image(
        &c,
        &reg.host,
        "team/src",
        "v1",
        pseudo_random(4096, 9),
        &bob,
    )
    .await;
    assert_eq!(
        c.blob_exists(&reg.host, "team/dst", &p.layer_digest, &bob)
            .await
            .unwrap(),
        None
    );
    let out = c
        .mount_blob(&reg.host, "team/dst", &p.layer_digest, "team/src", &bob)
        .await
        .unwrap();
    assert!(matches!(out, MountOutcome::Mounted), "{out:?}");
    assert_eq!(
        c.blob_exists(&reg.host, "team/dst", &p.layer_digest, &bob)
            .await
            .unwrap(),
        Some(4096)
    );

    // an unknown blob is not mounted: the registry opens an upload instead
    let data = pseudo_random(777, 10);
    let out = c
        .mount_blob(&reg.host, "team/dst", &sha(&data), "team/src", &bob)
        .await
        .unwrap();
    let MountOutcome::NotMounted(session) = out else {
        panic!("mounted an absent blob")
    };
    c.upload_to(
        session,
        &sha(&data),
        777,
        body_of(data.clone(), 100),
        UploadMethod::Streamed,
        &bob,
    )
    .await
    .unwrap();
    assert_eq!(
        c.blob_exists(&reg.host, "team/dst", &sha(&data), &bob)
            .await
            .unwrap(),
        Some(777)
    );
}

#[tokio::test]
async fn tls_registry_on_loopback_is_used_over_https_without_verification() {
    let reg = RegistryServer::start_with(AuthMode::Anonymous, true).await;
    let c = client();
    let p = push_image(
        &c,
        &reg.host,
        "tls/app",
        "v1",
        pseudo_random(2048, 11),
        &Auth::Anonymous,
    )
    .await;
    let m = c
        .get_manifest(&reg.host, "tls/app", "v1", &[SCHEMA2], &Auth::Anonymous)
        .await
        .unwrap();
    assert_eq!(m.digest, p.manifest_digest);
    let eps = c.endpoints(&reg.host).await.unwrap();
    assert_eq!(eps[0].scheme, Scheme::Https);
}

#[tokio::test]
async fn docker_hub_pulls_try_mirrors_first() {
    let reg = RegistryServer::start(AuthMode::Anonymous).await;
    let pusher = client();
    let p = push_image(
        &pusher,
        &reg.host,
        "library/busybox",
        "latest",
        pseudo_random(100, 12),
        &Auth::Anonymous,
    )
    .await;
    let c = Client::new(RegistryConfig {
        mirrors: vec![format!("http://{}", reg.host)],
        ..config()
    })
    .unwrap();
    let eps = c.endpoints("docker.io").await.unwrap();
    assert_eq!(eps.len(), 2);
    assert_eq!(
        (eps[0].host.as_str(), eps[0].mirror, eps[0].scheme),
        (reg.host.as_str(), true, Scheme::Http)
    );
    assert_eq!(
        (eps[1].host.as_str(), eps[1].mirror),
        ("registry-1.docker.io", false)
    );
    let m = c
        .get_manifest(
            "docker.io",
            "library/busybox",
            "latest",
            &[SCHEMA2],
            &Auth::Anonymous,
        )
        .await
        .unwrap();
    assert_eq!(m.digest, p.manifest_digest);
    let mut s = c
        .blob_stream(
            "docker.io",
            "library/busybox",
            &p.layer_digest,
            None,
            &Auth::Anonymous,
        )
        .unwrap();
    assert_eq!(sha(&collect(&mut s).await.unwrap().0), p.layer_digest);
}

#[tokio::test]
async fn redirects_to_storage_drop_credentials_and_keep_ranges() {
    use std::sync::{Arc, Mutex};
    use support::{full, HttpServer, TestBody};

    let blob = Bytes::from(pseudo_random(200_000, 13));
    let digest = sha(&blob);
    let half = blob.len() / 2;
    // storage: records (authorization, range); cuts the first response in half
    /// (Authorization, Range) of each storage request.
    type Seen = Vec<(Option<String>, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (b, s) = (blob.clone(), seen.clone());
    let storage = HttpServer::start(move |req: hyper::Request<hyper::body::Incoming>| {
        let (blob, seen) = (b.clone(), s.clone());
        async move {
            let get = |n: &str| req.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
            let range = get("range");
            let first = {
                let mut seen = seen.lock().unwrap();
                seen.push((get("authorization"), range.clone()));
                seen.len() == 1
            };
            if let Some(r) = range {
                let start: usize = r
                    .trim_start_matches("bytes=")
                    .trim_end_matches('-')
                    .parse()
                    .unwrap();
                return hyper::Response::builder()
                    .status(206)
                    .header(
                        "content-range",
                        format!("bytes {start}-{}/{}", blob.len() - 1, blob.len()),
                    )
                    .body(full(blob.slice(start..)))
                    .unwrap();
            }
            let body: TestBody = if first {
                // the first half is flushed, then the connection breaks
                let first_half = blob.slice(..half);
                let frames = futures_util::stream::unfold(0, move |step| {
                    let first_half = first_half.clone();
                    async move {
                        match step {
                            0 => Some((Ok(hyper::body::Frame::data(first_half)), 1)),
                            1 => {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                Some((
                                    Err::<hyper::body::Frame<Bytes>, support::BoxError>(
                                        "cut".into(),
                                    ),
                                    2,
                                ))
                            }
                            _ => None,
                        }
                    }
                });
                http_body_util::BodyExt::boxed(http_body_util::StreamBody::new(frames))
            } else {
                full(blob.clone())
            };
            hyper::Response::builder()
                .header("content-length", blob.len())
                .body(body)
                .unwrap()
        }
    })
    .await;
    let storage_url = format!("http://{}/bucket/blob?sig=1", storage.addr);
    let expected_auth = format!("Basic {}", base64_encode("u:p"));
    let registry = HttpServer::start(move |req: hyper::Request<hyper::body::Incoming>| {
        let (loc, want) = (storage_url.clone(), expected_auth.clone());
        async move {
            let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
            if auth.as_deref() != Some(want.as_str()) {
                return hyper::Response::builder()
                    .status(401)
                    .header("www-authenticate", r#"Basic realm="fake""#)
                    .body(full(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#))
                    .unwrap();
            }
            hyper::Response::builder().status(307).header("location", loc).body(full("")).unwrap()
        }
    })
    .await;
    let c = client();
    let mut s = c
        .blob_stream(
            &registry.addr.to_string(),
            "r",
            &digest,
            Some(blob.len() as u64),
            &Auth::basic("u", "p"),
        )
        .unwrap();
    let (data, events) = collect(&mut s).await.unwrap();
    assert_eq!(sha(&data), digest);
    assert_eq!(events.len(), 1, "{events:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(None, None), (None, Some(format!("bytes={half}-")))]
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
