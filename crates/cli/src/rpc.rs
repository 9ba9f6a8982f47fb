//! A small blocking JSON-RPC client for the CLI.

use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::{Value, json};

/// A JSON-RPC endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Rpc {
    url: String,
    agent: ureq::Agent,
}

impl Rpc {
    pub(crate) fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: url.to_string(),
            agent,
        }
    }

    /// Call `method` and return its result, or the node's error message.
    pub(crate) fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut response = self
            .agent
            .post(&self.url)
            .send_json(&body)
            .with_context(|| format!("cannot reach the node at {} (is it running?)", self.url))?;
        let reply: Value = response
            .body_mut()
            .read_json()
            .with_context(|| format!("{} did not answer with JSON-RPC", self.url))?;
        if let Some(error) = reply.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(anyhow!("{method}: {message}"));
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow!("{method}: reply has neither result nor error"))
    }

    /// Send a JSON-RPC batch (an array of requests) and return the array of replies.
    pub(crate) fn batch(&self, body: &Value) -> anyhow::Result<Vec<Value>> {
        let mut response = self
            .agent
            .post(&self.url)
            .send_json(body)
            .with_context(|| format!("cannot reach the node at {}", self.url))?;
        let reply: Value = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_json()
            .with_context(|| format!("{} did not answer the batch with JSON", self.url))?;
        match reply {
            Value::Array(items) => Ok(items),
            other => Err(anyhow!("batch answered with {other}")),
        }
    }

    /// Call and parse a hex quantity.
    pub(crate) fn quantity(&self, method: &str, params: Value) -> anyhow::Result<u128> {
        let value = self.call(method, params)?;
        parse_quantity(&value).with_context(|| format!("{method} returned {value}"))
    }
}

/// Parse a JSON hex quantity (`"0x1a"`).
pub(crate) fn parse_quantity(value: &Value) -> anyhow::Result<u128> {
    let text = value.as_str().ok_or_else(|| anyhow!("not a string"))?;
    let digits = text.strip_prefix("0x").ok_or_else(|| anyhow!("not hex"))?;
    Ok(u128::from_str_radix(digits, 16)?)
}
