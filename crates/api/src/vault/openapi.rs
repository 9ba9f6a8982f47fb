//! The OpenAPI 3.1 document of `/v1`, served at `/v1/openapi.json`.

use axum::Json;
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

/// An account address, as every route that takes one parses it.
const ADDRESS: &str = "^0x[0-9a-fA-F]{40}$";

fn id_param(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$"}
    })
}

/// The document.
pub(super) async fn document() -> Json<Value> {
    Json(spec())
}

pub(super) fn spec() -> Value {
    let not_found = error_response(
        "Not found. The same status and bytes answer an unknown id and every refusal (unsigned, \
         bad signature, stale, replayed, no permission, expired, revoked).",
    );
    let bad = error_response("The request itself is malformed; the message says what to fix.");
    let unauthorized = error_response("No session, or an expired one.");
    let raw_object = json!([
        id_param("item", "Item id"),
        {"name": "kind", "in": "path", "required": true,
         "description": "chunks and manifests (GET: READ; PUT/DELETE: WRITE), envelopes (GET: READ; PUT: ADMIN), shares (a key keeper's share for epoch `id`: PUT deposits it, owner or ADMIN; GET releases it wrapped to the caller's registered key, READ), messages (fan-channel post `id` from the owner: PUT ADMIN, GET READ), replies (reader to owner: PUT READ, GET ADMIN)",
         "schema": {"type": "string", "enum": ["chunks", "manifests", "envelopes", "shares", "messages", "replies"]}},
        {"name": "id", "in": "path", "required": true,
         "description": "Chunk or manifest address (BLAKE3 of the bytes, 0x + 64 hex), envelope locator (0x + 64 hex), or a number (share epoch, message or reply number)",
         "schema": {"type": "string", "pattern": "^((0x)?[0-9a-fA-F]{64}|[0-9]{1,19})$"}},
        {"name": "Authorization", "in": "header", "required": true,
         "description": "Lightstreams-Sig v1 ts=UNIX,nonce=HEX32,sig=0xHEX130 — an EIP-191 signature of the request text (docs/design/vault-protocol.md). Without it (or with a bad one) the answer is the uniform 404, never 401: a refusal must not tell whether the object exists",
         "schema": {"type": "string"}}
    ]);
    let bearer = json!([{"bearer": []}]);
    let wait_param = json!({"name": "wait", "in": "query", "schema": {"type": "boolean", "default": true},
        "description": "Answer once every object of the item has its live copies on the vault nodes (at most 120 s); false: once this node stored it"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Lightstreams vault API",
            "version": "1",
            "description": "Encrypted items with on-chain permissions. Raw routes serve sealed objects to signed requests; file routes encrypt and decrypt on the node for an account whose keystore it holds. Any route but GET /v1 may answer 429 (error code too_many_requests, with Retry-After in seconds) when the caller's address already has its share of requests in progress on the node (default 64; the node's own machine is never limited): send the same request again after that wait, since a signed request's nonce is not spent by a 429."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Listing": {"type": "object", "properties": {
                    "item": {"type": "string"}, "creator": {"type": "string"}, "price_wei": {"type": "string"},
                    "supply": {"type": "integer", "description": "0 = unlimited"}, "sold": {"type": "integer"},
                    "active": {"type": "boolean"},
                    "splits": {"type": "array", "items": {"type": "object", "properties": {
                        "to": {"type": "string"}, "bps": {"type": "integer"}}}}}},
                "Published": {"type": "object", "properties": {
                    "item": {"type": "string"}, "version": {"type": "integer"}, "epoch": {"type": "integer"},
                    "manifest": {"type": "string"}, "size": {"type": "integer"}, "chunks": {"type": "integer"},
                    "copies": {"type": "integer", "description": "Fewest live copies of any object of the item when the node answered (absent with wait=false)"},
                    "copies_wanted": {"type": "integer", "description": "Copies wanted of each object: R, or one per live node where fewer are up"}}},
                "ItemInfo": {"type": "object", "properties": {
                    "item": {"type": "string"}, "owner": {"type": "string"}, "public": {"type": "boolean"},
                    "epoch": {"type": "integer"}, "policy": {"type": ["string", "null"]},
                    "level": {"type": "string"},
                    "versions": {"type": "array", "items": {"type": "object", "properties": {
                        "index": {"type": "integer"}, "manifest": {"type": "string"}, "epoch": {"type": "integer"},
                        "author": {"type": "string"}, "timestamp": {"type": "integer"}}}}}}
            }
        },
        "paths": {
            "/v1": {"get": {"summary": "Node id, chain id, head, contract addresses, chunk size, keeper_key (the X25519 key shares are wrapped to, if this node keeps key shares), live_peers, and stream_port (the TCP port of the node's vault stream: the batch reads of /v1/raw/{item}/batch and /v1/peer/{item}/batch over plain TCP, same signatures and frames; uploads too; null if none), and local_stream (to a client on the node's machine that sends no Origin header only: the absolute path of a Unix-domain socket carrying the same requests, where each stored blob is handed over as an open file descriptor in a FILE frame (status 3, length, one SCM_RIGHTS descriptor); null otherwise)",
                "responses": {"200": {"description": "Node facts", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI document"}}}},
            "/v1/keepers": {"get": {"summary": "The default key keepers: whether this node is a validator (then it is one), and the other validators' API URLs from its configuration",
                "responses": {"200": {"description": "{validator: bool, peers: [url]}", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/v1/market/listings": {"get": {"summary": "Everything ever listed on the marketplace, newest first (buy with a `buy(item, recipient)` transaction to the marketplace contract; the key then comes from the keepers via `/v1/raw/{item}/shares/{epoch}`)",
                "responses": {"200": {"description": "Listings", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Listing"}}}}}}}},
            "/v1/market/listings/{item}/buy": {"post": {"summary": "Buy for the session's account (or `recipient`, a gift), optionally with a creator-signed offer: pays the creator and collaborators and grants READ in one transaction; the file then downloads from /v1/files/{item} with its key from the keepers",
                "security": bearer.clone(),
                "parameters": [id_param("item", "Item id")],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "recipient": {"type": "string"}, "offer": {"type": "object", "description": "as `lightstreams market offer` writes it"}}}}}},
                "responses": {"200": {"description": "Bought: item, recipient, paid_wei, transaction"},
                    "400": bad, "401": unauthorized.clone(), "404": not_found.clone(),
                    "409": error_response("Refused: not for sale, sold out, wrong offer, ... (the message says which)")}}},
            "/v1/fans/inbox": {"get": {"summary": "The fan channel as the session's account sees it: the owners' messages on items it may read, replies on items it owns (`?item=` for one item)",
                "security": bearer.clone(),
                "parameters": [{"name": "item", "in": "query", "required": false, "description": "Only this item's posts",
                    "schema": {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$"}}],
                "responses": {"200": {"description": "Posts: item, kind (message|reply), n, from, text, sent, offer?"}, "400": bad.clone(), "401": unauthorized.clone()}}},
            "/v1/fans/{item}/messages": {"post": {"summary": "Message every current reader of an item the session's account owns (sealed under the item's channel key), optionally with an offer",
                "security": bearer.clone(),
                "parameters": [id_param("item", "Item id")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["text"], "properties": {
                    "text": {"type": "string"}, "offer": {"type": "object"}}}}}},
                "responses": {"200": {"description": "Sent: item, message number"}, "400": bad, "401": unauthorized.clone(), "409": error_response("Not the owner")}}},
            "/v1/fans/{item}/replies": {"post": {"summary": "Reply privately to the owner of an item the session's account may read (sealed to the owner's key; only admins can fetch it)",
                "security": bearer.clone(),
                "parameters": [id_param("item", "Item id")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["text"], "properties": {
                    "text": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Sent: item, reply number"}, "400": bad, "401": unauthorized.clone(), "409": error_response("May not read the item")}}},
            "/v1/market/listings/{item}": {"get": {"summary": "One listing",
                "parameters": [id_param("item", "Item id")],
                "responses": {"200": {"description": "The listing", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Listing"}}}},
                    "400": bad, "404": not_found}}},
            "/v1/raw/{item}/{kind}/{id}": {
                "get": {"summary": "Fetch a sealed chunk, manifest, envelope or message (needs READ), a key share released to the caller (READ), or a reply (ADMIN)",
                    "parameters": raw_object,
                    "responses": {"200": {"description": "The sealed bytes", "content": {"application/octet-stream": {}}},
                        "400": bad, "404": not_found}},
                "put": {"summary": "Store a sealed chunk or manifest (needs WRITE), an envelope, key-share deposit or message (ADMIN), or a reply (READ); messages and replies are write-once (409 when the number is taken)",
                    "parameters": raw_object,
                    "requestBody": {"required": true, "content": {"application/octet-stream": {}}},
                    "responses": {"204": {"description": "Stored"}, "400": bad, "404": not_found,
                        "413": error_response("Larger than a sealed object can be")}}
            },
            "/v1/raw/{item}/batch": {"post": {"summary": "Many chunks or manifests of an item in one read (needs READ), streamed in the order named. The body names up to 1024 objects, one `chunks/0x…` or `manifests/0x…` per line; the request is signed like a GET whose object is `batch:0x` + the BLAKE3 hash (hex) of the body. Each object comes back as a frame: status byte (1 = follows, 0 = absent: no copy on this node or its replicas), length (u32 little-endian), the sealed bytes. Objects this node lacks are fetched (verified) from its replicas for the caller; its own copies are sent unverified, so check each object against its address and GET a damaged one on its own (a single GET verifies the node's copy and replaces it from a replica)",
                "parameters": [id_param("item", "Item id"), {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"text/plain": {}}},
                "responses": {"200": {"description": "The frames", "content": {"application/octet-stream": {}}}, "400": bad, "404": not_found}},
                "put": {"summary": "Many sealed chunks or manifests of an item in one streamed upload (needs WRITE). The body is the list (its length as u32 little-endian, then up to 1024 `chunks/0x…` or `manifests/0x…` lines), then one frame per object in the order named: status byte 1, length (u32 little-endian), the sealed bytes. The request is signed like a PUT whose object is `batch:0x` + the BLAKE3 hash (hex) of the list; the signature and WRITE are checked before any object is read, then each object is hashed and written as it arrives. A refusal is the uniform 404; an object that does not hash to its address, a cut body, an absent frame or trailing bytes are a 400, and nothing of the batch is kept",
                "parameters": [id_param("item", "Item id"), {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/octet-stream": {}}},
                "responses": {"204": {"description": "Every object stored"}, "400": bad, "404": not_found,
                    "413": error_response("An object larger than a sealed object can be")}}},
            "/v1/raw/{item}/info": {"get": {"summary": "On-chain facts and versions of an item (needs READ)",
                "parameters": [id_param("item", "Item id"), {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Info"}, "400": bad, "404": not_found}}},
            "/v1/raw/{item}/health": {"get": {"summary": "Replication health of an item (needs READ; signed like a GET of `info`): how many live copies each of its objects has across the registered vault nodes, the wanted copies (R), and what each node holds",
                "parameters": [id_param("item", "Item id"), {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{item, replicas, wanted (R, or the number of registered nodes if fewer), objects, min_copies, max_blob_copies (most copies of any chunk or manifest: R once extra copies are collected), under_replicated, misplaced (objects not yet on every node of their placement, the best R live nodes: they are still moving), wanted_live (copies replication can reach now), nodes: [{id, url, operator, live, objects}]}"}, "400": bad, "404": not_found}}},
            "/v1/peer/{item}/inventory": {"get": {"summary": "Node to node: which objects of an item this node holds (`Authorization: LS-Peer ...` signed by a registered vault node's ed25519 key, naming this node)",
                "parameters": [id_param("item", "Item id"), {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{blobs, envelopes, messages, replies, declined}"}, "400": bad, "404": not_found}}},
            "/v1/peer/{item}/proof/{id}": {"get": {"summary": "Node to node: prove this node holds a chunk or manifest of an item, asked before the asking node deletes its own extra copy. `id` is `0x<address>.0x<challenge>` (32 bytes each); the answer is the BLAKE3 keyed hash of the whole blob with the challenge as key (32 bytes). Signed with `LS-Peer` like every peer request; no intact copy here is the uniform 404",
                "parameters": [id_param("item", "Item id"),
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}\\.0x[0-9a-fA-F]{64}$"}},
                    {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The 32-byte proof", "content": {"application/octet-stream": {}}}, "400": bad, "404": not_found}}},
            "/v1/peer/{item}/batch": {"post": {"summary": "Node to node: many objects of an item in one request, streamed in the order named. The body names up to 1024 objects, one `kind/id` per line; the `LS-Peer` header signs method POST, kind `batch` and, as id, the BLAKE3 hash (hex) of the body. Each object comes back as a frame: status byte (1 = follows, 0 = absent: not held here, or not for this reader), length (u32 little-endian), bytes. Blobs are sent unverified; the asking node verifies them",
                "parameters": [id_param("item", "Item id"), {"name": "Authorization", "in": "header", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"text/plain": {}}},
                "responses": {"200": {"description": "The frames", "content": {"application/octet-stream": {}}}, "400": bad, "404": not_found}}},
            "/v1/peer/{item}/{kind}/{id}": {
                "get": {"summary": "Node to node: one object from this node's own disk, for the reader the peer names (who must hold READ here); never forwarded further",
                    "parameters": raw_object,
                    "responses": {"200": {"description": "The object's bytes"}, "400": bad, "404": not_found,
                        "500": error_response("This node's copy is damaged: ask another replica")}},
                "put": {"summary": "Node to node: replicate one object here (chunks/manifests must hash to their address; envelopes and posts are never overwritten)",
                    "parameters": raw_object,
                    "requestBody": {"required": true, "content": {"application/octet-stream": {}}},
                    "responses": {"204": {"description": "Stored"}, "400": bad, "404": not_found}}
            },
            "/v1/session": {"post": {"summary": "Unlock an account of the node's keystore; returns a bearer token valid for an hour of inactivity",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["account", "password"], "properties": {"account": {"type": "string", "pattern": ADDRESS}, "password": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Session", "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"token": {"type": "string"}, "account": {"type": "string"}, "expires_in": {"type": "integer"}}}}}},
                    "400": bad, "401": error_response("Unknown account or wrong password"),
                    "429": error_response("Wait before trying this account again (Retry-After, in seconds): one attempt at a time, and 1, 2, 4, ... up to 300 s after each wrong password in a row")}}},
            "/v1/files": {"post": {"summary": "Add a file: the node encrypts it for the session's account and publishes version 0",
                "security": bearer,
                "parameters": [
                    {"name": "name", "in": "query", "schema": {"type": "string"}},
                    {"name": "media_type", "in": "query", "schema": {"type": "string"}},
                    {"name": "public", "in": "query", "schema": {"type": "boolean"}},
                    wait_param.clone()],
                "requestBody": {"required": true, "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": {"description": "Published", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Published"}}}},
                    "400": bad, "401": unauthorized, "409": error_response("The chain refused")}}},
            "/v1/files/{item}": {
                "get": {"summary": "Download (decrypted for the session's account); supports Range",
                    "description": "Audio, video, raster images, plain text and PDF are served inline; any other type as an attachment. Every answer carries X-Content-Type-Options: nosniff and, except PDF, Content-Security-Policy: sandbox (the name and media type come from whoever published the version).",
                    "security": bearer,
                    "parameters": [id_param("item", "Item id"),
                        {"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                        {"name": "Range", "in": "header", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The file"}, "206": {"description": "The requested range"},
                        "400": bad, "401": unauthorized, "404": not_found, "416": error_response("Range outside the file")}},
                "put": {"summary": "Publish a new version (needs WRITE)",
                    "security": bearer,
                    "parameters": [id_param("item", "Item id"), wait_param.clone()],
                    "requestBody": {"required": true, "content": {"application/octet-stream": {}, "multipart/form-data": {}}},
                    "responses": {"200": {"description": "Published", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Published"}}}},
                        "400": bad, "401": unauthorized, "404": not_found, "409": error_response("The chain refused")}}
            },
            "/v1/items": {"get": {"summary": "Items the session's account owns or was granted", "security": bearer,
                "responses": {"200": {"description": "Items"}, "401": unauthorized}}},
            "/v1/items/{item}": {"get": {"summary": "Item info and versions", "security": bearer,
                "parameters": [id_param("item", "Item id")],
                "responses": {"200": {"description": "Info", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemInfo"}}}},
                    "400": bad, "401": unauthorized, "404": not_found}}},
            "/v1/items/{item}/grants": {"post": {"summary": "Grant read, write or admin (with an optional expiry) and deliver the key",
                "security": bearer,
                "parameters": [id_param("item", "Item id")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["account", "level"], "properties": {"account": {"type": "string", "pattern": ADDRESS},
                    "level": {"type": "string", "enum": ["read", "write", "admin"]}, "expires_in": {"type": "integer"}}}}}},
                "responses": {"200": {"description": "Granted"}, "400": bad, "401": unauthorized, "404": not_found, "409": error_response("The chain refused")}}},
            "/v1/items/{item}/grants/{account}": {"delete": {"summary": "Revoke, start a new epoch and re-key the latest version",
                "security": bearer,
                "parameters": [id_param("item", "Item id"), {"name": "account", "in": "path", "required": true, "schema": {"type": "string", "pattern": ADDRESS}}],
                "responses": {"200": {"description": "Revoked"}, "400": bad, "401": unauthorized, "404": not_found, "409": error_response("The chain refused")}}},
            "/v1/items/{item}/public": {"put": {"summary": "Make an item public or private", "security": bearer,
                "parameters": [id_param("item", "Item id")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["public"], "properties": {"public": {"type": "boolean"}}}}}},
                "responses": {"200": {"description": "Done"}, "400": bad, "401": unauthorized, "404": not_found, "409": error_response("The chain refused")}}}
        }
    })
}
