//! JSON-RPC errors, with the codes and messages geth uses.

use jsonrpsee::types::ErrorObjectOwned;
use lightstreams_chain::{CallError, TxError};

/// JSON-RPC error code geth uses for most request failures.
pub(crate) const SERVER_ERROR: i32 = -32000;
/// Invalid method parameters.
pub(crate) const INVALID_PARAMS: i32 = -32602;
/// Internal error.
pub(crate) const INTERNAL_ERROR: i32 = -32603;
/// Method not found.
pub(crate) const METHOD_NOT_FOUND: i32 = -32601;
/// A reverted call (geth's `ErrCodeReverted`).
pub(crate) const EXECUTION_REVERTED: i32 = 3;
/// A query larger than the server allows (EIP-1474 "limit exceeded").
pub(crate) const LIMIT_EXCEEDED: i32 = -32005;

/// Why a JSON-RPC method failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RpcError {
    /// The parameters are malformed.
    #[error("{0}")]
    InvalidParams(String),
    /// A state query names a block this node does not have.
    #[error("header not found")]
    HeaderNotFound,
    /// `eth_call` / `eth_estimateGas` failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// `eth_sendRawTransaction` refused the transaction.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A query is larger than the server allows.
    #[error("{0}")]
    LimitExceeded(String),
    /// Any other refusal, with geth's message.
    #[error("{0}")]
    Server(String),
    /// Storage or another internal component failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<lightstreams_chain::Error> for RpcError {
    fn from(e: lightstreams_chain::Error) -> Self {
        RpcError::Internal(e.to_string())
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        let message = e.to_string();
        match e {
            RpcError::InvalidParams(_) => {
                ErrorObjectOwned::owned::<()>(INVALID_PARAMS, message, None)
            }
            RpcError::Call(CallError::Reverted { data, .. }) => {
                ErrorObjectOwned::owned(EXECUTION_REVERTED, message, Some(data.to_string()))
            }
            RpcError::Call(CallError::Internal(_)) | RpcError::Internal(_) => {
                ErrorObjectOwned::owned::<()>(INTERNAL_ERROR, message, None)
            }
            RpcError::Tx(TxError::Internal(_)) => {
                ErrorObjectOwned::owned::<()>(INTERNAL_ERROR, message, None)
            }
            RpcError::LimitExceeded(_) => {
                ErrorObjectOwned::owned::<()>(LIMIT_EXCEEDED, message, None)
            }
            _ => ErrorObjectOwned::owned::<()>(SERVER_ERROR, message, None),
        }
    }
}

/// The error for a method this server does not serve, worded as geth words it.
pub(crate) fn method_not_found(method: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned::<()>(
        METHOD_NOT_FOUND,
        format!("the method {method} does not exist/is not available"),
        None,
    )
}

/// Result of a method.
pub(crate) type RpcResult<T> = Result<T, RpcError>;
