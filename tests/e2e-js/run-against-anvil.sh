#!/usr/bin/env bash
# Run the JSON-RPC e2e suite against anvil (the reference implementation).
# anvil comes from the @foundry-rs/anvil-linux-amd64 npm package (run `npm ci` first).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

ANVIL="$HERE/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
if [[ ! -x "$ANVIL" ]]; then
  echo "anvil binary not found at $ANVIL — run 'npm ci' in $HERE first" >&2
  exit 1
fi

CHAIN_ID="${CHAIN_ID:-161}"
PORT="${ANVIL_PORT:-$(node -e '
  const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });
')}"
RPC_URL="http://127.0.0.1:${PORT}"
LOG="$(mktemp -t anvil.XXXXXX.log)"

# Mixed mining: anvil mines one block per transaction (auto-mining) and an empty block every
# second, as a Lightstreams node does. Without the empty blocks, ethers' waitForTransaction can
# miss a receipt mined between its first check and its block listener and then wait for a
# block that never comes (seen once as a 30 s timeout).
"$ANVIL" --host 127.0.0.1 --port "$PORT" --chain-id "$CHAIN_ID" --block-time 1 --mixed-mining >"$LOG" 2>&1 &
ANVIL_PID=$!

cleanup() {
  if kill -0 "$ANVIL_PID" 2>/dev/null; then
    kill "$ANVIL_PID" 2>/dev/null || true
    wait "$ANVIL_PID" 2>/dev/null || true
  fi
  rm -f "$LOG"
}
trap cleanup EXIT INT TERM

echo "anvil $("$ANVIL" --version | head -1) starting on $RPC_URL (chain id $CHAIN_ID, pid $ANVIL_PID)"

# Wait (max ~30s) until it answers eth_chainId.
ready=0
for _ in $(seq 1 150); do
  if ! kill -0 "$ANVIL_PID" 2>/dev/null; then
    echo "anvil exited early; log:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  if RPC_URL="$RPC_URL" node -e '
    fetch(process.env.RPC_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(1000),
    }).then(r => r.json()).then(j => process.exit(j.result ? 0 : 1), () => process.exit(1));
  ' 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
if [[ "$ready" != 1 ]]; then
  echo "anvil did not answer on $RPC_URL; log:" >&2
  cat "$LOG" >&2
  exit 1
fi

status=0
RPC_URL="$RPC_URL" CHAIN_ID="$CHAIN_ID" \
  node --test --test-concurrency=1 --test-timeout=120000 chain.test.mjs || status=$?

if [[ "$status" != 0 ]]; then
  echo "---- anvil log (tail) ----" >&2
  tail -n 50 "$LOG" >&2 || true
fi
exit "$status"
