//! The genesis file: chain id, initial balances and code, and the validator set.

use std::collections::BTreeMap;
use std::path::Path;

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::constants::{BASE_FEE_PER_GAS, DEFAULT_BLOCK_GAS_LIMIT, DEV_CHAIN_ID, PHT};
use crate::dev::dev_accounts;

/// Why a genesis file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    /// The file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        /// The path that was read.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid genesis JSON.
    #[error("genesis file {path} is not valid: {source}")]
    Parse {
        /// The path that was read.
        path: String,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// The content is well-formed but unusable.
    #[error("invalid genesis: {0}")]
    Invalid(String),
}

/// An account in the genesis state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Balance in wei.
    pub balance: U256,
    /// Account nonce.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nonce: u64,
    /// Contract bytecode (runtime code), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Bytes>,
    /// Contract storage, if any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage: BTreeMap<B256, B256>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A validator of the initial set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// The validator's consensus (ed25519) public key, hex encoded.
    pub public_key: String,
    /// The account credited with fees of blocks this validator proposes.
    pub beneficiary: Address,
}

/// The genesis of a Lightstreams chain, as read from a JSON file.
///
/// Every node of a network must use byte-for-byte the same genesis: its hash is part of the
/// genesis block, so nodes with different files never agree on anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Genesis block timestamp, in seconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: u64,
    /// Gas limit of every block.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
    /// The fixed base fee per gas, in wei.
    #[serde(default = "default_base_fee")]
    pub base_fee_per_gas: u64,
    /// Initial accounts.
    pub alloc: BTreeMap<Address, GenesisAccount>,
    /// The validator set.
    pub validators: Vec<GenesisValidator>,
}

fn default_gas_limit() -> u64 {
    DEFAULT_BLOCK_GAS_LIMIT
}

fn default_base_fee() -> u64 {
    BASE_FEE_PER_GAS
}

impl Genesis {
    /// A development genesis: chain id 161 and the first `accounts` dev accounts funded with
    /// 10,000 PHT each (the anvil mnemonic, see [`crate::dev`]).
    pub fn dev(accounts: u32, validators: Vec<GenesisValidator>) -> Self {
        let alloc = dev_accounts(accounts)
            .into_iter()
            .map(|signer| {
                (
                    signer.address(),
                    GenesisAccount {
                        balance: U256::from(10_000u128 * PHT),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let mut genesis = Self {
            chain_id: DEV_CHAIN_ID,
            timestamp: 0,
            gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            base_fee_per_gas: BASE_FEE_PER_GAS,
            alloc,
            validators,
        };
        // Dev account 0 approves vault node operators: on a network of public dev keys that is
        // anyone who reads the docs, which suits a development network; a real one names its
        // own authority (`init --registry-admin`, or `setAdmin` once started).
        let admin = dev_accounts(1)
            .first()
            .map(|a| a.address())
            .unwrap_or_default();
        genesis.add_system_contracts(admin);
        genesis
    }

    /// Place the system contracts (access, key and node registries, marketplace) at their fixed
    /// addresses, with `registry_admin` as the node registry's admin (who approves the operators
    /// of vault nodes).
    pub fn add_system_contracts(&mut self, registry_admin: Address) {
        for (address, code) in crate::system::contracts() {
            let mut storage = BTreeMap::new();
            if address == crate::system::NODE_REGISTRY {
                storage.insert(
                    B256::from(U256::from(crate::system::NODE_REGISTRY_ADMIN_SLOT)),
                    registry_admin.into_word(),
                );
            }
            self.alloc.insert(
                address,
                GenesisAccount {
                    code: Some(code),
                    storage,
                    ..Default::default()
                },
            );
        }
    }

    /// The node registry's admin as this genesis sets it (zero: none).
    pub fn registry_admin(&self) -> Address {
        self.alloc
            .get(&crate::system::NODE_REGISTRY)
            .and_then(|a| {
                a.storage.get(&B256::from(U256::from(
                    crate::system::NODE_REGISTRY_ADMIN_SLOT,
                )))
            })
            .map(|word| Address::from_word(*word))
            .unwrap_or_default()
    }

    /// Read and validate a genesis JSON file.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let genesis: Self = serde_json::from_str(&text).map_err(|source| GenesisError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Write this genesis as pretty JSON.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }

    /// Check what the type system cannot: a non-zero chain id and gas limit, hex keys, no
    /// duplicate validators.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id == 0 {
            return Err(GenesisError::Invalid("chain_id must not be 0".into()));
        }
        if self.gas_limit < 21_000 {
            return Err(GenesisError::Invalid(format!(
                "gas_limit {} is below the 21000 a transfer needs",
                self.gas_limit
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.validators {
            let key = v.public_key.trim_start_matches("0x");
            if hex::decode(key).map(|b| b.len()) != Ok(32) {
                return Err(GenesisError::Invalid(format!(
                    "validator public_key {:?} is not 32 hex-encoded bytes",
                    v.public_key
                )));
            }
            if !seen.insert(key.to_ascii_lowercase()) {
                return Err(GenesisError::Invalid(format!(
                    "validator public_key {} appears twice",
                    v.public_key
                )));
            }
        }
        Ok(())
    }

    /// A digest of the canonical JSON form; it is placed in the genesis block's `extra_data`
    /// so that two different genesis files never produce the same genesis hash.
    pub fn digest(&self) -> B256 {
        keccak256(serde_json::to_vec(self).expect("genesis always serialises"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_genesis_names_dev_account_0_the_registry_admin() {
        let genesis = Genesis::dev(2, vec![]);
        let admin = dev_accounts(1)[0].address();
        assert_eq!(genesis.registry_admin(), admin);
        let mut other = Genesis::dev(2, vec![]);
        other.add_system_contracts(Address::repeat_byte(7));
        assert_eq!(other.registry_admin(), Address::repeat_byte(7));
        assert_ne!(
            genesis.digest(),
            other.digest(),
            "the admin is part of the genesis"
        );
    }

    #[test]
    fn dev_genesis_round_trips_through_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("genesis.json");
        let genesis = Genesis::dev(10, vec![]);
        genesis.save(&path).expect("save");
        let loaded = Genesis::load(&path).expect("load");
        assert_eq!(loaded, genesis);
        assert_eq!(loaded.digest(), genesis.digest());
    }

    #[test]
    fn rejects_bad_files_with_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("genesis.json");
        std::fs::write(&path, "{ not json").expect("write");
        let err = Genesis::load(&path).expect_err("must fail").to_string();
        assert!(err.contains("not valid"), "{err}");

        let mut genesis = Genesis::dev(1, vec![]);
        genesis.validators.push(GenesisValidator {
            public_key: "xyz".into(),
            beneficiary: Address::ZERO,
        });
        let err = genesis.validate().expect_err("bad key").to_string();
        assert!(err.contains("public_key"), "{err}");

        let err = Genesis::load(&dir.path().join("missing.json"))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
