//! `lightstreams vault ...`: the protocol's client. Files are encrypted and decrypted here;
//! the node only ever sees sealed chunks, sealed manifests and envelopes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lightstreams_access::acl::Level;
use lightstreams_access::http::{HttpRemote, RpcLedger};
use lightstreams_access::protocol::{Client, Content, Identity};
use lightstreams_vault::ItemId;
use serde_json::json;

use crate::args::{IdentityArgs, VaultCommand};

/// The account a command acts as.
pub(crate) fn signer_of(who: &IdentityArgs) -> anyhow::Result<PrivateKeySigner> {
    match (&who.private_key, &who.from) {
        (Some(key), _) => key
            .trim()
            .parse::<PrivateKeySigner>()
            .map_err(|e| anyhow!("--private-key is not a private key: {e}")),
        (None, Some(from)) => {
            let address: Address = from
                .parse()
                .map_err(|e| anyhow!("--from {from:?} is not an address: {e}"))?;
            super::account::unlock(&who.keystore, &address)
        }
        (None, None) => {
            bail!(
                "say who acts: --from ADDRESS (keystore) or --private-key HEX (or LIGHTSTREAMS_ACCOUNT / LIGHTSTREAMS_PRIVATE_KEY)"
            )
        }
    }
}

pub(crate) type CliClient = Client<RpcLedger, HttpRemote>;

pub(crate) fn client(who: &IdentityArgs) -> anyhow::Result<CliClient> {
    let signer = signer_of(who)?;
    let remote = HttpRemote::connect(&who.rpc).map_err(|e| anyhow!("{e}"))?;
    let client = Client::new(
        RpcLedger::new(&who.rpc),
        remote,
        Identity::from_signer(signer),
    );
    // Others can grant this account access only once its encryption key is on chain.
    client.ensure_key_registered().map_err(|e| anyhow!("{e}"))?;
    Ok(client)
}

pub(crate) fn parse_item(id: &str) -> anyhow::Result<ItemId> {
    id.parse::<ItemId>()
        .map_err(|e| anyhow!("{id:?} is not an item id (0x and 64 hex digits): {e}"))
}

pub(crate) fn parse_address(text: &str) -> anyhow::Result<Address> {
    text.parse()
        .map_err(|e| anyhow!("{text:?} is not an address: {e}"))
}

/// Parse `30s`, `10m`, `2h`, `7d` (or plain seconds).
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| {
        anyhow!("duration {text:?}: use a number and a unit, e.g. 30s, 10m, 2h, 7d")
    })?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("duration {text:?}: unknown unit {unit:?}; use s, m, h, d or w"),
    };
    n.checked_mul(scale)
        .ok_or_else(|| anyhow!("duration {text:?} is too long"))
}

/// The unix time `text` (a [`parse_duration`]) after `now`.
pub(crate) fn expiry_after(now: u64, text: &str) -> anyhow::Result<u64> {
    now.checked_add(parse_duration(text)?)
        .ok_or_else(|| anyhow!("duration {text:?} is too long: it ends past the year 292 billion"))
}

/// A byte count for humans: `12 B`, `3.4 MiB`, `1.0 GiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How long `vault add`, `update`, `grant` and `revoke` wait for an item's copies on the other
/// nodes.
const REPLICATION_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// After a write (an upload, an envelope), wait (unless `no_wait`) until every object of the
/// item has its copies on the other nodes; record them in `value` (`copies`, `copies_wanted`)
/// and return a line for humans ("" where there is one node, or nothing to say). Replication
/// that is slow or cannot be checked is a warning, not a failure: the upload is stored and the
/// nodes go on replicating by themselves.
fn replication(
    who: &IdentityArgs,
    item: ItemId,
    no_wait: bool,
    json: bool,
    value: &mut serde_json::Value,
) -> String {
    if no_wait {
        return String::new();
    }
    match super::vault_nodes::wait_replicated(who, item, json, REPLICATION_WAIT) {
        Ok(r) => {
            value["copies"] = r.copies.into();
            value["copies_wanted"] = r.wanted.into();
            if !r.done() {
                eprintln!(
                    "warning: after {} s some objects are on {} of {} nodes; the nodes go on \
                     replicating (see `lightstreams vault health {item}`)",
                    REPLICATION_WAIT.as_secs(),
                    r.copies,
                    r.wanted
                );
            }
            if r.wanted > 1 {
                format!("\non {} of {} nodes", r.copies, r.wanted)
            } else {
                String::new()
            }
        }
        Err(e) => {
            eprintln!("warning: stored, but the node cannot say how far it is replicated: {e}");
            String::new()
        }
    }
}

/// A progress bar on stderr (none for `--json` or when stderr is not a terminal); for an input
/// of unknown length (`len` `None`: stdin, a pipe), a counter of bytes and rate.
fn bar(len: Option<u64>, json: bool, what: &str) -> ProgressBar {
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::new(len),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ),
        None => (ProgressBar::no_length(), "{msg} {bytes} {bytes_per_sec}"),
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// What `vault add` and `vault update` read: a file, or stdin for `-`, with the name and
/// media type readers will see. Checked before anything is sent, so a wrong path costs no
/// transaction.
struct Input {
    reader: Box<dyn std::io::Read>,
    /// Bytes expected (`None` where unknown: stdin, a pipe).
    len: Option<u64>,
    content: Content,
}

fn open_input(
    path: &Path,
    name: Option<String>,
    media_type: Option<String>,
) -> anyhow::Result<Input> {
    let stdin = path == Path::new("-");
    let name = name.unwrap_or_else(|| {
        if stdin {
            "stdin".to_string()
        } else {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    });
    let media_type = media_type.unwrap_or_else(|| {
        mime_guess::from_path(&name)
            .first_or_octet_stream()
            .to_string()
    });
    let content = Content { name, media_type };
    if stdin {
        return Ok(Input {
            reader: Box::new(std::io::stdin().lock()),
            len: None,
            content,
        });
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        bail!(
            "{} is a directory: an item holds one file (pack a folder first, e.g. `tar -cf folder.tar folder`)",
            path.display()
        );
    }
    Ok(Input {
        reader: Box::new(BufReader::with_capacity(1 << 20, file)),
        len: meta.is_file().then_some(meta.len()),
        content,
    })
}

pub(crate) fn run(command: VaultCommand, json: bool) -> anyhow::Result<()> {
    match command {
        VaultCommand::Add {
            file,
            public,
            media_type,
            name,
            no_wait,
            who,
        } => {
            let input = open_input(&file, name, media_type)?;
            let content = input.content;
            let client = client(&who)?;
            let progress = bar(input.len, json, "encrypting");
            let published = client
                .add(input.reader, &content, public, |n| progress.inc(n))
                .map_err(|e| anyhow!("{e}"))?;
            progress.finish_and_clear();
            let mut value = serde_json::to_value(&published)?;
            let copies = replication(&who, published.item, no_wait, json, &mut value);
            super::print(json, &value, || {
                format!(
                    "added {} ({} bytes, {} chunk{}{})\nitem {}{copies}",
                    content.name,
                    published.size,
                    published.chunks,
                    if published.chunks == 1 { "" } else { "s" },
                    if public { ", public" } else { "" },
                    published.item
                )
            });
        }
        VaultCommand::Update {
            id,
            file,
            media_type,
            name,
            no_wait,
            who,
        } => {
            let item = parse_item(&id)?;
            let client = client(&who)?;
            // From stdin with no name given, the new version keeps the latest one's name.
            let (name, media_type) = if file == Path::new("-") && name.is_none() {
                let latest = client.open(item, None).map_err(|e| anyhow!("{e}"))?;
                (
                    Some(latest.manifest.name),
                    media_type.or(Some(latest.manifest.media_type)),
                )
            } else {
                (name, media_type)
            };
            let input = open_input(&file, name, media_type)?;
            let progress = bar(input.len, json, "encrypting");
            let published = client
                .update(item, input.reader, &input.content, |n| progress.inc(n))
                .map_err(|e| anyhow!("{e}"))?;
            progress.finish_and_clear();
            let mut value = serde_json::to_value(&published)?;
            let copies = replication(&who, published.item, no_wait, json, &mut value);
            super::print(json, &value, || {
                format!(
                    "published version {} of {} ({} bytes, epoch {}){copies}",
                    published.version, published.item, published.size, published.epoch
                )
            });
        }
        VaultCommand::Get {
            id,
            output,
            version,
            range,
            who,
        } => {
            let item = parse_item(&id)?;
            let client = client(&who)?;
            let opened = client.open(item, version).map_err(|e| anyhow!("{e}"))?;
            let size = opened.manifest.size;
            let (start, end) = match &range {
                Some(text) => parse_range(text, size)?,
                None => (0, size.saturating_sub(1)),
            };
            let length = if size == 0 { 0 } else { end - start + 1 };
            let to_stdout = output.as_deref() == Some(Path::new("-"));
            let own_name = || PathBuf::from(safe_name(&opened.manifest.name, item));
            // A path named with -o is the user's choice; one made from the item's name (which
            // whoever published it chose) never replaces a file that is already there.
            let (path, named) = match output {
                // Into a directory: under the item's own name there (as `cp` does).
                Some(dir) if dir.is_dir() => (dir.join(own_name()), false),
                Some(path) => (path, true),
                None => (own_name(), false),
            };
            if !named && !to_stdout && std::fs::symlink_metadata(&path).is_ok() {
                return Err(exists(&path, &opened.manifest.name));
            }
            let progress = bar(Some(length), json || to_stdout, "decrypting");
            if to_stdout {
                let mut out = BufWriter::new(std::io::stdout().lock());
                if length > 0 {
                    client
                        .read_range(&opened, start, end, &mut out, |n| progress.inc(n))
                        .map_err(|e| anyhow!("{e}"))?;
                }
                out.flush()?;
                return Ok(());
            }
            let mut output = Download::open(&path)?;
            if length > 0 {
                let mut out = BufWriter::with_capacity(1 << 20, output.file());
                client
                    .read_range(&opened, start, end, &mut out, |n| progress.inc(n))
                    .map_err(|e| anyhow!("{e}"))?;
                out.flush()?;
            }
            output.finish(&path, !named).map_err(|e| {
                if !named && std::fs::symlink_metadata(&path).is_ok() {
                    exists(&path, &opened.manifest.name)
                } else {
                    e
                }
            })?;
            progress.finish_and_clear();
            let value = json!({
                "item": item.to_string(), "version": opened.manifest.version,
                "name": opened.manifest.name, "media_type": opened.manifest.media_type,
                "size": size, "written": length, "path": path,
            });
            super::print(json, &value, || {
                format!(
                    "wrote {} bytes of {} (version {}) to {}",
                    length,
                    super::shown(&opened.manifest.name),
                    opened.manifest.version,
                    path.display()
                )
            });
        }
        VaultCommand::Grant {
            id,
            address,
            read: _,
            write,
            admin,
            expires,
            no_wait,
            who,
        } => {
            let item = parse_item(&id)?;
            let grantee = parse_address(&address)?;
            let level = if admin {
                Level::ADMIN
            } else if write {
                Level::WRITE
            } else {
                Level::READ
            };
            let expiry = expires
                .as_deref()
                .map(|text| expiry_after(now(), text))
                .transpose()?;
            let client = client(&who)?;
            let tx = client
                .grant(item, grantee, level, expiry)
                .map_err(|e| anyhow!("{e}"))?;
            let level_name = if admin {
                "admin"
            } else if write {
                "write"
            } else {
                "read"
            };
            let mut value = json!({"item": item.to_string(), "account": grantee, "level": level_name, "expiry": expiry, "transaction": tx});
            let copies = replication(&who, item, no_wait, json, &mut value);
            super::print(json, &value, || {
                format!(
                    "granted {level_name} on {item} to {grantee}{}{copies}",
                    expiry
                        .map(|e| format!(" until {}", super::when(e)))
                        .unwrap_or_default()
                )
            });
        }
        VaultCommand::Revoke {
            id,
            address,
            no_wait,
            who,
        } => {
            let item = parse_item(&id)?;
            let revoked = parse_address(&address)?;
            let client = client(&who)?;
            let rekeyed = client.revoke(item, revoked).map_err(|e| anyhow!("{e}"))?;
            let mut value =
                json!({"item": item.to_string(), "revoked": revoked, "rekeyed_version": rekeyed});
            let copies = replication(&who, item, no_wait, json, &mut value);
            super::print(json, &value, || {
                let mut text = format!("revoked {revoked} on {item}; new key epoch started");
                if let Some(p) = &rekeyed {
                    text.push_str(&format!(
                        "\nre-encrypted the latest content as version {} (epoch {})",
                        p.version, p.epoch
                    ));
                }
                text.push_str(&copies);
                text
            });
        }
        VaultCommand::Public { id, off, who } => {
            let item = parse_item(&id)?;
            let client = client(&who)?;
            client.set_public(item, !off).map_err(|e| anyhow!("{e}"))?;
            let value = json!({"item": item.to_string(), "public": !off});
            super::print(json, &value, || {
                format!("{item} is now {}", if off { "private" } else { "public" })
            });
        }
        VaultCommand::Announce { config, url, who } => {
            super::vault_nodes::announce(&config, url, &who, json)?;
        }
        VaultCommand::Approve { operator, off, who } => {
            super::vault_nodes::approve(&operator, !off, &who, json)?;
        }
        VaultCommand::Nodes { rpc } => super::vault_nodes::nodes(&rpc, json)?,
        VaultCommand::Health { id, who } => super::vault_nodes::health(&id, &who, json)?,
        VaultCommand::Ls { who } => {
            let client = client(&who)?;
            let items = client.list().map_err(|e| anyhow!("{e}"))?;
            // Each item's latest name and size, from its manifest (for those this account can
            // open now; `null` for the others, such as items whose grant expired).
            let latest: Vec<Option<(String, u64)>> = items
                .iter()
                .map(|i| {
                    client
                        .open(i.item, None)
                        .ok()
                        .map(|o| (o.manifest.name, o.manifest.size))
                })
                .collect();
            let mut value = serde_json::to_value(&items)?;
            if let Some(rows) = value.as_array_mut() {
                for (row, latest) in rows.iter_mut().zip(&latest) {
                    row["name"] = json!(latest.as_ref().map(|l| &l.0));
                    row["size"] = json!(latest.as_ref().map(|l| l.1));
                }
            }
            super::print(json, &value, || {
                if items.is_empty() {
                    return "no items".to_string();
                }
                items
                    .iter()
                    .zip(&latest)
                    .map(|(i, latest)| {
                        format!(
                            "{}  {:<5}  {} version(s){}  {}",
                            i.item,
                            i.level,
                            i.versions,
                            if i.public { "  public" } else { "" },
                            latest.as_ref().map_or_else(
                                || "(cannot be opened by this account now)".to_string(),
                                |(name, size)| {
                                    format!("{} ({})", super::shown(name), human_size(*size))
                                }
                            )
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        VaultCommand::Info { id, who } => {
            let item = parse_item(&id)?;
            let client = client(&who)?;
            let info = client.info(item).map_err(|e| anyhow!("{e}"))?;
            let latest = info.versions.last().cloned();
            // What the latest version holds, if this account can open it now.
            let manifest = client.open(item, None).ok().map(|o| o.manifest);
            let mut value = serde_json::to_value(&info)?;
            if let Some(map) = value.as_object_mut() {
                map.remove("versions");
                map.insert("version_count".into(), json!(info.versions.len()));
                map.insert("latest".into(), serde_json::to_value(&latest)?);
                if let Some(m) = &manifest {
                    map.insert("name".into(), json!(m.name));
                    map.insert("media_type".into(), json!(m.media_type));
                    map.insert("size".into(), json!(m.size));
                }
            }
            super::print(json, &value, || {
                let mut text = format!("item     {}", info.item);
                if let Some(m) = &manifest {
                    text.push_str(&format!(
                        "\nname     {}\ntype     {}\nsize     {} ({} bytes)",
                        super::shown(&m.name),
                        super::shown(&m.media_type),
                        human_size(m.size),
                        m.size
                    ));
                }
                text.push_str(&format!(
                    "\nowner    {}\nyou      {}\npublic   {}\nepoch    {}\nversions {}",
                    info.owner,
                    info.level,
                    info.public,
                    info.epoch,
                    info.versions.len()
                ));
                if let Some(latest) = &latest {
                    text.push_str(&format!("\nupdated  {}", super::when(latest.timestamp)));
                }
                if let Some(policy) = info.policy {
                    text.push_str(&format!("\npolicy   {policy}"));
                }
                text
            });
        }
        VaultCommand::Versions { id, who } => {
            let item = parse_item(&id)?;
            let client = client(&who)?;
            let info = client.info(item).map_err(|e| anyhow!("{e}"))?;
            let value = serde_json::to_value(&info.versions)?;
            super::print(json, &value, || {
                info.versions
                    .iter()
                    .map(|v| {
                        format!(
                            "{:>3}  epoch {:>2}  {}  by {}  at {}",
                            v.index,
                            v.epoch,
                            v.manifest,
                            v.author,
                            super::when(v.timestamp)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

/// Where `vault get -o PATH` writes. A regular file (or a new one) is written as a temporary
/// file beside it and renamed into place once complete, so a failed download leaves no partial
/// file behind. Anything else that already exists there (`/dev/null`, a named pipe, a terminal)
/// is written directly: renaming over it would replace the device or pipe with a plain file.
enum Download {
    Staged(tempfile::NamedTempFile),
    Direct(File),
}

impl Download {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            return Ok(Self::Direct(file));
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        Ok(Self::Staged(tmp))
    }

    fn file(&mut self) -> &mut File {
        match self {
            Self::Staged(tmp) => tmp.as_file_mut(),
            Self::Direct(file) => file,
        }
    }

    /// Put a complete download in place (a special file already has every byte); with
    /// `keep_existing`, never over a file that is there already.
    fn finish(self, path: &Path, keep_existing: bool) -> anyhow::Result<()> {
        match self {
            Self::Staged(tmp) => {
                let persisted = if keep_existing {
                    tmp.persist_noclobber(path)
                } else {
                    tmp.persist(path)
                };
                persisted.map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error))?;
            }
            Self::Direct(_) => {}
        }
        Ok(())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a download made from the item's name stops before writing.
fn exists(path: &Path, name: &str) -> anyhow::Error {
    anyhow!(
        "{} already exists (the item is named {}); nothing was written: choose where to write \
         with -o PATH (a file named with -o is replaced)",
        path.display(),
        super::shown(name)
    )
}

/// A file name from an item's name (chosen by whoever published it) that cannot escape the
/// current directory, hide itself or be a shell's start-up file: only its last component, with
/// leading dots, control characters and bidirectional marks dropped; the item id if nothing is
/// left.
fn safe_name(name: &str, item: ItemId) -> String {
    let base: String = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|&c| !super::deceptive(c))
        .collect();
    let base = base.trim_start_matches('.').trim();
    if base.is_empty() {
        format!("{item}")
    } else {
        base.to_string()
    }
}

/// Parse `START-END` (inclusive), `START-` or `-SUFFIX` against a size.
fn parse_range(text: &str, size: u64) -> anyhow::Result<(u64, u64)> {
    let bad = || {
        anyhow!(
            "--range {text:?}: use START-END (inclusive), START- or -LAST_N, within the file's {size} bytes"
        )
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| bad())?;
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (s, "") => (s.parse().map_err(|_| bad())?, size.saturating_sub(1)),
        (s, e) => (
            s.parse().map_err(|_| bad())?,
            e.parse::<u64>()
                .map_err(|_| bad())?
                .min(size.saturating_sub(1)),
        ),
    };
    if size == 0 || start > end || start >= size {
        return Err(bad());
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_items_name_makes_a_plain_file_name_here() {
        let item = lightstreams_vault::ItemId([0xab; 32]);
        let id = format!("{item}");
        for (name, safe) in [
            ("song.mp3", "song.mp3"),
            ("../../etc/passwd", "passwd"),
            ("/home/bob/.bashrc", "bashrc"),
            (".bash_aliases", "bash_aliases"),
            ("...", &id),
            ("..", &id),
            ("", &id),
            ("a\u{1b}[2Jb\u{202e}c.txt", "a[2Jbc.txt"),
            ("Été 🎵.flac", "Été 🎵.flac"),
        ] {
            assert_eq!(super::safe_name(name, item), safe, "{name:?}");
        }
    }

    proptest::proptest! {
        /// Any --range against any size is refused or lies inside the file.
        #[test]
        fn any_range_stays_inside_the_file(
            text in "[0-9]{0,21}-[0-9]{0,21}|\\PC{0,30}",
            size in proptest::prop_oneof![0u64..10, proptest::prelude::any::<u64>()],
        ) {
            if let Ok((start, end)) = super::parse_range(&text, size) {
                proptest::prop_assert!(start <= end && end < size, "{} of {}: {}-{}", text, size, start, end);
            }
        }
    }

    /// An expiry so far ahead that it passes the end of time is refused by name, never a
    /// panic (or, wrapped, a time in the past).
    #[test]
    fn an_expiry_past_the_end_of_time_is_refused() {
        let now = 1_700_000_000;
        assert_eq!(super::expiry_after(now, "2h").expect("2h"), now + 7200);
        for text in [
            "18446744073709551615s",
            "18446744073709551615",
            "30500568904943w",
        ] {
            let err = super::expiry_after(now, text).expect_err(text);
            assert!(err.to_string().contains("too long"), "{text}: {err}");
        }
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(super::human_size(0), "0 B");
        assert_eq!(super::human_size(1023), "1023 B");
        assert_eq!(super::human_size(1024), "1.0 KiB");
        assert_eq!(super::human_size(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
        assert_eq!(super::human_size(u64::MAX), "16777216.0 TiB");
    }
}
