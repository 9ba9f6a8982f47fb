//! Well-known development accounts, derived exactly as anvil and Hardhat derive theirs.

use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

/// The public test mnemonic used by anvil, Hardhat and Foundry. Never use it for real funds.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The most dev accounts a chain may prefund (each is derived from the mnemonic afresh, and
/// indexes must stay far below BIP-32's hardened range). `dev`, `init` and `testnet` refuse
/// more.
pub const MAX_DEV_ACCOUNTS: u32 = 1_000;

/// The first `n` accounts of [`DEV_MNEMONIC`] on the path `m/44'/60'/0'/0/i`.
pub fn dev_accounts(n: u32) -> Vec<PrivateKeySigner> {
    (0..n)
        .map(|i| {
            MnemonicBuilder::<English>::default()
                .phrase(DEV_MNEMONIC)
                .index(i)
                .and_then(|b| b.build())
                .expect("the dev mnemonic and a small index always derive a key")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_anvil_first_account() {
        let accounts = dev_accounts(2);
        assert_eq!(
            format!("{:?}", accounts[0].address()),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        assert_eq!(
            format!("{:?}", accounts[1].address()),
            "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
        );
    }
}
