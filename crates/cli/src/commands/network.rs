//! `lightstreams init`, `node` and `testnet`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lightstreams_node::NodeConfig;
use lightstreams_node::testnet::{TestnetLayout, TestnetSpec, write_testnet};
use serde_json::json;

use crate::args::{InitArgs, NodeArgs, TestnetArgs};
use crate::rpc::Rpc;

pub(crate) fn init(args: InitArgs, json: bool) -> anyhow::Result<()> {
    let spec = TestnetSpec {
        dir: args.dir,
        validators: args.validators,
        full_nodes: args.full_nodes,
        accounts: args.accounts,
        chain_id: args.chain_id,
        host: args.host,
        p2p_base_port: args.p2p_port,
        rpc_base_port: args.rpc_port,
        fund: args
            .fund
            .iter()
            .map(|entry| parse_fund(entry))
            .collect::<anyhow::Result<_>>()?,
        registry_admin: args.registry_admin,
        fee_recipient: args.fee_recipient,
    };
    let layout = write_testnet(&spec)?;
    print_layout(&layout, json);
    if spec.accounts > 0 {
        eprintln!(
            "note: the genesis funds {} dev accounts from anvil's public mnemonic{}; anyone can \
             spend from them. For a network others rely on, run init with --accounts 0 --fund \
             ADDR=AMOUNT --registry-admin ADDR.",
            spec.accounts,
            if spec.registry_admin.is_none() {
                " and makes dev account 0 the vault node registry's admin"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `ADDR=AMOUNT` of `init --fund`.
fn parse_fund(
    entry: &str,
) -> anyhow::Result<(alloy::primitives::Address, alloy::primitives::U256)> {
    let (address, amount) = entry.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("--fund {entry:?}: expected ADDR=AMOUNT, e.g. 0x70997970C51812dc3A010C7d01b50e0d17dc79C8=1000pht")
    })?;
    let address = address
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("--fund {entry:?}: {address:?} is not an address ({e})"))?;
    let amount = crate::units::parse_amount(amount).with_context(|| format!("--fund {entry:?}"))?;
    Ok((address, amount))
}

fn print_layout(layout: &TestnetLayout, json: bool) {
    super::print(json, &json!(layout), || {
        let mut out = format!("genesis: {}\n", layout.genesis.display());
        for n in &layout.nodes {
            out.push_str(&format!(
                "{:<12} {} p2p {} rpc http://{} key {}\n",
                n.name,
                if n.validator {
                    "validator"
                } else {
                    "full node"
                },
                n.p2p,
                n.rpc,
                n.public_key
            ));
        }
        out.push_str("start a node with: lightstreams node --config <dir>/<node>/config.toml");
        out
    });
}

pub(crate) fn node(args: NodeArgs) -> anyhow::Result<()> {
    let mut config = NodeConfig::load(&args.config)?;
    for peer in &args.join {
        let (public_key, address) = peer
            .split_once('@')
            .ok_or_else(|| anyhow::anyhow!("--join {peer:?}: expected PUBLIC_KEY@HOST:PORT"))?;
        let address = address
            .parse()
            .map_err(|e| anyhow::anyhow!("--join {peer:?}: {address:?} is not HOST:PORT ({e})"))?;
        config.p2p.peers.push(lightstreams_node::PeerConfig {
            public_key: public_key.to_string(),
            address,
            rpc: None,
        });
    }
    let base = args
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let resolved = config.resolve(base)?;
    lightstreams_node::run(resolved, |node| {
        tracing::info!(
            rpc = ?node.rpc_addr(),
            validator = node.is_validator(),
            public_key = %node.public_key(),
            "node ready"
        );
    })?;
    Ok(())
}

/// Children are sent SIGTERM (then killed) when this guard drops, so Ctrl-C, an error or a
/// panic never leaves stray validators behind.
pub(crate) struct Children(pub(crate) Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            // A child already reaped is skipped: its pid may belong to another process now.
            if !matches!(child.try_wait(), Ok(None)) {
                continue;
            }
            // SAFETY: kill(2) with the pid of a child we spawned and have not reaped, and a
            // valid signal number, has no memory effects.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, child) in &mut self.0 {
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn testnet(args: TestnetArgs, json: bool) -> anyhow::Result<()> {
    let genesis = args.dir.join("genesis.json");
    let layout = if genesis.exists() {
        read_layout(&args.dir)?
    } else {
        let mut spec = TestnetSpec::local(args.dir.clone(), args.validators);
        spec.full_nodes = args.full_nodes;
        spec.p2p_base_port = args.p2p_port;
        spec.rpc_base_port = args.rpc_port;
        write_testnet(&spec)?
    };
    let mut children = start_nodes(&layout)?;
    announce_vault_nodes(&layout, json);
    print_layout(&layout, json);
    if !json {
        println!(
            "all {} nodes are up; logs in <dir>/<node>/node.log. Ctrl-C stops them.",
            layout.nodes.len()
        );
    }
    wait_for_signal_or_exit(&mut children, &layout)
}

/// Register every node of a local testnet in the node registry (run by dev account 0) unless it
/// already is, so the vault replicates across them from the start. A failure is reported and
/// leaves the network running: `lightstreams vault announce` does the same by hand.
fn announce_vault_nodes(layout: &TestnetLayout, json: bool) {
    let Some(first) = layout.nodes.first() else {
        return;
    };
    let rpc = format!("http://{}", first.rpc);
    let known = match super::vault_nodes::registered(&rpc) {
        Ok((entries, _)) => entries,
        Err(e) => {
            eprintln!("warning: cannot read the node registry: {e:#}");
            return;
        }
    };
    let operator = lightstreams_primitives::dev::dev_accounts(1).remove(0);
    for node in &layout.nodes {
        let url = format!("http://{}", node.rpc);
        if known.iter().any(|e| e.url == url) {
            continue;
        }
        match super::vault_nodes::announce_node(&node.config, Some(url), &operator, &rpc) {
            Ok(_) if !json => println!("{}: announced in the node registry", node.name),
            Ok(_) => {}
            Err(e) => eprintln!("warning: {} not announced: {e:#}", node.name),
        }
    }
}

/// Start one `lightstreams node` process per node of `layout` (logs in `<node>/node.log`) and
/// wait until each answers JSON-RPC.
pub(crate) fn start_nodes(layout: &TestnetLayout) -> anyhow::Result<Children> {
    let exe = std::env::current_exe().context("cannot find the lightstreams binary")?;
    let mut children = Children(Vec::new());
    for node in &layout.nodes {
        let dir = node.config.parent().unwrap_or(Path::new("."));
        let mut args = vec![
            "node".into(),
            "--config".into(),
            node.config.clone().into_os_string(),
        ];
        args.push("--log".into());
        args.push(std::env::var("RUST_LOG").unwrap_or_else(|_| "info,commonware_consensus=warn,commonware_p2p=warn,commonware_storage=warn,commonware_runtime=warn,commonware_broadcast=warn,commonware_resolver=warn".into()).into());
        children.0.push((
            node.name.clone(),
            spawn(&exe, &args, &dir.join("node.log"))?,
        ));
    }
    for node in &layout.nodes {
        wait_for_rpc(&format!("http://{}", node.rpc), &mut children, &node.name)?;
    }
    Ok(children)
}

/// Spawn the binary with `args`, stdout and stderr appended to `log`.
pub(crate) fn spawn(exe: &Path, args: &[std::ffi::OsString], log: &Path) -> anyhow::Result<Child> {
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))
}

/// Wait up to 60 s for `url` to answer `eth_blockNumber`, failing early if a child exits.
pub(crate) fn wait_for_rpc(url: &str, children: &mut Children, name: &str) -> anyhow::Result<()> {
    let rpc = Rpc::new(url);
    let deadline = Instant::now() + Duration::from_secs(60);
    while rpc.call("eth_blockNumber", json!([])).is_err() {
        for (child_name, child) in &mut children.0 {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("{child_name} exited with {status}; see its log");
            }
        }
        if Instant::now() > deadline {
            bail!("{name} did not answer on {url} within 60 s; see its log");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Run until Ctrl-C (or SIGTERM), then stop every node. A node that exits meanwhile (it
/// crashed, or someone stopped it to see the others carry on, as a BFT network should) is
/// reported with the command that restarts it, and the others keep running; once every node
/// has exited there is nothing left to run.
fn wait_for_signal_or_exit(children: &mut Children, layout: &TestnetLayout) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut gone = vec![false; children.0.len()];
    while !STOP.load(Ordering::SeqCst) {
        for (i, (name, child)) in children.0.iter_mut().enumerate() {
            if gone[i] {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                gone[i] = true;
                let running = gone.iter().filter(|g| !**g).count();
                let config = layout
                    .nodes
                    .iter()
                    .find(|n| n.name == *name)
                    .map(|n| n.config.display().to_string())
                    .unwrap_or_else(|| format!("<dir>/{name}/config.toml"));
                eprintln!(
                    "{name} exited ({status}); {running} of {} nodes keep running. Its log: {}; \
                     restart it with: lightstreams node --config {config}",
                    gone.len(),
                    Path::new(&config).with_file_name("node.log").display(),
                );
            }
        }
        if gone.iter().all(|g| *g) {
            bail!("every node has exited; see their logs (<dir>/<node>/node.log)");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let running = gone.iter().filter(|g| !**g).count();
    eprintln!("stopping {running} nodes");
    Ok(())
}

fn read_layout(dir: &Path) -> anyhow::Result<TestnetLayout> {
    let mut nodes = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("config.toml").exists())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let config_path = entry.path().join("config.toml");
        let config = NodeConfig::load(&config_path)?;
        let resolved = config.resolve(&entry.path())?;
        let public_key = lightstreams_node::testnet::public_key_hex(&resolved.signer);
        nodes.push(lightstreams_node::testnet::NodeEntry {
            name: entry.file_name().to_string_lossy().into_owned(),
            validator: resolved
                .genesis
                .validators
                .iter()
                .any(|v| v.public_key == public_key),
            config: config_path,
            public_key,
            p2p: config.p2p.listen,
            rpc: config.rpc.addr,
        });
    }
    if nodes.is_empty() {
        bail!("{} holds a genesis but no node directories", dir.display());
    }
    Ok(TestnetLayout {
        genesis: dir.join("genesis.json"),
        nodes,
    })
}
