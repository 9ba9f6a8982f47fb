//! `lightstreams account new|list|import`: an Ethereum v3 JSON keystore.

use std::io::Read;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, anyhow, bail};
use serde_json::json;

use crate::args::{AccountCommand, KeystoreArgs};

pub(crate) fn run(command: AccountCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AccountCommand::New(args) => {
            let dir = keystore_dir(&args)?;
            let password = password(&args, true)?;
            let signer = PrivateKeySigner::random();
            let path = store(&dir, &signer, &password)?;
            report(json, "created", &signer.address(), &path);
        }
        AccountCommand::Import { keystore, key_file } => {
            let dir = keystore_dir(&keystore)?;
            let text = match key_file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                None => {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text)?;
                    text
                }
            };
            let signer: PrivateKeySigner = text
                .trim()
                .parse()
                .map_err(|e| anyhow!("not a private key ({e}); give 64 hex digits"))?;
            if find(&dir, &signer.address())?.is_some() {
                bail!("{} is already in {}", signer.address(), dir.display());
            }
            let password = password(&keystore, true)?;
            let path = store(&dir, &signer, &password)?;
            report(json, "imported", &signer.address(), &path);
        }
        AccountCommand::List(args) => {
            let dir = keystore_dir(&args)?;
            let accounts = list(&dir)?;
            super::print(
                json,
                &json!(
                    accounts
                        .iter()
                        .map(|(a, p)| json!({"address": a, "path": p}))
                        .collect::<Vec<_>>()
                ),
                || {
                    if accounts.is_empty() {
                        format!("no accounts in {}", dir.display())
                    } else {
                        accounts
                            .iter()
                            .enumerate()
                            .map(|(i, (a, p))| format!("({i}) {a}  {}", p.display()))
                            .collect::<Vec<_>>()
                            .join("\n")
                    }
                },
            );
        }
    }
    Ok(())
}

fn report(json: bool, what: &str, address: &Address, path: &Path) {
    super::print(json, &json!({"address": address, "path": path}), || {
        format!(
            "{what} account {address}\nkeystore file: {}",
            path.display()
        )
    });
}

/// The keystore directory from flags, environment or the default, created if missing.
pub(crate) fn keystore_dir(args: &KeystoreArgs) -> anyhow::Result<PathBuf> {
    let dir = match &args.keystore {
        Some(dir) => dir.clone(),
        None => {
            let home = std::env::var_os("LIGHTSTREAMS_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".lightstreams"))
                })
                .ok_or_else(|| anyhow!("set --keystore, LIGHTSTREAMS_HOME or HOME"))?;
            home.join("keystore")
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The password from `--password-file`, LIGHTSTREAMS_PASSWORD or a prompt.
pub(crate) fn password(args: &KeystoreArgs, confirm: bool) -> anyhow::Result<String> {
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read password file {}", path.display()))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_string());
    }
    if let Ok(password) = std::env::var("LIGHTSTREAMS_PASSWORD") {
        return Ok(password);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("no password: pass --password-file FILE or set LIGHTSTREAMS_PASSWORD");
    }
    let password = rpassword::prompt_password("keystore password: ")?;
    if confirm && rpassword::prompt_password("repeat password: ")? != password {
        bail!("the passwords differ");
    }
    Ok(password)
}

fn store(dir: &Path, signer: &PrivateKeySigner, password: &str) -> anyhow::Result<PathBuf> {
    let name = format!(
        "UTC--{}--{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        hex::encode(signer.address())
    );
    PrivateKeySigner::encrypt_keystore(
        dir,
        &mut rand::thread_rng(),
        signer.to_bytes(),
        password,
        Some(&name),
    )
    .map_err(|e| anyhow!("cannot write keystore: {e}"))?;
    Ok(dir.join(name))
}

/// Every (address, file) in the keystore.
pub(crate) fn list(dir: &Path) -> anyhow::Result<Vec<(Address, PathBuf)>> {
    let mut accounts = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let Some(address) = value.get("address").and_then(|a| a.as_str()).and_then(|a| {
            format!("0x{}", a.trim_start_matches("0x"))
                .parse::<Address>()
                .ok()
        }) else {
            continue;
        };
        accounts.push((address, path));
    }
    accounts.sort();
    Ok(accounts)
}

/// The keystore file of `address`.
pub(crate) fn find(dir: &Path, address: &Address) -> anyhow::Result<Option<PathBuf>> {
    Ok(list(dir)?
        .into_iter()
        .find(|(a, _)| a == address)
        .map(|(_, p)| p))
}

/// Decrypt the signer of `address` from the keystore.
pub(crate) fn unlock(args: &KeystoreArgs, address: &Address) -> anyhow::Result<PrivateKeySigner> {
    let dir = keystore_dir(args)?;
    let path = find(&dir, address)?.ok_or_else(|| {
        anyhow!(
            "{address} is not in {}; see `lightstreams account list`",
            dir.display()
        )
    })?;
    let password = password(args, false)?;
    PrivateKeySigner::decrypt_keystore(&path, password)
        .map_err(|e| anyhow!("cannot unlock {address}: {e} (wrong password?)"))
}
