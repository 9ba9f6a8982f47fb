//! The system contracts every Lightstreams genesis holds at fixed addresses.
//!
//! Their runtime bytecode is compiled from `contracts/src` by `contracts/build-artifacts.sh`
//! and committed under `contracts/deployed/`; CI rebuilds it and fails on any difference.
//! No contract has a constructor: genesis places the runtime code, with empty storage but for the
//! node registry's admin.

use alloy::primitives::{Address, Bytes, address};

/// The access registry: items, owners, levels, expiries, epochs, versions.
pub const ACCESS_REGISTRY: Address = address!("0x4C53000000000000000000000000000000000001");
/// The key registry: each account's X25519 encryption public key.
pub const KEY_REGISTRY: Address = address!("0x4C53000000000000000000000000000000000002");
/// The marketplace: listings, purchases that pay and grant READ at once, signed offers.
pub const MARKETPLACE: Address = address!("0x4C53000000000000000000000000000000000003");
/// The node registry: vault storage nodes, their transport ids, URLs and operators.
pub const NODE_REGISTRY: Address = address!("0x4C53000000000000000000000000000000000004");
/// The node registry's storage slot holding its admin (who approves node operators).
pub const NODE_REGISTRY_ADMIN_SLOT: u64 = 2;

const ACCESS_REGISTRY_HEX: &str = include_str!("../../../contracts/deployed/AccessRegistry.hex");
const KEY_REGISTRY_HEX: &str = include_str!("../../../contracts/deployed/KeyRegistry.hex");
const MARKETPLACE_HEX: &str = include_str!("../../../contracts/deployed/Marketplace.hex");
const NODE_REGISTRY_HEX: &str = include_str!("../../../contracts/deployed/NodeRegistry.hex");

fn decode(text: &str) -> Bytes {
    // The files are produced by our build script and checked in CI; an unreadable file is a
    // build defect, caught by the tests below, so an empty code is never silently deployed.
    Bytes::from(hex::decode(text.trim().trim_start_matches("0x")).unwrap_or_default())
}

/// Runtime code of the access registry.
pub fn access_registry_code() -> Bytes {
    decode(ACCESS_REGISTRY_HEX)
}

/// Runtime code of the key registry.
pub fn key_registry_code() -> Bytes {
    decode(KEY_REGISTRY_HEX)
}

/// Runtime code of the marketplace.
pub fn marketplace_code() -> Bytes {
    decode(MARKETPLACE_HEX)
}

/// Runtime code of the node registry.
pub fn node_registry_code() -> Bytes {
    decode(NODE_REGISTRY_HEX)
}

/// Every system contract: (address, runtime code).
pub fn contracts() -> [(Address, Bytes); 4] {
    [
        (ACCESS_REGISTRY, access_registry_code()),
        (KEY_REGISTRY, key_registry_code()),
        (MARKETPLACE, marketplace_code()),
        (NODE_REGISTRY, node_registry_code()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_code_decodes() {
        for (address, code) in contracts() {
            assert!(
                code.len() > 100,
                "{address}: runtime code missing or not hex"
            );
        }
    }
}
