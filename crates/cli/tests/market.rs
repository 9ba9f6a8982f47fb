//! The marketplace end to end through the CLI on real nodes: listing deposits the key with the
//! keepers; a purchase pays the creator and collaborators exactly and grants READ in one
//! transaction; the buyer reads with shares released by keepers (the creator never wraps a key
//! for them); offers, supply caps, gifts and delisting; and on a 4-validator network, a sale
//! that completes while the creator's own node and one keeper are down: the content comes from
//! the other storage nodes, the key from the other keepers.

mod util;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use lightstreams_access::request::{ObjectRef, RequestKind, SignedRequest};
use lightstreams_vault::ItemId;
use serde_json::Value;
use util::*;

const NOT_FOUND: &str = r#"{"error":{"code":"not_found","message":"not found"}}"#;
const PHT: u128 = 1_000_000_000_000_000_000;

fn random_file(path: &Path, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|_| rand::random()).collect();
    std::fs::write(path, &data).expect("write input");
    data
}

fn add(rpc: &str, who: &PrivateKeySigner, file: &Path) -> String {
    let added = ok_json(&cli(
        "vault",
        rpc,
        Some(who),
        &["add", file.to_str().expect("utf-8")],
    ));
    added["item"].as_str().expect("item id").to_string()
}

fn get(rpc: &str, who: &PrivateKeySigner, id: &str, out: &Path) -> Output {
    cli(
        "vault",
        rpc,
        Some(who),
        &["get", id, "-o", out.to_str().expect("utf-8")],
    )
}

fn node_id(rpc: &str) -> String {
    lightstreams_access::http::HttpRemote::connect(rpc)
        .map(|r| lightstreams_access::protocol::Remote::node_id(&r))
        .expect("connect")
}

/// A keeper's answer to `who` asking for its share of `item` at epoch 0.
fn ask_share(rpc: &str, who: &PrivateKeySigner, item: &ItemId) -> (u16, String) {
    let request = SignedRequest::sign(
        who,
        RequestKind::Get,
        item.0,
        ObjectRef::Share(0),
        node_id(rpc),
    );
    raw_get(
        rpc,
        &item.0,
        &ObjectRef::Share(0),
        Some(&request.to_header()),
    )
}

fn balance(rpc: &str, who: Address) -> U256 {
    Rpc::new(rpc).balance(who, "latest")
}

fn wei(v: &Value) -> U256 {
    v.as_str()
        .and_then(|s| s.parse::<U256>().ok())
        .unwrap_or_else(|| panic!("not a wei amount: {v}"))
}

#[test]
fn sell_buy_offers_supply_and_keepers_on_one_node() {
    let _serial = serial();
    let dir = tempdir("market");
    let mut node = Node::dev(dir.path(), "dev", &["--block-interval-ms", "200"]);
    node.wait_ready(Duration::from_secs(60));
    let rpc = node.rpc.url.clone();
    let accounts = dev_accounts(6);
    let (gifted, alice, bob, collab, eve, frank) = (
        &accounts[0],
        &accounts[1],
        &accounts[2],
        &accounts[3],
        &accounts[4],
        &accounts[5],
    );

    // Alice adds a track and lists it: 3 PHT, a quarter to a collaborator, 4 copies.
    let track = dir.path().join("track.bin");
    let content = random_file(&track, 300_000);
    let id = add(&rpc, alice, &track);
    let item: ItemId = id.parse().expect("item id");
    let split = format!("{}:2500", collab.address());
    let listed = ok_json(&cli(
        "market",
        &rpc,
        Some(alice),
        &[
            "list", &id, "--price", "3pht", "--split", &split, "--supply", "4",
        ],
    ));
    assert_eq!(wei(&listed["listing"]["price_wei"]), U256::from(3 * PHT));
    assert_eq!(listed["threshold"], 1, "{listed}");
    let browse = ok_json(&cli("market", &rpc, None, &["browse"]));
    let shown = browse
        .as_array()
        .and_then(|a| a.iter().find(|l| l["item"].as_str() == Some(id.as_str())))
        .unwrap_or_else(|| panic!("browse does not show {id}: {browse}"));
    assert_eq!(shown["active"], true);
    assert_eq!(shown["supply"], 4);

    // Bob cannot read before paying; keepers release nothing to him.
    let out = dir.path().join("bob.bin");
    assert!(!get(&rpc, bob, &id, &out).status.success());
    assert_eq!(ask_share(&rpc, bob, &item), (404, NOT_FOUND.to_string()));

    // Bob buys: Alice gets exactly 3/4 of the price, the collaborator exactly 1/4, and Bob
    // reads with the keeper's share (Alice never wrapped a key for him).
    let (alice_before, collab_before) = (
        balance(&rpc, alice.address()),
        balance(&rpc, collab.address()),
    );
    let bought = ok_json(&cli("market", &rpc, Some(bob), &["buy", &id]));
    assert_eq!(wei(&bought["paid_wei"]), U256::from(3 * PHT));
    assert_eq!(
        balance(&rpc, alice.address()) - alice_before,
        U256::from(3 * PHT * 3 / 4)
    );
    assert_eq!(
        balance(&rpc, collab.address()) - collab_before,
        U256::from(3 * PHT / 4)
    );
    let got = get(&rpc, bob, &id, &out);
    assert!(
        got.status.success(),
        "buyer cannot read: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(std::fs::read(&out).expect("read"), content);
    assert_eq!(ask_share(&rpc, bob, &item).0, 200);

    // An offer for Eve only, at half price: Frank cannot use it, Eve can, once.
    let offer = dir.path().join("offer.json");
    let eve_address = eve.address().to_string();
    ok_json(&cli(
        "market",
        &rpc,
        Some(alice),
        &[
            "offer",
            &id,
            "--discount",
            "50",
            "--buyer",
            &eve_address,
            "--expires",
            "1h",
            "-o",
            offer.to_str().expect("utf-8"),
        ],
    ));
    let offer_path = offer.to_str().expect("utf-8");
    let wrong = cli(
        "market",
        &rpc,
        Some(frank),
        &["buy", &id, "--offer", offer_path],
    );
    assert!(!wrong.status.success(), "someone else redeemed Eve's offer");
    let eve_before = balance(&rpc, eve.address());
    let with_offer = ok_json(&cli(
        "market",
        &rpc,
        Some(eve),
        &["buy", &id, "--offer", offer_path],
    ));
    assert_eq!(wei(&with_offer["paid_wei"]), U256::from(3 * PHT / 2));
    assert!(eve_before - balance(&rpc, eve.address()) >= U256::from(3 * PHT / 2));
    let replay = cli(
        "market",
        &rpc,
        Some(eve),
        &["buy", &id, "--offer", offer_path],
    );
    assert!(!replay.status.success(), "an offer was redeemed twice");

    // A gift: Bob pays, the gifted account reads.
    let gifted_address = gifted.address().to_string();
    ok_json(&cli(
        "market",
        &rpc,
        Some(bob),
        &["buy", &id, "--for", &gifted_address],
    ));
    let gift_out = dir.path().join("gift.bin");
    assert!(get(&rpc, gifted, &id, &gift_out).status.success());
    assert_eq!(std::fs::read(&gift_out).expect("read"), content);

    // The fan channel: Alice thanks her buyers with an offer attached; buyers read it, the
    // collaborator (no READ) cannot; Bob's reply reaches Alice and nobody else.
    let thanks = ok_json(&cli(
        "fans",
        &rpc,
        Some(alice),
        &["send", &id, "thanks for listening", "--offer", offer_path],
    ));
    assert_eq!(thanks["message"], 0);
    let inbox = ok_json(&cli("fans", &rpc, Some(bob), &["inbox"]));
    let message = inbox
        .as_array()
        .and_then(|a| a.iter().find(|p| p["text"] == "thanks for listening"))
        .unwrap_or_else(|| panic!("Bob did not get the message: {inbox}"));
    assert_eq!(
        message["from"].as_str().map(str::to_lowercase),
        Some(alice.address().to_string().to_lowercase())
    );
    assert_eq!(message["kind"], "message");
    assert_eq!(message["offer"]["discount_bps"], 5000);
    assert!(
        !cli("fans", &rpc, Some(collab), &["inbox", "--item", &id])
            .status
            .success(),
        "a non-buyer read the channel"
    );
    let collab_message = SignedRequest::sign(
        collab,
        RequestKind::Get,
        item.0,
        ObjectRef::Message(0),
        node_id(&rpc),
    );
    assert_eq!(
        raw_get(
            &rpc,
            &item.0,
            &ObjectRef::Message(0),
            Some(&collab_message.to_header())
        ),
        (404, NOT_FOUND.to_string())
    );
    let reply = ok_json(&cli("fans", &rpc, Some(bob), &["reply", &id, "love it"]));
    assert_eq!(reply["reply"], 0);
    let alice_inbox = ok_json(&cli("fans", &rpc, Some(alice), &["inbox"]));
    let got = alice_inbox
        .as_array()
        .and_then(|a| a.iter().find(|p| p["text"] == "love it"))
        .unwrap_or_else(|| panic!("Alice did not get the reply: {alice_inbox}"));
    assert_eq!(
        got["from"].as_str().map(str::to_lowercase),
        Some(bob.address().to_string().to_lowercase())
    );
    assert_eq!(got["kind"], "reply");
    let eve_peek = SignedRequest::sign(
        eve,
        RequestKind::Get,
        item.0,
        ObjectRef::Reply(0),
        node_id(&rpc),
    );
    assert_eq!(
        raw_get(
            &rpc,
            &item.0,
            &ObjectRef::Reply(0),
            Some(&eve_peek.to_header())
        ),
        (404, NOT_FOUND.to_string()),
        "another buyer fetched Bob's reply"
    );
    let eve_inbox = ok_json(&cli("fans", &rpc, Some(eve), &["inbox", "--item", &id]));
    assert!(
        eve_inbox
            .as_array()
            .is_some_and(|a| a.iter().all(|p| p["kind"] == "message")),
        "{eve_inbox}"
    );
    failed_with(
        &cli(
            "fans",
            &rpc,
            Some(bob),
            &["send", &id, "I am not the creator"],
        ),
        "only the owner",
    );

    // The fourth copy sells; the fifth does not.
    ok_json(&cli("market", &rpc, Some(frank), &["buy", &id]));
    failed_with(&cli("market", &rpc, Some(eve), &["buy", &id]), "sold out");

    // The collaborator never bought: no key from the keeper, the uniform not-found, the
    // same as for an item that never existed.
    assert_eq!(ask_share(&rpc, collab, &item), (404, NOT_FOUND.to_string()));
    assert_eq!(
        ask_share(&rpc, collab, &ItemId::random()),
        (404, NOT_FOUND.to_string())
    );
    assert!(
        !get(&rpc, collab, &id, &dir.path().join("c.bin"))
            .status
            .success()
    );

    // The node's HTTP API shows the listing too (no account needed); an unknown item gets the
    // uniform not-found.
    let agent = http_agent();
    let mut response = agent
        .get(format!("{rpc}/v1/market/listings/{id}"))
        .call()
        .expect("http");
    assert_eq!(response.status().as_u16(), 200);
    let over_http: Value = response.body_mut().read_json().expect("json");
    assert_eq!(over_http["sold"], 4, "{over_http}");
    assert_eq!(wei(&over_http["price_wei"]), U256::from(3 * PHT));
    let mut response = agent
        .get(format!("{rpc}/v1/market/listings/{}", ItemId::random()))
        .call()
        .expect("http");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.body_mut().read_to_string().expect("body"),
        NOT_FOUND
    );
    let all: Value = agent
        .get(format!("{rpc}/v1/market/listings"))
        .call()
        .expect("http")
        .body_mut()
        .read_json()
        .expect("json");
    assert!(
        all.as_array()
            .is_some_and(|a| a.iter().any(|l| l["item"].as_str() == Some(id.as_str()))),
        "{all}"
    );

    // Delisting: shown as not for sale, and buying is refused.
    ok_json(&cli("market", &rpc, Some(alice), &["delist", &id]));
    let browse = ok_json(&cli("market", &rpc, None, &["browse"]));
    assert!(
        browse
            .as_array()
            .expect("array")
            .iter()
            .any(|l| l["item"].as_str() == Some(id.as_str()) && l["active"] == false),
        "{browse}"
    );
    failed_with(
        &cli("market", &rpc, Some(eve), &["buy", &id]),
        "not for sale",
    );

    // Bad input: a split over 100 %, a price that is not an amount, an unknown item.
    failed_with(
        &cli(
            "market",
            &rpc,
            Some(alice),
            &[
                "list",
                &id,
                "--price",
                "1pht",
                "--split",
                &format!("{}:10001", collab.address()),
            ],
        ),
        "BPS",
    );
    failed_with(
        &cli(
            "market",
            &rpc,
            Some(alice),
            &["list", &id, "--price", "lots"],
        ),
        "amount",
    );
    let unknown = ItemId::random().to_string();
    failed_with(
        &cli("market", &rpc, Some(bob), &["buy", &unknown]),
        "not for sale",
    );
}

#[test]
fn creator_offline_one_keeper_down_on_four_validators() {
    let _serial = serial();
    let dir = tempdir("market-net");
    // Four validators (the default key keepers, and storage nodes) and Carol's own node, a full
    // node that stores too. Every node announces itself in the node registry.
    let layout = init_fast(&dir.path().join("net"), 4, 1);
    // Carol's node is told the validators' p2p addresses only, not their API URLs: it learns
    // those (for the keepers) from the node registry.
    let carols_config = &layout
        .iter()
        .find(|e| !e.validator)
        .expect("a full node")
        .config;
    let text = std::fs::read_to_string(carols_config).expect("read config");
    let mut table: toml::Table = text.parse().expect("config is TOML");
    for peer in table["p2p"]["peers"]
        .as_array_mut()
        .expect("p2p.peers")
        .iter_mut()
    {
        peer.as_table_mut().expect("a peer").remove("rpc");
    }
    std::fs::write(carols_config, toml::to_string(&table).expect("toml")).expect("write config");
    let mut nodes = start_nodes(&layout);
    let validators: Vec<usize> = (0..layout.len()).filter(|i| layout[*i].validator).collect();
    let carols = (0..layout.len())
        .find(|i| !layout[*i].validator)
        .expect("a full node");
    let urls: Vec<String> = validators
        .iter()
        .map(|i| nodes[*i].rpc.url.clone())
        .collect();
    let carol_url = nodes[carols].rpc.url.clone();
    let accounts = dev_accounts(4);
    let (operator, carol, dave, mallory) = (&accounts[0], &accounts[1], &accounts[2], &accounts[3]);
    for entry in &layout {
        announce(&entry.config, &urls[0], operator);
    }

    // Carol adds a track through her node and lists it; the four validators keep the key (any 3
    // rebuild it): her node, not a validator, finds them through its configuration and the
    // node registry.
    let track = dir.path().join("track.bin");
    let content = random_file(&track, 2_500_000);
    let id = add(&carol_url, carol, &track);
    let item: ItemId = id.parse().expect("item id");
    let listed = ok_json(&cli(
        "market",
        &carol_url,
        Some(carol),
        &["list", id.as_str(), "--price", "3pht"],
    ));
    assert_eq!(listed["threshold"], 3, "{listed}");
    let mut keepers: Vec<String> = listed["keepers"]
        .as_array()
        .expect("keepers")
        .iter()
        .map(|k| k.as_str().expect("url").to_string())
        .collect();
    keepers.sort();
    let mut expected = urls.clone();
    expected.sort();
    assert_eq!(keepers, expected, "the keepers are the four validators");

    // The track reaches three storage nodes; then Carol stops her node, and one keeper is down.
    wait_until(
        "three copies of every object of the track",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || {
            let h = ok_json(&cli("vault", &carol_url, Some(carol), &["health", &id]));
            (h["objects"].as_u64() > Some(0) && h["min_copies"].as_u64() >= Some(3)).then_some(())
        },
    );
    nodes[carols].stop();
    nodes[validators[3]].stop();

    // Dave buys through validator-1 and plays the track through validator-2: the content comes
    // from the storage nodes still up, the key from the three live keepers. Carol's balance rose
    // by exactly the price.
    let carol_before = balance(&urls[1], carol.address());
    ok_json(&cli("market", &urls[1], Some(dave), &["buy", &id]));
    assert_eq!(
        balance(&urls[1], carol.address()) - carol_before,
        U256::from(3 * PHT)
    );
    let out = dir.path().join("dave.bin");
    let got = get(&urls[2], dave, &id, &out);
    assert!(
        got.status.success(),
        "the buyer cannot play the track: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(std::fs::read(&out).expect("read"), content);

    // Mallory did not pay: every live keeper gives her the uniform not-found, and she cannot
    // read the track.
    for url in &urls[..3] {
        assert_eq!(
            ask_share(url, mallory, &item),
            (404, NOT_FOUND.to_string()),
            "keeper {url}"
        );
    }
    assert!(
        !get(&urls[0], mallory, &id, &dir.path().join("m.bin"))
            .status
            .success()
    );
}

#[test]
fn custodial_buy_and_fan_channel_over_http() {
    let _serial = serial();
    let dir = tempdir("market-http");
    let data = dir.path().join("data");
    let mut node = Node::dev(
        dir.path(),
        "dev",
        &[
            "--block-interval-ms",
            "200",
            "--data-dir",
            data.to_str().expect("utf-8"),
        ],
    );
    node.wait_ready(Duration::from_secs(60));
    let rpc = node.rpc.url.clone();
    let accounts = dev_accounts(2);
    let (funder, alice) = (&accounts[0], &accounts[1]);

    // A fan whose key the node holds, funded.
    let password = dir.path().join("password");
    std::fs::write(&password, "pw\n").expect("write");
    let created = Command::new(exe())
        .args(["account", "new", "--json", "--keystore"])
        .arg(data.join("keystore"))
        .arg("--password-file")
        .arg(&password)
        .output()
        .expect("account new");
    let fan: Address = ok_json(&created)["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("address parses");
    ok_json(&cli(
        "send",
        &rpc,
        Some(funder),
        &["--to", &fan.to_string(), "--value", "10pht"],
    ));

    // Alice lists a track (CLI).
    let track = dir.path().join("track.bin");
    let content = random_file(&track, 200_000);
    let id = add(&rpc, alice, &track);
    ok_json(&cli(
        "market",
        &rpc,
        Some(alice),
        &["list", &id, "--price", "1pht"],
    ));

    let agent = http_agent();
    let buy_url = format!("{rpc}/v1/market/listings/{id}/buy");
    // No session: 401.
    let r = agent.post(&buy_url).send(&b""[..]).expect("http");
    assert_eq!(r.status().as_u16(), 401);
    let mut r = agent
        .post(format!("{rpc}/v1/session"))
        .send_json(serde_json::json!({"account": fan, "password": "pw"}))
        .expect("http");
    assert_eq!(r.status().as_u16(), 200);
    let token: Value = r.body_mut().read_json().expect("json");
    let bearer = format!("Bearer {}", token["token"].as_str().expect("token"));

    // The node buys for the fan; the fan downloads (key from the keeper) and gets the track.
    let before = balance(&rpc, alice.address());
    let mut r = agent
        .post(&buy_url)
        .header("Authorization", &bearer)
        .send(&b""[..])
        .expect("http");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{:?}",
        r.body_mut().read_to_string()
    );
    let bought: Value = r.body_mut().read_json().expect("json");
    assert_eq!(wei(&bought["paid_wei"]), U256::from(PHT));
    assert_eq!(balance(&rpc, alice.address()) - before, U256::from(PHT));
    let mut r = agent
        .get(format!("{rpc}/v1/files/{id}"))
        .header("Authorization", &bearer)
        .call()
        .expect("http");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{:?}",
        r.body_mut().read_to_string()
    );
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut r.body_mut().as_reader(), &mut got).expect("body");
    assert!(got == content, "the fan did not get the track");

    // Alice messages her buyers; the fan reads it over HTTP and replies; Alice reads the reply.
    ok_json(&cli(
        "fans",
        &rpc,
        Some(alice),
        &["send", &id, "new album next week"],
    ));
    let mut r = agent
        .get(format!("{rpc}/v1/fans/inbox?item={id}"))
        .header("Authorization", &bearer)
        .call()
        .expect("http");
    assert_eq!(r.status().as_u16(), 200);
    let inbox: Value = r.body_mut().read_json().expect("json");
    assert!(
        inbox
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["text"] == "new album next week")),
        "{inbox}"
    );
    let mut r = agent
        .post(format!("{rpc}/v1/fans/{id}/replies"))
        .header("Authorization", &bearer)
        .send_json(serde_json::json!({"text": "can't wait"}))
        .expect("http");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{:?}",
        r.body_mut().read_to_string()
    );
    let alice_inbox = ok_json(&cli("fans", &rpc, Some(alice), &["inbox", "--item", &id]));
    assert!(
        alice_inbox.as_array().is_some_and(|a| a
            .iter()
            .any(|p| p["text"] == "can't wait" && p["kind"] == "reply")),
        "{alice_inbox}"
    );
    // The fan is not the owner: posting a message to buyers is refused with a reason.
    let mut r = agent
        .post(format!("{rpc}/v1/fans/{id}/messages"))
        .header("Authorization", &bearer)
        .send_json(serde_json::json!({"text": "spam"}))
        .expect("http");
    assert_eq!(r.status().as_u16(), 409);
    let refusal = r.body_mut().read_to_string().expect("body");
    assert!(refusal.contains("only the owner"), "{refusal}");
}
