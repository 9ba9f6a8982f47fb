//! The bridge between marshal's [`Application`] interface and our [`Executor`].

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::UNIX_EPOCH,
};

use commonware_actor::Feedback;
use commonware_codec::Encode as _;
use commonware_consensus::{
    Application, Heightable, Reporter,
    marshal::{Update, ancestry::Ancestry, core::Mailbox, standard::Standard},
    simplex::{scheme::ed25519::Scheme, types::Context},
    types::Height,
};
use commonware_cryptography::Digested;
use commonware_runtime::Clock;
use commonware_utils::{Acknowledgement as _, acknowledgement::Exact};
use futures::{StreamExt as _, channel::mpsc};
use lightstreams_primitives::Block;
use tracing::{debug, warn};

use crate::{
    Executor,
    block::{ConsensusBlock, Digest},
    keys::{PublicKey, public_key_bytes},
};

/// The consensus context of a proposal (round, leader, parent).
pub(crate) type ConsensusContext = Context<Digest, PublicKey>;

/// Walks `stream` (newest first) and returns the blocks consumed, newest first, stopping at the
/// first block whose parent is at or below `last_finalized` (that block included). `None` if the
/// stream ended before producing `min` blocks.
async fn collect_unfinalized(
    mut stream: impl Ancestry<ConsensusBlock>,
    last_finalized: u64,
    min: usize,
) -> Option<Vec<Block>> {
    let mut blocks = Vec::new();
    while let Some(block) = stream.next().await {
        let height = block.height().get();
        blocks.push(block.inner().inner().clone());
        if blocks.len() >= min && height <= last_finalized.saturating_add(1) {
            return Some(blocks);
        }
    }
    // The stream ends at genesis.
    (blocks.len() >= min).then_some(blocks)
}

/// Split newest-first `blocks` (starting at the parent) into (ancestry ascending, parent).
fn split_ancestry(
    mut newest_first: Vec<Block>,
    last_finalized: u64,
) -> Option<(Vec<Block>, Block)> {
    if newest_first.is_empty() {
        return None;
    }
    let parent = newest_first[0].clone();
    newest_first.retain(|b| b.number() > last_finalized);
    newest_first.reverse();
    Some((newest_first, parent))
}

/// Marshal application adapter: proposes and verifies through the [`Executor`].
#[derive(Clone)]
pub(crate) struct App<X> {
    executor: X,
}

impl<X> App<X> {
    pub(crate) fn new(executor: X) -> Self {
        Self { executor }
    }
}

impl<E, X> Application<E> for App<X>
where
    E: Clock + Send + 'static,
    X: Executor,
{
    type SigningScheme = Scheme;
    type Context = ConsensusContext;
    type Block = ConsensusBlock;
    type Input = ();

    fn propose(
        &mut self,
        (runtime, context): (E, ConsensusContext),
        ancestry: impl Ancestry<ConsensusBlock>,
        _input: (),
    ) -> impl Future<Output = Option<Digested<ConsensusBlock>>> + Send {
        let executor = self.executor.clone();
        async move {
            let last_finalized = executor.last_finalized();
            let blocks = collect_unfinalized(ancestry, last_finalized, 1).await?;
            let (ancestry, parent) = split_ancestry(blocks, last_finalized)?;
            let now_ms = runtime
                .current()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            // Header timestamps are in seconds: never go below the parent's.
            let timestamp_ms = now_ms.max(parent.header().timestamp.saturating_mul(1000));
            let parent_number = parent.number();
            let parent_hash = parent.hash();
            let block = executor
                .build(
                    ancestry,
                    parent,
                    timestamp_ms,
                    public_key_bytes(&context.leader),
                )
                .await?;
            if block.number() != parent_number + 1 || block.parent_hash() != parent_hash {
                warn!(
                    number = block.number(),
                    parent_number, "executor built a block that does not extend its parent"
                );
                return None;
            }
            debug!(round = %context.round, number = block.number(), hash = %block.hash(), "proposing");
            let digest = crate::block::digest_of(block.hash());
            Some(Digested::precomputed(ConsensusBlock::new(block), digest))
        }
    }

    fn verify(
        &mut self,
        (_runtime, context): (E, ConsensusContext),
        ancestry: impl Ancestry<ConsensusBlock>,
    ) -> impl Future<Output = bool> + Send {
        let executor = self.executor.clone();
        async move {
            let last_finalized = executor.last_finalized();
            // The stream yields the candidate, then its parent, then older ancestors.
            let Some(mut blocks) = collect_unfinalized(ancestry, last_finalized, 2).await else {
                // Missing ancestry is not proof of invalidity: abstain (consensus cancels us).
                warn!(round = %context.round, "ancestry unavailable; abstaining");
                return std::future::pending().await;
            };
            let block = blocks.remove(0);
            let Some((ancestry, parent)) = split_ancestry(blocks, last_finalized) else {
                return std::future::pending().await;
            };
            if block.header().timestamp < parent.header().timestamp {
                debug!(number = block.number(), "timestamp below parent's");
                return false;
            }
            let valid = executor.verify(ancestry, parent, block.clone()).await;
            debug!(round = %context.round, number = block.number(), valid, "verified");
            valid
        }
    }
}

/// A finalized block waiting for the executor, with marshal's acknowledgement.
pub(crate) type Delivery = (Digested<ConsensusBlock>, Exact);

/// Marshal reporter: forwards finalized blocks, in order, to the finalizer task.
#[derive(Clone)]
pub(crate) struct Deliverer {
    sender: mpsc::UnboundedSender<Delivery>,
}

impl Deliverer {
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Delivery>) {
        let (sender, receiver) = mpsc::unbounded();
        (Self { sender }, receiver)
    }
}

impl Reporter for Deliverer {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Block(block, ack) => match self.sender.unbounded_send((block, ack)) {
                Ok(()) => Feedback::Ok,
                Err(_) => Feedback::Closed,
            },
            Update::Tip(..) => Feedback::Ok,
        }
    }
}

/// Hands finalized blocks to the executor one at a time, with their finalization certificate,
/// and acknowledges each to marshal only once the executor has returned (stored it durably).
pub(crate) async fn run_finalizer<X: Executor>(
    executor: X,
    marshal: Mailbox<Scheme, Standard<ConsensusBlock>>,
    mut deliveries: mpsc::UnboundedReceiver<Delivery>,
    finalized_height: Arc<AtomicU64>,
) {
    // Catch the executor up with blocks marshal already delivered in an earlier run (e.g. the
    // executor's database was restored from an older backup): marshal only redelivers from its
    // own processed height.
    if let Some(processed) = marshal.get_processed().await {
        let mut next = executor.last_finalized().saturating_add(1);
        while next <= processed.height().get() {
            let height = Height::new(next);
            let Some(block) = marshal.get_block(height).await else {
                warn!(
                    height = next,
                    "finalized block missing from marshal's archive"
                );
                break;
            };
            let certificate = marshal
                .get_finalization(height)
                .await
                .map(|finalization| finalization.encode().to_vec());
            executor
                .finalized(block.inner().inner().clone(), certificate)
                .await;
            finalized_height.fetch_max(next, Ordering::SeqCst);
            next += 1;
        }
    }
    while let Some((block, ack)) = deliveries.next().await {
        let height = block.height();
        if height.get() == 0 {
            // Genesis is every executor's starting point, not a finalization to apply.
            ack.acknowledge();
            continue;
        }
        let certificate = marshal
            .get_finalization(height)
            .await
            .map(|finalization| finalization.encode().to_vec());
        let inner = block.inner().inner().clone();
        debug!(number = inner.number(), hash = %inner.hash(), has_certificate = certificate.is_some(), "finalized");
        executor.finalized(inner, certificate).await;
        finalized_height.fetch_max(height.get(), Ordering::SeqCst);
        ack.acknowledge();
    }
}
