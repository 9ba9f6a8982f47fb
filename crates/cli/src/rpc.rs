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

    /// [`Rpc::quantity`] for a quantity of at most 64 bits (a chain id, nonce, gas or block
    /// number): a larger answer is an error, not a number cut short.
    pub(crate) fn quantity64(&self, method: &str, params: Value) -> anyhow::Result<u64> {
        let value = self.quantity(method, params)?;
        u64::try_from(value)
            .map_err(|_| anyhow!("{method} returned {value:#x}, which does not fit in 64 bits"))
    }
}

/// Parse a JSON hex quantity (`"0x1a"`).
pub(crate) fn parse_quantity(value: &Value) -> anyhow::Result<u128> {
    let text = value.as_str().ok_or_else(|| anyhow!("not a string"))?;
    let digits = text.strip_prefix("0x").ok_or_else(|| anyhow!("not hex"))?;
    Ok(u128::from_str_radix(digits, 16)?)
}

/// [`parse_quantity`] for a quantity of at most 64 bits: a larger one is an error, not a number
/// cut short.
pub(crate) fn parse_quantity64(value: &Value) -> anyhow::Result<u64> {
    let quantity = parse_quantity(value)?;
    u64::try_from(quantity).map_err(|_| anyhow!("{quantity:#x} does not fit in 64 bits"))
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};

    /// A JSON-RPC node on a local port answering each method with `answer(method)` (a
    /// `result` value, or an `error` message); it serves until the test ends.
    pub(crate) fn fake_rpc(answer: fn(&str) -> Result<Value, String>) -> String {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mut reader = BufReader::new(conn);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let reply = match answer(request["method"].as_str().unwrap_or_default()) {
                    Ok(result) => json!({"jsonrpc": "2.0", "id": 1, "result": result}),
                    Err(message) => json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": message}}),
                }
                .to_string();
                let _ = write!(
                    reader.get_mut(),
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    #[test]
    fn quantities_past_64_bits_are_errors_where_64_are_meant() {
        use super::{parse_quantity, parse_quantity64};
        assert_eq!(
            parse_quantity64(&json!("0xffffffffffffffff")).ok(),
            Some(u64::MAX)
        );
        assert!(parse_quantity64(&json!("0x10000000000000000")).is_err());
        assert_eq!(
            parse_quantity(&json!("0x10000000000000000")).ok(),
            Some(1u128 << 64)
        );
    }
}
