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
}
