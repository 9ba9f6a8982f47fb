//! Deterministic placement by rendezvous (highest random weight) hashing.
//!
//! For each object every node ranks the registered nodes by `BLAKE3(node id ‖ object key)` and
//! stores the object on the first R live ones. Everyone computes the same ranking without
//! talking to anyone, and a node joining or leaving moves only the objects it ranks first for.

use crate::identity::NodeId;

/// The key an object is placed by: item, kind and the object's own id, hashed.
pub fn object_key(item: &[u8; 32], kind: &str, id: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("lightstreams placement v1");
    hasher.update(item);
    hasher.update(&(kind.len() as u64).to_le_bytes());
    hasher.update(kind.as_bytes());
    hasher.update(id);
    *hasher.finalize().as_bytes()
}

/// `nodes` ordered from the most to the least preferred holder of the object with `key`.
pub fn rank(nodes: &[NodeId], key: &[u8; 32]) -> Vec<NodeId> {
    let mut scored: Vec<([u8; 32], NodeId)> = nodes
        .iter()
        .map(|node| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&node.0);
            hasher.update(key);
            (*hasher.finalize().as_bytes(), *node)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().map(|(_, node)| node).collect()
}

/// What a node does with its own copy of an object that others may also hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// The node is in the object's placement (or there are too few nodes to spare a copy).
    Keep,
    /// The node is outside the placement and every node of the placement holds the object:
    /// its copy is extra.
    Drop,
    /// The node is outside the placement, which does not hold the object everywhere yet: keep
    /// the copy for now and look again soon.
    Wait,
}

/// Whether `me`'s copy of an object is extra, given the nodes it can see ranked for the object
/// (`ranked`, best first, `me` included) and which of them hold it now (`holds`).
///
/// Nodes that decide this at the same time, each from its own view of who is live and what
/// they hold, never take the object below `replicas` copies: a node drops its copy only when
/// `replicas` nodes ranked above it hold one, so the best-ranked node that ever dropped a copy
/// relied on nodes ranked above it, none of which has ever dropped one (the test
/// `concurrent_decisions_never_leave_fewer_than_r_copies` checks this over random views).
pub fn extra_copy(
    ranked: &[NodeId],
    me: NodeId,
    replicas: usize,
    holds: impl Fn(&NodeId) -> bool,
) -> Extra {
    let placement = &ranked[..replicas.min(ranked.len())];
    if placement.contains(&me) || !ranked.contains(&me) {
        Extra::Keep
    } else if placement.iter().all(holds) {
        Extra::Drop
    } else {
        Extra::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u8) -> Vec<NodeId> {
        (1..=n).map(|i| NodeId([i; 32])).collect()
    }

    #[test]
    fn every_node_computes_the_same_ranking() {
        let key = object_key(&[9; 32], "chunks", &[1; 32]);
        let mut shuffled = nodes(5);
        shuffled.reverse();
        assert_eq!(rank(&nodes(5), &key), rank(&shuffled, &key));
        assert_eq!(rank(&nodes(5), &key).len(), 5);
    }

    #[test]
    fn a_joining_node_moves_only_what_it_ranks_first_for() {
        // Over many objects, adding a sixth node changes the top-3 of an object only by
        // putting the new node into it.
        let before = nodes(5);
        let after = nodes(6);
        let mut moved = 0;
        for i in 0..500u32 {
            let key = object_key(&[1; 32], "chunks", &i.to_le_bytes());
            let old: Vec<_> = rank(&before, &key).into_iter().take(3).collect();
            let new: Vec<_> = rank(&after, &key).into_iter().take(3).collect();
            if old != new {
                moved += 1;
                assert!(
                    new.contains(&NodeId([6; 32])),
                    "only the newcomer displaces"
                );
            }
        }
        // About 3/6 of the objects take the newcomer into their top 3.
        assert!((150..350).contains(&moved), "moved {moved} of 500");
    }

    #[test]
    fn load_spreads_over_nodes() {
        let all = nodes(4);
        let mut first = [0u32; 4];
        for i in 0..2000u32 {
            let key = object_key(&[2; 32], "chunks", &i.to_le_bytes());
            let top = rank(&all, &key)[0];
            first[usize::from(top.0[0] - 1)] += 1;
        }
        for count in first {
            assert!((350..650).contains(&count), "uneven: {first:?}");
        }
    }

    #[test]
    fn a_copy_outside_a_complete_placement_is_extra() {
        let all = nodes(5);
        let key = object_key(&[3; 32], "chunks", &[4; 32]);
        let ranked = rank(&all, &key);
        let (top, outside) = (ranked[0], ranked[4]);
        assert_eq!(extra_copy(&ranked, top, 3, |_| false), Extra::Keep);
        assert_eq!(extra_copy(&ranked, outside, 3, |_| true), Extra::Drop);
        assert_eq!(
            extra_copy(&ranked, outside, 3, |n| *n != ranked[2]),
            Extra::Wait
        );
        // Fewer nodes than R: everyone keeps a copy.
        assert_eq!(
            extra_copy(&ranked[..2], ranked[1], 3, |_| true),
            Extra::Keep
        );
        // A node that does not see itself ranked keeps what it has.
        assert_eq!(extra_copy(&ranked[..3], outside, 3, |_| true), Extra::Keep);
    }

    /// Nodes decide from stale, partial views (each sees a random subset of the others, and
    /// acts on what it saw some steps ago) while copies are also pushed around; once any copy
    /// has been dropped, at least R copies remain.
    #[test]
    fn concurrent_decisions_never_leave_fewer_than_r_copies() {
        use rand::{Rng, SeedableRng};
        const R: usize = 3;
        let all = nodes(8);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut drops = 0;
        for round in 0..300u32 {
            let key = object_key(&[5; 32], "chunks", &round.to_le_bytes());
            let mut holders: std::collections::HashSet<NodeId> =
                all.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
            holders.insert(all[rng.gen_range(0..all.len())]);
            // Decisions taken but not yet carried out: (node, what it decided).
            let mut pending: Vec<(NodeId, Extra)> = Vec::new();
            let mut dropped_any = false;
            for _ in 0..60 {
                match rng.gen_range(0..3) {
                    // A node looks at the live nodes it can see and what they hold now.
                    0 => {
                        let me = all[rng.gen_range(0..all.len())];
                        let view: Vec<NodeId> = all
                            .iter()
                            .copied()
                            .filter(|n| *n == me || rng.gen_bool(0.7))
                            .collect();
                        let seen: std::collections::HashSet<NodeId> = view
                            .iter()
                            .copied()
                            .filter(|n| holders.contains(n))
                            .collect();
                        if seen.contains(&me) {
                            let decision =
                                extra_copy(&rank(&view, &key), me, R, |n| seen.contains(n));
                            pending.push((me, decision));
                        }
                    }
                    // A decision taken earlier is carried out.
                    1 if !pending.is_empty() => {
                        let (me, decision) = pending.swap_remove(rng.gen_range(0..pending.len()));
                        if decision == Extra::Drop {
                            holders.remove(&me);
                            dropped_any = true;
                            drops += 1;
                        }
                    }
                    // A holder pushes a copy to another node.
                    _ => {
                        holders.insert(all[rng.gen_range(0..all.len())]);
                    }
                }
                if dropped_any {
                    assert!(
                        holders.len() >= R,
                        "round {round}: {} copies left",
                        holders.len()
                    );
                }
            }
        }
        assert!(drops > 100, "the simulation dropped only {drops} copies");
    }
}
