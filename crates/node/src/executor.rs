//! The glue that lets consensus drive the chain.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::{Address, Bytes};
use lightstreams_chain::Chain;
use lightstreams_consensus::{Block, Executor, PublicKeyBytes};
use tokio::sync::watch;

/// Implements consensus's [`Executor`] on a [`Chain`]: execution runs on blocking threads so
/// it never stalls the consensus actors.
#[derive(Clone, Debug)]
pub struct ChainExecutor {
    chain: Arc<Chain>,
    beneficiaries: Arc<HashMap<PublicKeyBytes, Address>>,
    fatal: watch::Sender<Option<String>>,
}

impl ChainExecutor {
    /// An executor for `chain`. Fees of a block go to the beneficiary its proposer has in
    /// the genesis validator list. Unrecoverable failures (a finalized block this node
    /// computes differently, a broken disk) are published on `fatal`.
    pub fn new(chain: Arc<Chain>, fatal: watch::Sender<Option<String>>) -> Self {
        let beneficiaries = chain
            .genesis()
            .validators
            .iter()
            .filter_map(|v| {
                let bytes = hex::decode(v.public_key.trim_start_matches("0x")).ok()?;
                let key: PublicKeyBytes = bytes.try_into().ok()?;
                Some((key, v.beneficiary))
            })
            .collect();
        Self {
            chain,
            beneficiaries: Arc::new(beneficiaries),
            fatal,
        }
    }
}

impl Executor for ChainExecutor {
    fn genesis(&self) -> Block {
        self.chain.genesis_block().clone()
    }

    fn submitted(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<lightstreams_primitives::Bytes>> {
        Some(self.chain.subscribe_submitted())
    }

    fn relayed(&self, raw: &[u8]) {
        // Already pooled, already included, or invalid here: nothing to do either way.
        if let Err(e) = self.chain.accept_relayed(raw) {
            tracing::trace!(error = %e, "relayed transaction not pooled");
        }
    }

    fn last_finalized(&self) -> u64 {
        self.chain.head_number()
    }

    async fn build(
        &self,
        ancestry: Vec<Block>,
        parent: Block,
        timestamp_ms: u64,
        proposer: PublicKeyBytes,
    ) -> Option<Block> {
        self.chain.wait_for_transactions().await;
        let chain = self.chain.clone();
        let beneficiary = self
            .beneficiaries
            .get(&proposer)
            .copied()
            .unwrap_or_default();
        let built = tokio::task::spawn_blocking(move || {
            chain.build_now(&ancestry, &parent, timestamp_ms, beneficiary, Bytes::new())
        })
        .await;
        match built {
            Ok(Ok(block)) => {
                tracing::debug!(
                    number = block.number(),
                    txs = block.transactions().len(),
                    "built block"
                );
                Some(block)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not build a block");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "block builder task failed");
                None
            }
        }
    }

    async fn verify(&self, ancestry: Vec<Block>, parent: Block, block: Block) -> bool {
        let chain = self.chain.clone();
        let hash = block.hash();
        let result =
            tokio::task::spawn_blocking(move || chain.verify(&ancestry, &parent, &block)).await;
        match result {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(%hash, error = %e, "rejecting proposed block");
                false
            }
            Err(e) => {
                tracing::error!(%hash, error = %e, "verifier task failed");
                false
            }
        }
    }

    async fn finalized(&self, block: Block, certificate: Option<Vec<u8>>) {
        let chain = self.chain.clone();
        let number = block.number();
        let result = tokio::task::spawn_blocking(move || {
            chain.finalize(&block, certificate.as_deref().unwrap_or_default())
        })
        .await;
        let failure = match result {
            Ok(Ok(())) => {
                tracing::debug!(number, "finalized");
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::error!(number, error = %failure, "cannot apply a finalized block; stopping");
        let _ = self.fatal.send(Some(format!(
            "cannot apply finalized block {number}: {failure}"
        )));
        // Never acknowledge a block that was not applied: wait for the node to shut down.
        std::future::pending::<()>().await;
    }
}
