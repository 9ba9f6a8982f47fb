//! Proofs that a peer holds a blob, asked before a node deletes its own extra copy.
//!
//! A node outside an object's placement drops its copy once every node of the placement holds
//! one ([`crate::placement::extra_copy`]). Which nodes hold what comes from their inventories,
//! which a node could misstate. So before it deletes, the dropping node sends each placement
//! node a fresh random challenge for the blob, and the node must answer with the BLAKE3 keyed
//! hash of the whole blob under the challenge ([`proof`]): an answer it can give only by
//! reading the blob at that moment (BLAKE3 keyed hashing is a MAC; the challenge is the key).
//! The dropping node computes the same over its own copy and deletes only if every answer
//! matches ([`all_prove`]).

/// The proof of holding `blob` for `challenge`: BLAKE3 keyed by the challenge over the blob.
pub fn proof(challenge: &[u8; 32], blob: &[u8]) -> [u8; 32] {
    *blake3::keyed_hash(challenge, blob).as_bytes()
}

/// The `id` of a proof request (`GET /v1/peer/{item}/proof/{id}`): the blob's address and the
/// challenge, `0x<address>.0x<challenge>`, so the request's signature covers both.
pub fn request_id(address: &[u8; 32], challenge: &[u8; 32]) -> String {
    format!("0x{}.0x{}", hex::encode(address), hex::encode(challenge))
}

/// The address and challenge a proof request's `id` names, if it is well formed.
pub fn parse_request_id(id: &str) -> Option<([u8; 32], [u8; 32])> {
    let (address, challenge) = id.split_once('.')?;
    let mut out = ([0u8; 32], [0u8; 32]);
    hex::decode_to_slice(address.strip_prefix("0x")?, &mut out.0).ok()?;
    hex::decode_to_slice(challenge.strip_prefix("0x")?, &mut out.1).ok()?;
    Some(out)
}

/// Whether every one of `holders` proves it holds `blob` (this node's own, verified copy): each
/// is asked with a fresh random challenge through `ask` (its answer, or `None` when it gives
/// none), and must answer exactly what [`proof`] gives over `blob`. No holders: `false` (there
/// is nothing to rely on).
pub fn all_prove<P>(
    blob: &[u8],
    holders: &[P],
    mut ask: impl FnMut(&P, &[u8; 32]) -> Option<[u8; 32]>,
) -> bool {
    !holders.is_empty()
        && holders.iter().all(|holder| {
            let challenge: [u8; 32] = rand::random();
            ask(holder, &challenge) == Some(proof(&challenge, blob))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_round_trip_and_reject_garbage() {
        let (address, challenge) = ([7u8; 32], [9u8; 32]);
        let id = request_id(&address, &challenge);
        assert_eq!(parse_request_id(&id), Some((address, challenge)));
        for bad in [
            "",
            "0x07",
            &id.replace('.', ""),
            &id.replacen("0x", "", 1),
            &format!("{id}00"),
            &id.replace('7', "g"),
        ] {
            assert_eq!(parse_request_id(bad), None, "{bad:?}");
        }
    }

    /// Holders in a test: what each really stores, and whether it answers honestly.
    enum Holder {
        Honest(Vec<u8>),
        /// Claims the blob but holds nothing: answers the plain hash it could have kept.
        Liar,
        /// Answers with a proof over a stale challenge (a replayed answer).
        Replayer([u8; 32]),
        Silent,
    }

    fn answer(holder: &Holder, challenge: &[u8; 32]) -> Option<[u8; 32]> {
        match holder {
            Holder::Honest(blob) => Some(proof(challenge, blob)),
            Holder::Liar => Some(*blake3::hash(b"the blob").as_bytes()),
            Holder::Replayer(old_answer) => Some(*old_answer),
            Holder::Silent => None,
        }
    }

    #[test]
    fn only_holders_of_the_very_blob_prove_it() {
        let blob = b"the blob".to_vec();
        let honest = || Holder::Honest(blob.clone());
        assert!(all_prove(&blob, &[honest(), honest(), honest()], answer));
        // Any one that cannot prove it stops the drop.
        let old = [1u8; 32];
        for odd in [
            Holder::Liar,
            Holder::Honest(b"another blob".to_vec()),
            Holder::Replayer(proof(&old, &blob)),
            Holder::Silent,
        ] {
            assert!(!all_prove(&blob, &[honest(), odd, honest()], answer));
        }
        assert!(!all_prove(&blob, &[] as &[Holder], answer));
    }

    #[test]
    fn every_holder_gets_its_own_fresh_challenge() {
        let blob = b"the blob".to_vec();
        let mut seen = Vec::new();
        let holders = [Holder::Honest(blob.clone()), Holder::Honest(blob.clone())];
        assert!(all_prove(&blob, &holders, |h, c| {
            seen.push(*c);
            answer(h, c)
        }));
        assert_eq!(seen.len(), 2);
        assert_ne!(seen[0], seen[1]);
    }

    proptest::proptest! {
        /// Proof request ids round trip; any other text is refused, never a panic.
        #[test]
        fn proof_ids_round_trip_and_others_are_refused(
            address: [u8; 32],
            challenge: [u8; 32],
            garbage in "\\PC{0,160}",
        ) {
            let id = request_id(&address, &challenge);
            proptest::prop_assert_eq!(parse_request_id(&id), Some((address, challenge)));
            if let Some((a, c)) = parse_request_id(&garbage) {
                proptest::prop_assert!(garbage.eq_ignore_ascii_case(&request_id(&a, &c)));
            }
        }
    }
}
