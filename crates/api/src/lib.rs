//! Serve the Ethereum JSON-RPC API of a Lightstreams node.
//!
//! [`serve`] starts one server on one port that answers JSON-RPC over HTTP `POST` and over
//! WebSocket, with batches, CORS open to every origin (browser wallets and dapps), a request
//! body limit and a connection limit. One client address holds at most 256 connections and 64
//! `/v1` requests in progress (more are answered `429` with `Retry-After`), so one host cannot
//! take the whole server; the node's own machine (127.0.0.1, ::1) is not limited. It runs on
//! the caller's tokio runtime. The same port serves the vault's `/v1` HTTP API (clients) and
//! `/v1/peer` (other vault nodes: replication and fetches between nodes; see the
//! `vault::peers` module).
//!
//! # Design
//! - Every method reads [`Chain`]'s finalized state. Finality is instant, so the tags
//!   `latest`, `safe`, `finalized` and `pending` all name the head block (`pending` differs
//!   only for `eth_getTransactionCount`, which counts pooled transactions); `earliest` is
//!   block 0. EIP-1898 block objects (`{"blockHash": ..}` / `{"blockNumber": ..}`) work
//!   wherever a block is asked for.
//! - Unknown blocks are `null` for block and transaction queries and the error
//!   `header not found` for state queries, as in geth. Error codes and messages also follow
//!   geth (`-32000` with the pool's message for refused transactions, `3` with the revert
//!   data for reverted calls, `-32601` for unknown methods, `-32602` for bad parameters), so
//!   ethers.js, viem and Foundry classify them as they do on Ethereum.
//! - Cheap reads run inline on the connection's task; `eth_call`, `eth_estimateGas`,
//!   `eth_getLogs` and filter polling run on tokio's blocking pool.
//! - `eth_getLogs` skips blocks by their header bloom and refuses ranges above
//!   10,000 blocks or results above 10,000 logs.
//! - Polling filters live in memory and expire after five minutes without a poll;
//!   `eth_subscribe` (`newHeads`, `logs`) is fed by [`Chain::subscribe`].
//! - Input is never trusted: parameters are parsed with serde into typed values and no
//!   code path indexes or unwraps on request data.

// The OpenAPI document is one `json!` literal, deeper than the default macro limit.
#![recursion_limit = "256"]

mod convert;
mod error;
mod eth;
mod filters;
mod per_ip;
mod pubsub;
mod vault;

pub use vault::{NOT_FOUND_BODY, PeerConfig, VaultConfig};

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{BatchRequestConfig, MethodResponse, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::Request;
use lightstreams_chain::Chain;
use tower_http::cors::{Any, CorsLayer};

/// Configuration of the JSON-RPC server.
#[derive(Clone, Debug)]
pub struct RpcConfig {
    /// Address to listen on; HTTP and WebSocket share it. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// Largest accepted request body (or WebSocket message), in bytes.
    pub max_request_body: u32,
    /// Most simultaneous connections.
    pub max_connections: u32,
    /// Serve the vault's HTTP API under `/v1` on the same port.
    pub vault: Option<VaultConfig>,
    /// Most connections one client address may hold open (0: no limit). The node's own
    /// machine (127.0.0.1, ::1) is never limited.
    pub connections_per_address: usize,
    /// Most `/v1` requests one client address may have in progress, response bodies included
    /// (0: no limit); more are answered `429` with `Retry-After`. Not for the node's own machine.
    pub vault_requests_per_address: usize,
}

impl RpcConfig {
    /// Default limits for `addr`: 10 MiB requests, 1,000 connections, and per client address
    /// 256 connections and 64 `/v1` requests in progress.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            max_request_body: 10 * 1024 * 1024,
            max_connections: 1000,
            vault: None,
            connections_per_address: DEFAULT_CONNECTIONS_PER_ADDRESS,
            vault_requests_per_address: DEFAULT_VAULT_REQUESTS_PER_ADDRESS,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The vault's storage could not be opened.
    #[error("cannot open the vault store: {0}")]
    Vault(std::io::Error),
    /// A method could not be registered (a bug).
    #[error("cannot register method: {0}")]
    Register(#[from] jsonrpsee::server::RegisterMethodError),
}

/// A running server. Stop it with [`RpcHandle::stop`]; dropping the last clone stops it too.
#[derive(Debug, Clone)]
pub struct RpcHandle {
    local_addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcHandle {
    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Ask the server to stop; idempotent.
    pub fn stop(&self) {
        let _ = self.handle.stop();
    }

    /// Wait until the server has stopped.
    pub async fn stopped(self) {
        self.handle.stopped().await
    }
}

/// Largest response, in bytes (10,000 logs fit).
const MAX_RESPONSE_BODY: u32 = 64 * 1024 * 1024;
/// Most requests in one batch.
const MAX_BATCH: u32 = 1000;
/// Most subscriptions per WebSocket connection.
const MAX_SUBSCRIPTIONS: u32 = 1024;

/// Start serving `chain` on `config.addr` on the current tokio runtime.
pub async fn serve(chain: Arc<Chain>, config: RpcConfig) -> Result<RpcHandle, Error> {
    let ctx_chain = chain.clone();
    let ctx = Arc::new(eth::Ctx {
        chain,
        filters: filters::Filters::default(),
    });
    let mut module = eth::module(ctx)?;
    pubsub::register(&mut module)?;
    let known: Arc<HashSet<&'static str>> = Arc::new(module.method_names().collect());

    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_body)
        .max_response_body_size(MAX_RESPONSE_BODY)
        .max_connections(config.max_connections)
        .max_subscriptions_per_connection(MAX_SUBSCRIPTIONS)
        .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH))
        .set_id_provider(pubsub::HexIds)
        .build();
    // Every response header is exposed to the page too: a dapp on another origin reading the
    // vault API needs `Content-Range` (players), `Content-Disposition` and `Retry-After`.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any);
    let v1 = match &config.vault {
        Some(vault) => Some(vault::service(ctx_chain, vault).map_err(Error::Vault)?),
        None => None,
    };
    let services = Server::builder()
        .set_config(server_config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(cors).layer(V1Layer {
            router: v1,
            in_flight: per_ip::PerIp::new(config.vault_requests_per_address),
        }))
        .set_rpc_middleware(
            RpcServiceBuilder::new().layer_fn(move |inner| UnknownMethod {
                inner,
                known: known.clone(),
            }),
        )
        .to_service_builder();
    let bind = |source| Error::Bind {
        addr: config.addr,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(bind)?;
    let local_addr = listener.local_addr().map_err(bind)?;
    let (stop, handle) = jsonrpsee::server::stop_channel();
    let methods: jsonrpsee::server::Methods = module.into();
    tokio::spawn(async move {
        let connections = per_ip::PerIp::new(config.connections_per_address);
        loop {
            let (socket, from) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors or similar: do not spin.
                        tracing::debug!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = stop.clone().shutdown() => break,
            };
            let permit = if per_ip::is_this_machine(from.ip()) {
                None
            } else if let Some(permit) = connections.try_take(from.ip()) {
                Some(permit)
            } else {
                tracing::debug!(%from, "too many connections from one address; closing a new one");
                continue;
            };
            let _ = socket.set_nodelay(true);
            let service = services.clone().build(methods.clone(), stop.clone());
            let per_request = tower::service_fn(
                move |request: jsonrpsee::server::HttpRequest<hyper::body::Incoming>| {
                    let mut request = request.map(jsonrpsee::server::HttpBody::new);
                    request.extensions_mut().insert(ClientAddr(from));
                    let mut service = service.clone();
                    async move {
                        tower::Service::call(&mut service, request)
                            .await
                            .map_err(|e| std::io::Error::other(e.to_string()))
                    }
                },
            );
            let stopped = stop.clone().shutdown();
            tokio::spawn(async move {
                if let Err(e) =
                    jsonrpsee::server::serve_with_graceful_shutdown(socket, per_request, stopped)
                        .await
                {
                    tracing::debug!(%from, error = %e, "HTTP connection ended");
                }
                drop(permit);
            });
        }
    });
    Ok(RpcHandle { local_addr, handle })
}

/// Default of [`RpcConfig::connections_per_address`] (the node's own machine is not limited:
/// its tools, its web app and the nodes of a local testnet all share that address).
pub const DEFAULT_CONNECTIONS_PER_ADDRESS: usize = 256;
/// Default of [`RpcConfig::vault_requests_per_address`]. Vault requests run on tokio's
/// blocking pool (512 threads); this keeps any one host to a share of it.
pub const DEFAULT_VAULT_REQUESTS_PER_ADDRESS: usize = 64;

/// The address a request came from (an extension of every HTTP request).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

/// Answers calls to unregistered methods with geth's wording.
#[derive(Clone, Debug)]
struct UnknownMethod<S> {
    inner: S,
    known: Arc<HashSet<&'static str>>,
}

impl<S> RpcServiceT for UnknownMethod<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        let known = self.known.contains(request.method_name());
        async move {
            if known {
                inner.call(request).await
            } else {
                let err = error::method_not_found(request.method_name());
                MethodResponse::error(request.id, err)
            }
        }
    }

    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            if let Ok(BatchEntry::Call(request)) = entry
                && !self.known.contains(request.method_name())
            {
                let err = error::method_not_found(request.method_name());
                *entry = Err(BatchEntryErr::new(request.id.clone(), err));
            }
        }
        let inner = self.inner.clone();
        async move { inner.batch(batch).await }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        async move { inner.notification(n).await }
    }
}

/// Routes `/v1` requests to the vault's axum router and everything else to JSON-RPC.
#[derive(Clone)]
struct V1Layer {
    router: Option<axum::Router>,
    in_flight: Arc<per_ip::PerIp>,
}

impl<S> tower::Layer<S> for V1Layer {
    type Service = V1Service<S>;

    fn layer(&self, inner: S) -> Self::Service {
        V1Service {
            inner,
            router: self.router.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}

#[derive(Clone)]
struct V1Service<S> {
    inner: S,
    router: Option<axum::Router>,
    /// `/v1` requests in progress per client address.
    in_flight: Arc<per_ip::PerIp>,
}

/// The answer to a client address over its share (`share`) of `/v1` requests in progress.
fn too_many_in_flight(share: usize) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({"error": {"code": "too_many_requests", "message": format!(
        "this address already has {share} vault requests in progress on this node; retry when one has finished"
    )}});
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        [(axum::http::header::RETRY_AFTER, "1")],
        axum::Json(body),
    )
        .into_response()
}

/// A response body that holds a permit until it is finished or dropped.
struct Holding<B> {
    body: B,
    _permit: per_ip::IpPermit,
}

impl<B: http_body::Body + Unpin> http_body::Body for Holding<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> tower::Service<jsonrpsee::server::HttpRequest> for V1Service<S>
where
    S: tower::Service<
            jsonrpsee::server::HttpRequest,
            Response = jsonrpsee::server::HttpResponse<B>,
            Error = BoxError,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = jsonrpsee::server::HttpResponse<axum::body::Body>;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: jsonrpsee::server::HttpRequest) -> Self::Future {
        let path = request.uri().path();
        if let Some(router) = &self.router
            && (path == "/v1" || path.starts_with("/v1/"))
        {
            // `GET /v1` (the node's facts, which peers probe to see it is alive) is answered
            // at once and does not count.
            let permit = match request.extensions().get::<ClientAddr>() {
                Some(ClientAddr(from)) if path != "/v1" && !per_ip::is_this_machine(from.ip()) => {
                    match self.in_flight.try_take(from.ip()) {
                        Some(permit) => Some(permit),
                        None => {
                            let share = self.in_flight.cap();
                            return Box::pin(async move { Ok(too_many_in_flight(share)) });
                        }
                    }
                }
                _ => None,
            };
            let router = router.clone();
            return Box::pin(async move {
                let response = tower::ServiceExt::oneshot(router, request)
                    .await
                    .unwrap_or_else(|never| match never {});
                Ok(match permit {
                    Some(permit) => response.map(|body| {
                        axum::body::Body::new(Holding {
                            body,
                            _permit: permit,
                        })
                    }),
                    None => response,
                })
            });
        }
        let future = self.inner.call(request);
        Box::pin(async move { Ok(future.await?.map(axum::body::Body::new)) })
    }
}
