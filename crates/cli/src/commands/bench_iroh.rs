//! The iroh-blobs baseline of `lightstreams bench p2p`: the same files served by a plain
//! iroh-blobs provider and fetched by a plain iroh-blobs requester over QUIC on loopback, each
//! blob verified against its BLAKE3 hash as it streams in (iroh's bao encoding). It is the
//! transfer issue #4 names first as the baseline, and the library the node's transport was
//! measured against (see `BENCHMARKS.md`): no authorisation, no registry, nothing but the
//! transfer.
//!
//! Both sides run in this process, as the raw TCP baselines do, on a tokio runtime of their
//! own, with relays and discovery off (`presets::Minimal`, explicit loopback addresses). The
//! provider keeps its blobs in an iroh file store in the bench's temporary directory, so memory
//! does not grow with the item. A blob's iroh hash is its plain BLAKE3 hash, which for a vault
//! blob is its address: the same bytes under the same names.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use iroh::endpoint::presets;
use iroh::protocol::Router;
use iroh::{Endpoint, EndpointAddr, RelayMode};
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::{BlobsProtocol, Hash};

/// A running provider of the bench's files and a requester endpoint to fetch them with.
pub(crate) struct IrohBaseline {
    runtime: tokio::runtime::Runtime,
    store: FsStore,
    router: Router,
    requester: Endpoint,
    provider: EndpointAddr,
    blobs: Vec<Hash>,
}

/// An endpoint on an ephemeral loopback port, with no relay and no discovery.
async fn loopback_endpoint() -> anyhow::Result<Endpoint> {
    Ok(Endpoint::builder(presets::Minimal)
        .relay_mode(RelayMode::Disabled)
        .bind_addr("127.0.0.1:0")
        .map_err(|e| anyhow!("iroh bind address: {e}"))?
        .bind()
        .await?)
}

impl IrohBaseline {
    /// Import `files` into an iroh store under `dir` (not timed) and start serving them.
    pub(crate) fn start(files: &[PathBuf], dir: &Path) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let (store, router, requester, provider, blobs) = runtime.block_on(async {
            let store = FsStore::load(dir)
                .await
                .map_err(|e| anyhow!("iroh store: {e}"))?;
            let mut blobs = Vec::with_capacity(files.len());
            for file in files {
                let tag = store
                    .blobs()
                    .add_path(file)
                    .with_tag()
                    .await
                    .with_context(|| format!("iroh import of {}", file.display()))?;
                blobs.push(tag.hash);
            }
            let endpoint = loopback_endpoint().await?;
            let sockets = endpoint.bound_sockets();
            let Some(socket) = sockets.first() else {
                bail!("the iroh provider bound no socket");
            };
            let provider = EndpointAddr::new(endpoint.id()).with_ip_addr(*socket);
            let router = Router::builder(endpoint)
                .accept(iroh_blobs::ALPN, BlobsProtocol::new(&store, None))
                .spawn();
            let requester = loopback_endpoint().await?;
            anyhow::Ok((store, router, requester, provider, blobs))
        })?;
        Ok(Self {
            runtime,
            store,
            router,
            requester,
            provider,
            blobs,
        })
    }

    /// Fetch every blob on `lanes` connections (blob `i` on lane `i mod lanes`, one request per
    /// blob, each verified as it arrives). Bytes received and bytes per second.
    pub(crate) fn fetch(&self, lanes: usize) -> anyhow::Result<(u64, f64)> {
        self.runtime.block_on(async {
            let started = Instant::now();
            let mut tasks = Vec::with_capacity(lanes);
            for lane in 0..lanes {
                let connection = self
                    .requester
                    .connect(self.provider.clone(), iroh_blobs::ALPN)
                    .await
                    .map_err(|e| anyhow!("iroh connect: {e}"))?;
                let mine: Vec<Hash> = self
                    .blobs
                    .iter()
                    .skip(lane)
                    .step_by(lanes)
                    .copied()
                    .collect();
                tasks.push(tokio::spawn(async move {
                    let mut received = 0u64;
                    for hash in mine {
                        let (bytes, _) =
                            iroh_blobs::get::request::get_blob(connection.clone(), hash)
                                .bytes_and_stats()
                                .await
                                .map_err(|e| anyhow!("iroh fetch of {hash}: {e}"))?;
                        received += bytes.len() as u64;
                    }
                    connection.close(0u32.into(), b"done");
                    anyhow::Ok(received)
                }));
            }
            let mut received = 0;
            for task in tasks {
                received += task.await??;
            }
            Ok((received, received as f64 / started.elapsed().as_secs_f64()))
        })
    }

    /// Stop the provider and the requester and close the store.
    pub(crate) fn stop(self) {
        self.runtime.block_on(async {
            self.requester.close().await;
            let _ = self.router.shutdown().await;
            let _ = self.store.shutdown().await;
        });
    }
}
