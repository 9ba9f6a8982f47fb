//! Wiring: p2p network, broadcast buffer, backfill resolver, marshal and simplex.

use std::{
    num::NonZeroUsize,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{self, core::Actor as Marshal, resolver::p2p as marshal_resolver, standard},
    simplex::{
        self,
        config::{ForwardPolicy, SkipBudget, SkipPolicy},
        elector::RoundRobin,
        scheme::ed25519::Scheme,
    },
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    ChaCha20Poly1305, Digestible as _, Signer as _, certificate::ConstantProvider,
};
use commonware_p2p::{
    Address, AddressableManager as _, AddressableTrackedPeers, Receiver as _, Recipients,
    Sender as _, authenticated::lookup,
};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Handle as TaskHandle, Quota, Spawner as _, Supervisor as _, buffer::paged::CacheRef,
    tokio::Context,
};
use commonware_storage::archive::immutable;
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{
    NZU16, NZU64, NZUsize, NonZeroDuration,
    ordered::{Map, Set},
};
use futures::{
    channel::oneshot,
    future::{Either, select, select_all},
};
use tracing::{info, warn};

use crate::{
    Config, Error, Executor,
    application::{App, Deliverer, run_finalizer},
    block::ConsensusBlock,
    keys::PublicKey,
};

/// p2p channel carrying simplex votes.
pub const CHANNEL_VOTES: u64 = 0;
/// p2p channel carrying simplex certificates.
pub const CHANNEL_CERTIFICATES: u64 = 1;
/// p2p channel carrying simplex certificate fetches.
pub const CHANNEL_SIMPLEX_RESOLVER: u64 = 2;
/// p2p channel carrying marshal's block broadcast.
pub const CHANNEL_BLOCKS: u64 = 3;
/// p2p channel carrying marshal's backfill requests and responses.
pub const CHANNEL_BACKFILL: u64 = 4;
/// p2p channel relaying clients' transactions to the other nodes, so that whoever leads next
/// includes them (without it a transaction waits for its own node's turn to lead).
pub const CHANNEL_TRANSACTIONS: u64 = 5;
/// Relayed transactions accepted per peer per second.
const TRANSACTIONS_PER_SECOND: u32 = 100_000;
/// Relayed transactions a peer may send at once. commonware preallocates every channel's
/// mailbox (and the shared router mailbox) as peers × burst slots, so the default burst (the
/// whole per-second rate) made an idle node hold ~100 MB of empty queue slots. Beyond the burst a
/// relayed transaction is dropped and waits for its own node to lead; the chain bench's
/// unpaced 4-validator load stays below it.
const TRANSACTIONS_BURST: u32 = 4096;

const PAGE_SIZE: u16 = 4096;
const PAGE_CACHE_PAGES: usize = 1024;
const WRITE_BUFFER: usize = 1024 * 1024;
const REPLAY_BUFFER: usize = 1024 * 1024;
const ARCHIVE_ITEMS_PER_SECTION: u64 = 16_384;
const CACHE_ITEMS_PER_SECTION: u64 = 256;
/// One epoch for the life of the chain.
const EPOCH_LENGTH: u64 = u64::MAX;
/// Blocks each peer may have outstanding in our broadcast cache.
const BROADCAST_DEQUE: usize = 16;

/// A running consensus node. Dropping the handle does not stop it; call [`Handle::stop`] or
/// [`Stopper::stop`].
pub struct Handle {
    root: TaskHandle<Result<(), String>>,
    stopper: Stopper,
    public_key: PublicKey,
    validator: bool,
    finalized: Arc<AtomicU64>,
}

/// Cloneable trigger that stops a running consensus node (see [`Handle::stopper`]).
#[derive(Clone)]
pub struct Stopper(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl Stopper {
    /// Ask consensus to stop: every consensus task is cancelled and [`Handle::wait`] returns
    /// `Ok(())`. Idempotent.
    pub fn stop(&self) {
        let sender = self.0.lock().ok().and_then(|mut s| s.take());
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

impl Handle {
    /// Our public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// Whether we are in the validator set (vote and propose) or a full node.
    pub fn is_validator(&self) -> bool {
        self.validator
    }

    /// Height of the last block whose [`Executor::finalized`] call returned in this run (0 until
    /// the first one).
    pub fn finalized_height(&self) -> u64 {
        self.finalized.load(Ordering::SeqCst)
    }

    /// A cloneable trigger to stop consensus from elsewhere (e.g. a signal handler) while
    /// another task is in [`Handle::wait`].
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Wait until consensus stops: `Ok(())` after [`Stopper::stop`], [`Error::Stopped`] if a
    /// component exited on its own (e.g. the runtime is shutting down).
    pub async fn wait(self) -> Result<(), Error> {
        match self.root.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::Stopped(reason)),
            Err(e) => Err(Error::Stopped(e.to_string())),
        }
    }

    /// Stop every consensus task now (network, simplex, marshal, executor calls in flight),
    /// releasing the listen socket and storage. Durable state stays consistent: simplex's
    /// journal and marshal's archives are crash-safe.
    pub fn stop(self) {
        self.stopper.stop();
        self.root.abort();
    }
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Error> {
    if cond {
        Ok(())
    } else {
        Err(Error::Config(msg()))
    }
}

fn validate(config: &Config) -> Result<(), Error> {
    ensure(!config.validators.is_empty(), || {
        "the validator set is empty".into()
    })?;
    ensure(config.leader_timeout > Duration::ZERO, || {
        "leader_timeout must be positive".into()
    })?;
    ensure(config.notarization_timeout > config.leader_timeout, || {
        "notarization_timeout must exceed leader_timeout".into()
    })?;
    ensure(config.nullify_retry > Duration::ZERO, || {
        "nullify_retry must be positive".into()
    })?;
    if let Some(skip) = config.skip_inactive_leader_after {
        ensure(
            skip > config.notarization_timeout && skip > config.nullify_retry,
            || {
                "skip_inactive_leader_after must exceed notarization_timeout and nullify_retry"
                    .into()
            },
        )?;
    }
    for (positive, name) in [
        (config.fetch_timeout > Duration::ZERO, "fetch_timeout"),
        (config.mailbox_size > 0, "mailbox_size"),
        (config.view_retention > 0, "view_retention"),
        (config.max_pending_acks > 0, "max_pending_acks"),
        (config.max_repair > 0, "max_repair"),
        (config.messages_per_second > 0, "messages_per_second"),
    ] {
        ensure(positive, || format!("{name} must be positive"))?;
    }
    ensure(!config.namespace.is_empty(), || {
        "namespace must not be empty".into()
    })?;
    ensure(
        config
            .partition_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !config.partition_prefix.is_empty(),
        || "partition_prefix must be non-empty [A-Za-z0-9_-]".into(),
    )?;
    Ok(())
}

/// Start consensus for `executor` on `context` (the node's tokio runtime).
///
/// Binds the p2p listener, opens (or recovers) the simplex journal and marshal archives under
/// the runtime's storage directory (partitions prefixed with [`Config::partition_prefix`]),
/// and spawns every actor. Returns once everything is running; storage or configuration
/// problems are reported as [`Error`]. Finalized blocks start flowing to
/// [`Executor::finalized`] right away (replaying any that marshal holds beyond the executor's
/// acknowledged height after a restart).
pub async fn start<X: Executor>(
    context: Context,
    config: Config,
    executor: X,
) -> Result<Handle, Error> {
    validate(&config)?;
    let public_key = config.signer.public_key();
    let validators = Set::from_iter_dedup(config.validators.iter().cloned());
    let validator = validators.position(&public_key).is_some();
    let finalized = Arc::new(AtomicU64::new(0));

    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let root = context.child("consensus").spawn({
        let finalized = finalized.clone();
        move |context| async move {
            let tasks = match setup(context, config, executor, validators, finalized).await {
                Ok(tasks) => tasks,
                Err(e) => {
                    let reason = e.to_string();
                    let _ = ready_tx.send(Err(e));
                    return Err(reason);
                }
            };
            let _ = ready_tx.send(Ok(()));
            let stop = async {
                if stop_rx.await.is_err() {
                    // The stopper was dropped without stopping: run until a component exits.
                    std::future::pending::<()>().await;
                }
            };
            // Returning from this task cancels every component (they are its descendants).
            match select(select_all(tasks), Box::pin(stop)).await {
                Either::Left(((result, index, _), _)) => {
                    warn!(index, ?result, "consensus component exited");
                    Err(format!("consensus component {index} exited: {result:?}"))
                }
                Either::Right(((), _)) => {
                    info!("consensus stopped on request");
                    Ok(())
                }
            }
        }
    });
    match ready_rx.await {
        Ok(Ok(())) => Ok(Handle {
            root,
            stopper: Stopper(Arc::new(Mutex::new(Some(stop_tx)))),
            public_key,
            validator,
            finalized,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Stopped("consensus setup task was cancelled".into())),
    }
}

fn peer_maps(
    config: &Config,
    me: &PublicKey,
    validators: &Set<PublicKey>,
) -> (Map<PublicKey, Address>, Map<PublicKey, Address>) {
    let mut primary: Vec<(PublicKey, Address)> = Vec::new();
    let mut secondary: Vec<(PublicKey, Address)> = Vec::new();
    // Our own entry (needed for the tracker to count us in the set).
    let own = (me.clone(), Address::Symmetric(config.listen));
    if validators.position(me).is_some() {
        primary.push(own);
    } else {
        secondary.push(own);
    }
    for (key, addr) in &config.peers {
        if key == me {
            continue;
        }
        let entry = (key.clone(), Address::Symmetric(*addr));
        if validators.position(key).is_some() {
            primary.push(entry);
        } else {
            secondary.push(entry);
        }
    }
    (
        Map::from_iter_dedup(primary),
        Map::from_iter_dedup(secondary),
    )
}

type Archive<V> = immutable::Archive<Context, crate::block::Digest, V>;

fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 65_536,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16_384,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1024 * 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(ARCHIVE_ITEMS_PER_SECTION),
        freezer_key_write_buffer: NZUsize!(WRITE_BUFFER),
        freezer_value_write_buffer: NZUsize!(WRITE_BUFFER),
        ordinal_write_buffer: NZUsize!(WRITE_BUFFER),
        replay_buffer: NZUsize!(REPLAY_BUFFER),
        codec_config: codec,
    }
}

fn non_zero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

async fn setup<X: Executor>(
    context: Context,
    config: Config,
    executor: X,
    validators: Set<PublicKey>,
    finalized: Arc<AtomicU64>,
) -> Result<Vec<TaskHandle<()>>, Error> {
    let me = config.signer.public_key();
    let validator = validators.position(&me).is_some();
    let namespace = config.namespace.clone();
    let prefix = config.partition_prefix.clone();
    let participants =
        u32::try_from(validators.len()).map_err(|_| Error::Config("too many validators".into()))?;

    // Signing scheme: validators sign votes; full nodes only verify certificates.
    let scheme = if validator {
        Scheme::signer(&namespace, validators.clone(), config.signer.clone())
            .ok_or_else(|| Error::Config("our key is not in the validator set".into()))?
    } else {
        Scheme::verifier(&namespace, validators.clone())
    };

    // --- p2p ---------------------------------------------------------------------------------
    let block_codec = ();
    let max_message_size = commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, crate::block::Digest>(participants),
        marshal::max_payload_size::<standard::Standard<ConsensusBlock>, Scheme>(
            participants,
            &block_codec,
        ),
    ]);
    let (primary, secondary) = peer_maps(&config, &me, &validators);
    let max_peers_per_set = non_zero(primary.len() + secondary.len() + 1);
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: config.signer.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mailbox = non_zero(config.mailbox_size);
    // `local` relaxes address checks and dial cooldowns for loopback and private networks.
    let profile = if config.allow_private_ips {
        lookup::Config::local
    } else {
        lookup::Config::recommended
    };
    let mut p2p = profile(
        handshake,
        &namespace,
        config.listen,
        max_peers_per_set,
        max_message_size,
        mailbox,
    );
    p2p.bypass_ip_check = config.bypass_ip_check;
    p2p.tracked_peer_sets = NZUsize!(1);
    if config.allow_private_ips {
        p2p.peer_connection_cooldown = Duration::from_millis(250);
        p2p.dial_frequency = Duration::from_millis(200);
        p2p.allowed_handshake_rate_per_ip = Quota::per_second(commonware_utils::NZU32!(128));
        p2p.allowed_handshake_rate_per_subnet = Quota::per_second(commonware_utils::NZU32!(256));
    }
    let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p);
    let _ = oracle.track(0, AddressableTrackedPeers::new(primary, secondary));
    let quota = Quota::per_second(
        std::num::NonZeroU32::new(config.messages_per_second).unwrap_or(std::num::NonZeroU32::MIN),
    );
    let votes = network.register(CHANNEL_VOTES, quota);
    let certificates = network.register(CHANNEL_CERTIFICATES, quota);
    let simplex_resolver = network.register(CHANNEL_SIMPLEX_RESOLVER, quota);
    let blocks = network.register(CHANNEL_BLOCKS, quota);
    let backfill = network.register(CHANNEL_BACKFILL, quota);
    let (mut relay_out, mut relay_in) = network.register(
        CHANNEL_TRANSACTIONS,
        Quota::per_second(
            std::num::NonZeroU32::new(TRANSACTIONS_PER_SECOND).unwrap_or(std::num::NonZeroU32::MIN),
        )
        .allow_burst(
            std::num::NonZeroU32::new(TRANSACTIONS_BURST).unwrap_or(std::num::NonZeroU32::MIN),
        ),
    );
    let network_task = network.start();

    // --- transaction relay: clients' transactions out to every peer, peers' into the pool ----
    let relay_out_task = context.child("relay_out").spawn({
        let submitted = executor.submitted();
        move |_| async move {
            // Every task here runs for the node's lifetime (one ending means consensus
            // stopped), so with nothing to relay this one just waits.
            let Some(mut submitted) = submitted else {
                return futures::future::pending::<()>().await;
            };
            loop {
                match submitted.recv().await {
                    Ok(raw) => {
                        let _ = relay_out.send(Recipients::All, raw.0, false);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        warn!(
                            missed,
                            "transaction relay fell behind; those wait for this node to lead"
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        return futures::future::pending::<()>().await;
                    }
                }
            }
        }
    });
    let relay_in_task = context.child("relay_in").spawn({
        let executor = executor.clone();
        move |_| async move {
            while let Ok((_peer, raw)) = relay_in.recv().await {
                executor.relayed(raw.as_ref());
            }
            // The network is shutting down; the node's other tasks report that.
            futures::future::pending::<()>().await
        }
    });

    // --- marshal: broadcast buffer, backfill resolver, archives, actor -----------------------
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: mailbox,
            deque_size: BROADCAST_DEQUE,
            priority: false,
            codec_config: block_codec,
            peer_provider: oracle.clone(),
            strategy: Sequential,
        },
    );
    let broadcast_task = broadcast_engine.start(blocks);

    let resolver = marshal_resolver::init(
        context.child("backfill"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: oracle.clone(),
            blocker: oracle.clone(),
            mailbox_size: mailbox,
            fetch_timeout: NonZeroDuration::new(config.fetch_timeout)
                .ok_or_else(|| Error::Config("fetch_timeout must be positive".into()))?,
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );

    let page_cache = CacheRef::new(NZU16!(PAGE_SIZE), NZUsize!(PAGE_CACHE_PAGES));
    let finalizations_by_height: Archive<_> = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(
            &prefix,
            "finalizations",
            &page_cache,
            <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|e| Error::Storage(format!("finalizations archive: {e}")))?;
    let finalized_blocks: Archive<Arc<ConsensusBlock>> = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", &page_cache, block_codec),
    )
    .await
    .map_err(|e| Error::Storage(format!("blocks archive: {e}")))?;

    let genesis = ConsensusBlock::new(executor.genesis());
    if genesis.inner().number() != 0 {
        return Err(Error::Config("the genesis block must have height 0".into()));
    }
    let genesis_digest = genesis.digest();
    let epocher = FixedEpocher::new(NZU64!(EPOCH_LENGTH));
    let (marshal_actor, marshal_mailbox, _floor) = Marshal::init(
        context.child("marshal"),
        finalizations_by_height,
        finalized_blocks,
        marshal::Config {
            provider: ConstantProvider::<Scheme, Epoch>::new(scheme.clone()),
            epocher: epocher.clone(),
            start: marshal::Start::Genesis(commonware_cryptography::Digested::precomputed(
                genesis.clone(),
                genesis_digest,
            )),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: mailbox,
            view_retention: ViewDelta::new(config.view_retention),
            prunable_items_per_section: NZU64!(CACHE_ITEMS_PER_SECTION),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(REPLAY_BUFFER),
            key_write_buffer: NZUsize!(WRITE_BUFFER),
            value_write_buffer: NZUsize!(WRITE_BUFFER),
            block_codec_config: block_codec,
            max_repair: non_zero(config.max_repair),
            max_pending_acks: non_zero(config.max_pending_acks),
            strategy: Sequential,
        },
    )
    .await;

    let (deliverer, deliveries) = Deliverer::new();
    let finalizer_task = context.child("finalizer").spawn({
        let executor = executor.clone();
        let marshal_mailbox = marshal_mailbox.clone();
        move |_| run_finalizer(executor, marshal_mailbox, deliveries, finalized)
    });
    let marshal_task = marshal_actor.start(deliverer, buffer, resolver);

    // --- simplex -----------------------------------------------------------------------------
    let inline = standard::Inline::new(
        context.child("application"),
        App::new(executor),
        marshal_mailbox,
        epocher,
    );
    let skip = match config.skip_inactive_leader_after {
        Some(timeout) => SkipPolicy::Enabled {
            timeout,
            budget: SkipBudget::Participants,
        },
        None => SkipPolicy::Disabled,
    };
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<commonware_cryptography::Sha256>::default(),
            blocker: oracle.clone(),
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            track_historical_votes: false,
            strategy: Sequential,
            partition: format!("{prefix}-simplex"),
            mailbox_size: mailbox,
            epoch: Epoch::zero(),
            floor: simplex::Floor::Genesis(genesis_digest),
            replay_buffer: NZUsize!(REPLAY_BUFFER),
            write_buffer: NZUsize!(WRITE_BUFFER),
            page_cache,
            leader_timeout: config.leader_timeout,
            certification_timeout: config.notarization_timeout,
            timeout_retry: config.nullify_retry,
            view_retention: ViewDelta::new(config.view_retention),
            skip,
            fetch_timeout: NonZeroDuration::new(config.fetch_timeout)
                .ok_or_else(|| Error::Config("fetch_timeout must be positive".into()))?,
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::SilentVoters,
        },
    );
    let simplex_task = engine.start(votes, certificates, simplex_resolver);

    info!(
        public_key = %me,
        validator,
        validators = validators.len(),
        listen = %config.listen,
        max_message_size,
        "consensus started"
    );
    Ok(vec![
        network_task,
        relay_out_task,
        relay_in_task,
        broadcast_task,
        marshal_task,
        finalizer_task,
        simplex_task,
    ])
}
