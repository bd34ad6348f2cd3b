//! Streams one blob and prints its digest, size and retry count:
//! `pull_blob HOST[:PORT] REPOSITORY sha256:...` (anonymous). Also used to
//! measure the binary-size cost of the crate.

use registry::{Auth, BlobEvent, Client, RegistryConfig};
use sha2::{Digest as _, Sha256};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, repo, digest] = args.as_slice() else {
        eprintln!("usage: pull_blob HOST REPOSITORY DIGEST");
        std::process::exit(2);
    };
    let client = Client::new(RegistryConfig::default())?;
    let mut stream = client.blob_stream(host, repo, digest, None, &Auth::Anonymous)?;
    let mut hasher = Sha256::new();
    let (mut size, mut retries) = (0u64, 0u32);
    while let Some(ev) = stream.next().await {
        match ev? {
            BlobEvent::Data(b) => {
                hasher.update(&b);
                size += b.len() as u64;
            }
            BlobEvent::Retrying { in_secs, error, .. } => {
                retries += 1;
                eprintln!(
                    "Retrying in {in_secs} second{}: {error}",
                    if in_secs == 1 { "" } else { "s" }
                );
            }
            BlobEvent::Restarted => {
                hasher = Sha256::new();
                size = 0;
            }
        }
    }
    println!(
        "sha256:{:x} {size} bytes, {retries} retries",
        hasher.finalize()
    );
    Ok(())
}
