use std::sync::Arc;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, U256, hex};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use lightstreams_primitives::dev::dev_accounts;
use lightstreams_primitives::{Block, Genesis};

use super::*;

/// Runtime: store calldata word in slot 0, emit LOG1(topic 1, word), return word.
const RUNTIME: &str = "60003580600055600052600160206000a160206000f3";
/// Init code: copy the 22-byte runtime that follows and return it.
const INIT_PREFIX: &str = "6016600c60003960166000f3";

fn open(dir: &std::path::Path) -> Arc<Chain> {
    let mut config = ChainConfig::new(dir.to_path_buf(), Genesis::dev(4, vec![]));
    config.empty_block_interval = Duration::from_millis(1);
    Chain::open(config).expect("open chain")
}

fn sign(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: u128,
    input: Vec<u8>,
    gas: u64,
) -> TxEnvelope {
    let mut tx = TxEip1559 {
        chain_id: 161,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::from(value),
        input: input.into(),
        ..Default::default()
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    tx.into_signed(sig).into()
}

async fn produce(chain: &Chain) -> Block {
    let head = chain.head();
    let block = chain
        .build(
            &[],
            &head,
            1_700_000_000_000,
            Address::repeat_byte(0xbe),
            Bytes::new(),
        )
        .await
        .expect("build");
    chain.finalize(&block, b"certificate").expect("finalize");
    block
}

#[tokio::test]
async fn transfer_is_built_verified_elsewhere_and_finalized() {
    let (d1, d2) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let (a, b) = (open(d1.path()), open(d2.path()));
    assert_eq!(a.genesis_block().hash(), b.genesis_block().hash());
    let alice = &dev_accounts(1)[0];
    let bob = Address::repeat_byte(0xb0);
    let tx = sign(
        alice,
        0,
        TxKind::Call(bob),
        1_500_000_000_000_000_000,
        vec![],
        21_000,
    );
    let hash = a.submit(tx).expect("submit");

    let head = a.head();
    let block = a
        .build(
            &[],
            &head,
            1_700_000_000_000,
            Address::repeat_byte(0xbe),
            Bytes::new(),
        )
        .await
        .expect("build");
    assert_eq!(block.transactions().len(), 1);
    assert_eq!(block.header().gas_used, 21_000);
    b.verify(&[], &b.head(), &block)
        .expect("other node accepts");
    a.finalize(&block, b"cert").expect("finalize a");
    b.finalize(&block, b"cert").expect("finalize b");
    assert_eq!(a.head().hash(), b.head().hash());

    let (balance, _, _) = b.account(&bob, 1).expect("account");
    assert_eq!(balance, U256::from(1_500_000_000_000_000_000u128));
    let (_, nonce, _) = b.account(&alice.address(), 1).expect("account");
    assert_eq!(nonce, 1);
    let (receipt, in_block) = b.receipt(&hash).expect("read").expect("receipt");
    assert!(receipt.success);
    assert_eq!(in_block.hash(), block.hash());
    assert_eq!(receipt.effective_gas_price, 2_000_000_000);
    assert_eq!(b.certificate(1).expect("read"), Some(b"cert".to_vec()));
    // History: before the block Bob had nothing.
    assert_eq!(b.account(&bob, 0).expect("account").0, U256::ZERO);
    assert!(
        a.mempool().is_empty(),
        "included transactions leave the pool"
    );
}

#[tokio::test]
async fn tampered_blocks_are_rejected() {
    let (d1, d2) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let (a, b) = (open(d1.path()), open(d2.path()));
    let alice = &dev_accounts(1)[0];
    a.submit(sign(
        alice,
        0,
        TxKind::Call(Address::repeat_byte(1)),
        5,
        vec![],
        21_000,
    ))
    .expect("submit");
    let block = a
        .build(
            &[],
            &a.head(),
            1_700_000_000_000,
            Address::ZERO,
            Bytes::new(),
        )
        .await
        .expect("build");
    let (header, txs) = block.clone().into_parts();

    let mut bad_root = header.clone();
    bad_root.state_root = B256::repeat_byte(1);
    let err = b
        .verify(&[], &b.head(), &Block::new(bad_root, txs.clone()))
        .expect_err("bad state root");
    assert!(err.to_string().contains("state_root"), "{err}");

    let mut bad_gas = header.clone();
    bad_gas.gas_used += 1;
    assert!(
        b.verify(&[], &b.head(), &Block::new(bad_gas, txs.clone()))
            .is_err()
    );

    let mut future = header.clone();
    future.timestamp = u64::MAX / 2;
    let err = b
        .verify(&[], &b.head(), &Block::new(future, txs.clone()))
        .expect_err("far-future timestamp");
    assert!(
        err.to_string().contains("ahead of this node's clock"),
        "{err}"
    );

    let mut wrong_parent = header.clone();
    wrong_parent.parent_hash = B256::repeat_byte(2);
    assert!(
        b.verify(&[], &b.head(), &Block::new(wrong_parent, txs))
            .is_err()
    );

    // A block carrying a transaction whose nonce is already used is invalid.
    let replay = Block::new(header, block.transactions().to_vec());
    b.verify(&[], &b.head(), &replay)
        .expect("the honest block verifies");
    b.finalize(&replay, b"c").expect("finalize");
    let mut again = block.header().clone();
    again.parent_hash = replay.hash();
    again.number = 2;
    assert!(
        b.verify(
            &[],
            &b.head(),
            &Block::new(again, block.transactions().to_vec())
        )
        .is_err()
    );
}

#[tokio::test]
async fn contract_deploy_call_logs_and_history() {
    let dir = tempfile::tempdir().expect("tmp");
    let chain = open(dir.path());
    let alice = &dev_accounts(1)[0];
    let init = hex::decode(format!("{INIT_PREFIX}{RUNTIME}")).expect("hex");
    chain
        .submit(sign(alice, 0, TxKind::Create, 0, init, 200_000))
        .expect("deploy");
    let block = produce(&chain).await;
    let receipts = chain
        .receipts(block.number())
        .expect("read")
        .expect("receipts");
    let contract = receipts[0].contract_address.expect("created");
    let (_, _, code) = chain.account(&contract, block.number()).expect("account");
    assert_eq!(code.as_ref(), hex::decode(RUNTIME).expect("hex").as_slice());

    let word = U256::from(42).to_be_bytes::<32>().to_vec();
    let request = TransactionRequest::default()
        .from(alice.address())
        .to(contract)
        .input(Bytes::from(word.clone()).into());
    let estimate = chain
        .estimate_gas(&request, block.number())
        .expect("estimate");
    assert!(
        estimate > 21_000 + 20_000,
        "an SSTORE from zero costs over 20k: {estimate}"
    );
    chain
        .submit(sign(
            alice,
            1,
            TxKind::Call(contract),
            0,
            word.clone(),
            estimate,
        ))
        .expect("call tx with the estimated gas");
    let block2 = produce(&chain).await;
    let receipts = chain
        .receipts(block2.number())
        .expect("read")
        .expect("receipts");
    assert!(
        receipts[0].success,
        "estimated gas suffices: {:?}",
        receipts[0].failure
    );
    assert_eq!(receipts[0].logs.len(), 1);
    assert_eq!(receipts[0].logs[0].data.data.as_ref(), word.as_slice());
    assert_eq!(
        chain
            .storage(&contract, U256::ZERO, block2.number())
            .expect("slot"),
        U256::from(42)
    );
    assert_eq!(
        chain
            .storage(&contract, U256::ZERO, block.number())
            .expect("slot"),
        U256::ZERO
    );

    let seven = U256::from(7).to_be_bytes::<32>().to_vec();
    let out = chain
        .call(
            &request.clone().input(Bytes::from(seven.clone()).into()),
            block2.number(),
        )
        .expect("call");
    assert_eq!(out.as_ref(), seven.as_slice());
}

#[tokio::test]
async fn unfinalized_ancestry_is_executed_in_order() {
    let (d1, d2) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let (a, b) = (open(d1.path()), open(d2.path()));
    let alice = &dev_accounts(1)[0];
    let to = TxKind::Call(Address::repeat_byte(3));
    a.submit(sign(alice, 0, to, 1, vec![], 21_000))
        .expect("submit");
    let genesis = a.head();
    let b1 = a
        .build(
            &[],
            &genesis,
            1_700_000_000_000,
            Address::ZERO,
            Bytes::new(),
        )
        .await
        .expect("b1");
    a.submit(sign(alice, 1, to, 1, vec![], 21_000))
        .expect("nonce 1 queued");
    let b2 = a
        .build(
            std::slice::from_ref(&b1),
            &b1,
            1_700_000_001_000,
            Address::ZERO,
            Bytes::new(),
        )
        .await
        .expect("b2 on unfinalized b1");
    assert_eq!(b2.transactions().len(), 1, "nonce 1 builds on b1's state");
    // Node b never saw b1: verifying b2 with its ancestry executes b1 first.
    b.verify(std::slice::from_ref(&b1), &b1, &b2)
        .expect("verify with ancestry");
    for node in [&a, &b] {
        node.finalize(&b1, b"c1").expect("f1");
        node.finalize(&b2, b"c2").expect("f2");
        assert_eq!(
            node.account(&Address::repeat_byte(3), 2).expect("acct").0,
            U256::from(2)
        );
    }
}

#[tokio::test]
async fn restart_keeps_finalized_state_and_refuses_other_genesis() {
    let dir = tempfile::tempdir().expect("tmp");
    let alice = &dev_accounts(1)[0];
    let head = {
        let chain = open(dir.path());
        chain
            .submit(sign(
                alice,
                0,
                TxKind::Call(Address::repeat_byte(9)),
                77,
                vec![],
                21_000,
            ))
            .expect("submit");
        produce(&chain).await
    };
    let chain = open(dir.path());
    assert_eq!(chain.head().hash(), head.hash());
    assert_eq!(
        chain.account(&Address::repeat_byte(9), 1).expect("acct").0,
        U256::from(77)
    );
    drop(chain);
    let mut other = Genesis::dev(4, vec![]);
    other.chain_id = 999;
    let err = Chain::open(ChainConfig::new(dir.path().to_path_buf(), other)).expect_err("mismatch");
    assert!(
        err.to_string().contains("different genesis") || err.to_string().contains("genesis"),
        "{err}"
    );
}

#[tokio::test]
async fn submit_refuses_bad_transactions_with_geth_wording() {
    let dir = tempfile::tempdir().expect("tmp");
    let chain = open(dir.path());
    let alice = &dev_accounts(1)[0];
    let to = TxKind::Call(Address::repeat_byte(1));
    chain
        .submit(sign(alice, 0, to, 1, vec![], 21_000))
        .expect("first");
    produce(&chain).await;

    let low = chain
        .submit(sign(alice, 0, to, 2, vec![], 21_000))
        .expect_err("reused nonce");
    assert!(low.to_string().starts_with("nonce too low"), "{low}");

    let pauper = PrivateKeySigner::random();
    let poor = chain
        .submit(sign(&pauper, 0, to, 1, vec![], 21_000))
        .expect_err("no funds");
    assert!(
        poor.to_string()
            .starts_with("insufficient funds for gas * price + value"),
        "{poor}"
    );

    let mut foreign = TxLegacy {
        chain_id: Some(1),
        nonce: 1,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to,
        value: U256::from(1),
        input: Default::default(),
    };
    let sig = alice.sign_transaction_sync(&mut foreign).expect("sign");
    let err = chain
        .submit(foreign.into_signed(sig).into())
        .expect_err("wrong chain");
    assert!(err.to_string().starts_with("invalid chain id"), "{err}");

    let err = chain
        .submit(sign(alice, 1, to, 1, vec![], 20_000))
        .expect_err("low gas");
    assert!(
        err.to_string().starts_with("intrinsic gas too low"),
        "{err}"
    );

    for garbage in [
        &b""[..],
        &[0x02][..],
        &[0xde, 0xad, 0xbe, 0xef][..],
        &[0xf8, 0xff][..],
    ] {
        let err = chain.submit_raw(garbage).expect_err("garbage");
        assert!(matches!(err, TxError::Decode(_)), "{err}");
    }
    let err = chain.submit_raw(&vec![0u8; 200_000]).expect_err("huge");
    assert!(err.to_string().starts_with("oversized data"), "{err}");

    // A queued nonce gap is accepted and reported by the pending nonce.
    chain
        .submit(sign(alice, 2, to, 1, vec![], 21_000))
        .expect("gap queued");
    assert_eq!(chain.mempool().pending_nonce(&alice.address(), 1), 1);
    chain
        .submit(sign(alice, 1, to, 1, vec![], 21_000))
        .expect("fills gap");
    assert_eq!(chain.mempool().pending_nonce(&alice.address(), 1), 3);
    let block = produce(&chain).await;
    assert_eq!(block.transactions().len(), 2);
}

/// A value chosen so that gas * price + value passes 2^256 does not wrap the cost to
/// almost nothing: an account with no funds cannot put such a transaction in the pool.
#[tokio::test]
async fn a_cost_past_2_256_is_insufficient_funds_not_a_wrap() {
    let dir = tempfile::tempdir().expect("tmp");
    let chain = open(dir.path());
    let pauper = PrivateKeySigner::random();
    let fee = 2_000_000_000u128;
    let gas = 21_000u64;
    let mut tx = TxEip1559 {
        chain_id: 161,
        nonce: 0,
        gas_limit: gas,
        max_fee_per_gas: fee,
        max_priority_fee_per_gas: 1,
        to: TxKind::Call(Address::repeat_byte(1)),
        // gas * fee + value = 2^256: zero once wrapped.
        value: U256::MAX - U256::from(u128::from(gas) * fee) + U256::from(1),
        ..Default::default()
    };
    let sig = pauper.sign_transaction_sync(&mut tx).expect("sign");
    let err = chain
        .submit(tx.into_signed(sig).into())
        .expect_err("no funds");
    assert!(
        err.to_string()
            .starts_with("insufficient funds for gas * price + value"),
        "{err}"
    );
    assert!(chain.mempool().is_empty());
}

#[tokio::test]
async fn estimates_are_exact_for_transfers_and_count_access_lists() {
    use alloy::eips::eip2930::{AccessList, AccessListItem};
    let dir = tempfile::tempdir().expect("tmp");
    let chain = open(dir.path());
    let alice = &dev_accounts(1)[0];
    let to = Address::repeat_byte(0x44);
    let transfer = TransactionRequest::default()
        .from(alice.address())
        .to(to)
        .value(U256::from(1));
    assert_eq!(chain.estimate_gas(&transfer, 0).expect("estimate"), 21_000);
    let listed = transfer.access_list(AccessList(vec![AccessListItem {
        address: to,
        storage_keys: vec![B256::ZERO],
    }]));
    assert_eq!(chain.estimate_gas(&listed, 0).expect("estimate"), 25_300);
}

#[tokio::test]
async fn clients_transactions_are_offered_for_relay_and_relayed_ones_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = open(dir.path());
    let mut submitted = chain.subscribe_submitted();
    let accounts = dev_accounts(2);
    let to = TxKind::Call(Address::repeat_byte(7));
    // A client's transaction is pooled and offered for relay, byte for byte.
    let mine = sign(&accounts[0], 0, to, 1, vec![], 21_000);
    let raw = mine.encoded_2718();
    chain.submit_raw(&raw).expect("submit");
    assert_eq!(submitted.try_recv().expect("offered").to_vec(), raw);
    // A relayed one is pooled (the next block includes it) but not offered again.
    let theirs = sign(&accounts[1], 0, to, 2, vec![], 21_000);
    let hash = chain
        .accept_relayed(&theirs.encoded_2718())
        .expect("pooled");
    assert!(
        submitted.try_recv().is_err(),
        "a relayed transaction was relayed again"
    );
    // Garbage from a peer is refused, never pooled.
    assert!(chain.accept_relayed(b"not a transaction").is_err());
    let block = produce(&chain).await;
    assert!(
        block.transactions().iter().any(|tx| *tx.tx_hash() == hash),
        "the relayed transaction was not included"
    );
}

/// Raw transactions as a client might send them: any bytes, or a signed transfer (typed or
/// legacy) with one byte changed or cut short.
fn raw_transactions() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use alloy::eips::eip2718::Encodable2718;
    use proptest::prelude::*;
    let signed = (any::<bool>(), 0u64..3, any::<u64>()).prop_map(|(legacy, nonce, value)| {
        let alice = &dev_accounts(1)[0];
        let to = TxKind::Call(Address::repeat_byte(0xb0));
        let tx: TxEnvelope = if legacy {
            let mut tx = TxLegacy {
                chain_id: Some(161),
                nonce,
                gas_price: 2_000_000_000,
                gas_limit: 21_000,
                to,
                value: U256::from(value),
                input: Bytes::new(),
            };
            let sig = alice.sign_transaction_sync(&mut tx).expect("sign");
            tx.into_signed(sig).into()
        } else {
            sign(alice, nonce, to, u128::from(value), vec![], 21_000)
        };
        tx.encoded_2718()
    });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        signed.clone(),
        (signed.clone(), any::<proptest::sample::Index>(), 1u8..=255).prop_map(
            |(mut raw, at, flip)| {
                let at = at.index(raw.len());
                raw[at] ^= flip;
                raw
            }
        ),
        (signed, any::<proptest::sample::Index>())
            .prop_map(|(raw, cut)| raw[..cut.index(raw.len())].to_vec()),
    ]
}

/// Whatever bytes arrive as a raw transaction: a transaction that encodes back to exactly those
/// bytes (so its hash is theirs), or an error; submitting them is refused or pooled, never a
/// panic, and nothing that does not decode is pooled.
#[test]
fn any_raw_transaction_decodes_exactly_or_is_refused() {
    use alloy::eips::eip2718::Encodable2718;
    let dir = tempfile::tempdir().expect("tmp");
    let chain = open(dir.path());
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 512,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&raw_transactions(), |raw| {
            let decoded = decode_raw(&raw);
            if let Ok(tx) = &decoded {
                proptest::prop_assert_eq!(tx.encoded_2718(), raw.clone());
            }
            let submitted = chain.submit_raw(&raw);
            proptest::prop_assert!(decoded.is_ok() || submitted.is_err());
            if let Ok(hash) = submitted {
                proptest::prop_assert_eq!(hash, alloy::primitives::keccak256(&raw));
            }
            Ok(())
        })
        .expect("property");
}
