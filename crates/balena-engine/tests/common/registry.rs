//! A real registry for tests: Debian's `docker-registry` on 127.0.0.1 with
//! storage in a temp dir, stopped by pid on drop; and pushing test images
//! into it with our registry client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::images::sha256;

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts a registry, or returns None (with the reason printed) when
    /// `docker-registry` is not installed (`scripts/deps.sh test` installs it).
    pub fn start() -> Option<Registry> {
        let bin = ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(bin) = bin else {
            println!("SKIP: docker-registry is not installed (run scripts/deps.sh test)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("be-registry-")
            .tempdir()
            .unwrap();
        for _ in 0..5 {
            let port = free_port();
            let cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: be-test\n",
                dir.path().join("data").display()
            );
            let cfg_path = dir.path().join("config.yml");
            std::fs::write(&cfg_path, cfg).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(bin)
                .arg("serve")
                .arg(&cfg_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Registry { dir, port, child });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes layers (gzip-compressed) and a config as `repo:tag`;
    /// returns the manifest digest.
    pub fn push(&self, repo: &str, tag: &str, layers: &[Vec<u8>], config: &[u8]) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = registry::Client::new(registry::RegistryConfig::default()).unwrap();
            let auth = registry::Auth::Anonymous;
            let host = self.host();
            let mut descs = Vec::new();
            for l in layers {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut gz, l).unwrap();
                let gz = gz.finish().unwrap();
                let d = sha256(&gz);
                upload(&client, &host, repo, &d, gz.clone(), &auth).await;
                descs.push(serde_json::json!({
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": gz.len(), "digest": d}));
            }
            let cd = sha256(config);
            upload(&client, &host, repo, &cd, config.to_vec(), &auth).await;
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": cd},
                "layers": descs,
            });
            let bytes = serde_json::to_vec(&manifest).unwrap();
            client
                .put_manifest(&host, repo, tag, "application/vnd.docker.distribution.manifest.v2+json", bytes::Bytes::from(bytes.clone()), &auth)
                .await
                .unwrap();
            sha256(&bytes)
        })
    }

    /// Pushes a raw manifest (an index, say) under `tag`.
    pub fn put_manifest(&self, repo: &str, tag: &str, media_type: &str, bytes: &[u8]) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = registry::Client::new(registry::RegistryConfig::default()).unwrap();
            client
                .put_manifest(
                    &self.host(),
                    repo,
                    tag,
                    media_type,
                    bytes::Bytes::from(bytes.to_vec()),
                    &registry::Auth::Anonymous,
                )
                .await
                .unwrap();
        })
    }
}

async fn upload(
    client: &registry::Client,
    host: &str,
    repo: &str,
    digest: &str,
    data: Vec<u8>,
    auth: &registry::Auth,
) {
    if client
        .blob_exists(host, repo, digest, auth)
        .await
        .unwrap()
        .is_some()
    {
        return;
    }
    let size = data.len() as u64;
    let stream =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(data))]);
    client
        .upload_blob(host, repo, digest, size, stream, auth)
        .await
        .unwrap();
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
