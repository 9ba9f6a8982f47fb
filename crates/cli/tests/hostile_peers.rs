//! Hostile bytes on every port a node listens on — the consensus transport, the JSON-RPC /
//! HTTP API and the vault stream — neither stop a node nor stall the network: random bytes,
//! cut-off and oversized headers, lengths that promise gigabytes, and connections opened and left
//! idle. Afterwards both validators are running, blocks keep finalizing, a transfer lands, and
//! each listener still answers a well-formed request.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use rand::RngCore;
use serde_json::Value;
use util::*;

/// What a hostile client sends: random bytes of several sizes and frames that lie about their
/// length, in the shapes each protocol expects (a length-prefixed handshake, the vault stream's
/// request, an HTTP request).
fn payloads() -> Vec<(String, Vec<u8>)> {
    let mut rng = rand::thread_rng();
    let mut random = |n: usize| {
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    };
    let mut out: Vec<(String, Vec<u8>)> = [1, 3, 4, 32, 100, 4096, 70_000, 1 << 20]
        .into_iter()
        .map(|n| (format!("{n} random bytes"), random(n)))
        .collect();
    out.push(("a u32 length of 4 GiB".into(), [0xff; 4].to_vec()));
    let mut lie = u32::MAX.to_be_bytes().to_vec();
    lie.extend(random(64));
    out.push(("a big-endian 4 GiB frame, cut off".into(), lie));
    let mut lie = u32::MAX.to_le_bytes().to_vec();
    lie.extend(random(64));
    out.push(("a little-endian 4 GiB frame, cut off".into(), lie));
    out.push(("zeros".into(), vec![0; 8192]));
    for magic in [&b"LSV1"[..], b"LSW1"] {
        let mut wire = magic.to_vec();
        wire.extend([7u8; 32]);
        wire.extend(4096u16.to_le_bytes());
        wire.extend(random(100));
        out.push((
            format!("{} with a header cut off", String::from_utf8_lossy(magic)),
            wire,
        ));
        let mut wire = magic.to_vec();
        wire.extend([7u8; 32]);
        wire.extend(5u16.to_le_bytes());
        wire.extend(b"hello");
        wire.extend(u32::MAX.to_le_bytes());
        out.push((
            format!("{} with a 4 GiB list", String::from_utf8_lossy(magic)),
            wire,
        ));
    }
    let mut huge_header = b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge_header.extend(vec![b'a'; 256 << 10]);
    out.push(("an HTTP header of 256 KiB".into(), huge_header));
    out.push((
        "an HTTP body shorter than its length".into(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999\r\n\r\n{\"jsonrpc\""
            .to_vec(),
    ));
    out.push((
        "a WebSocket upgrade, then garbage".into(),
        [
            &b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"[..],
            &random(512),
        ]
        .concat(),
    ));
    out
}

/// Send `wire` to `addr`, close the sending side and read whatever comes back (bounded), all
/// errors ignored: only the node's survival is judged.
fn throw(addr: SocketAddr, wire: &[u8]) {
    let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = conn.write_all(wire);
    let _ = conn.shutdown(Shutdown::Write);
    let mut sink = [0u8; 65536];
    let mut total = 0;
    while total < 1 << 20 {
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

fn addr(host_port: &str) -> SocketAddr {
    let host_port = host_port
        .trim_start_matches("http://")
        .trim_end_matches('/');
    host_port
        .parse()
        .unwrap_or_else(|e| panic!("{host_port}: {e}"))
}

fn stream_port(rpc: &str) -> u16 {
    let info: Value = ureq::get(&format!("{rpc}/v1"))
        .call()
        .expect("GET /v1")
        .body_mut()
        .read_json()
        .expect("JSON");
    info["stream_port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("no stream_port in {info}"))
}

#[test]
fn garbage_on_every_port_neither_stops_nor_stalls_a_node() {
    let _serial = serial();
    let dir = tempdir("ls-e2e-hostile");
    let layout = init_fast(&dir.path().join("net"), 2, 0);
    let mut nodes = start_nodes(&layout);
    let mut targets: Vec<(String, SocketAddr)> = Vec::new();
    for entry in &layout {
        targets.push((format!("{} consensus", entry.name), addr(&entry.p2p)));
        targets.push((format!("{} RPC", entry.name), addr(&entry.rpc)));
        let rpc = addr(&entry.rpc);
        targets.push((
            format!("{} vault stream", entry.name),
            SocketAddr::new(rpc.ip(), stream_port(&format!("http://{}", entry.rpc))),
        ));
    }
    let start = nodes[0].head();

    // Connections opened and left idle the whole time, on every port.
    let idle: Vec<TcpStream> = targets
        .iter()
        .flat_map(|(_, a)| (0..16).filter_map(move |_| TcpStream::connect(a).ok()))
        .collect();
    assert!(!idle.is_empty());
    // Every payload at every port, one thread per port, several rounds.
    let payloads = payloads();
    std::thread::scope(|s| {
        for (_, target) in &targets {
            let payloads = &payloads;
            s.spawn(move || {
                for _ in 0..3 {
                    for (_, wire) in payloads {
                        throw(*target, wire);
                    }
                }
            });
        }
    });

    // Both validators still run and still finalize together.
    for node in &mut nodes {
        assert!(
            node.exited().is_none(),
            "{} exited after hostile input:\n{}",
            node.name,
            node.log_tail(40)
        );
    }
    wait_until(
        "blocks to keep finalizing on both validators",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || nodes.iter().all(|n| n.head() >= start + 5).then_some(()),
    );
    let alice = &dev_accounts(1)[0];
    let nonce = nodes[1].rpc.nonce(alice.address(), "pending");
    let tx = transfer(alice, nonce, random_address(), 12_345, CHAIN_ID);
    nodes[1]
        .rpc
        .send_raw(&tx.raw)
        .expect("a transfer after the garbage");
    let receipts = wait_receipts(&nodes[0].rpc, &[tx.hash], Duration::from_secs(30));
    assert_eq!(receipts.len(), 1);
    // The vault stream still answers a request, here with the message for a malformed one.
    for (name, target) in targets.iter().filter(|(n, _)| n.ends_with("vault stream")) {
        let answer = stream_ask(target.port(), b"GET /v1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            answer.first(),
            Some(&lightstreams_network::stream::BAD),
            "{name}: {answer:?}"
        );
    }
    drop(idle);
}

/// Anonymous batch uploads that send their headers and then stall, more of them than the node
/// has threads for blocking work (512), leave the node answering other vault requests: an
/// upload's list is read before a thread is taken, and an unsigned one never gets one. And an
/// unsigned `PUT` is refused before its body is read, and requests trickling into the vault
/// stream do not take its serving slots.
#[test]
fn stalled_uploads_hold_no_thread_others_need() {
    let _serial = serial();
    let dir = tempdir("ls-e2e-stalled");
    let layout = init_fast(&dir.path().join("net"), 1, 0);
    let nodes = start_nodes(&layout);
    let rpc = addr(&layout[0].rpc);
    let item = format!("0x{}", "ab".repeat(32));
    let request = format!(
        "PUT /v1/raw/{item}/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n\x01"
    );
    let stalled: Vec<TcpStream> = (0..600)
        .filter_map(|_| {
            let mut conn = TcpStream::connect(rpc).ok()?;
            conn.write_all(request.as_bytes()).ok()?;
            Some(conn)
        })
        .collect();
    assert!(stalled.len() >= 550, "only {} connections", stalled.len());
    // Let the node take them all in.
    std::thread::sleep(Duration::from_secs(2));
    // A vault request that needs a thread for blocking work still gets its answer (the
    // uniform not-found for an unsigned read) well within the 30 s the uploads may stall.
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build(),
    );
    let answer = agent
        .get(format!(
            "http://{rpc}/v1/raw/{item}/chunks/0x{}",
            "cd".repeat(32)
        ))
        .call()
        .expect("an answer while 600 uploads stall");
    assert_eq!(answer.status().as_u16(), 404);
    drop(stalled);

    // A PUT that is not signed by a writer is refused before its body is read: the node holds
    // no 30 MB for it (the answer comes while the body has not been sent at all).
    for path in [
        format!("/v1/raw/{item}/manifests/0x{}", "ef".repeat(32)),
        format!("/v1/peer/{item}/manifests/0x{}", "ef".repeat(32)),
    ] {
        let mut conn = TcpStream::connect(rpc).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        write!(
            conn,
            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Lightstreams-Sig v1 ts=1,nonce=00,sig=0x00\r\nContent-Length: 30000000\r\n\r\n"
        )
        .expect("send headers");
        let mut answer = [0u8; 12];
        conn.read_exact(&mut answer)
            .unwrap_or_else(|e| panic!("{path}: no answer before the body: {e}"));
        assert_eq!(&answer, b"HTTP/1.1 404", "{path}");
    }

    // One host (127.0.0.2) opens more vault-stream connections than the node lets wait at once
    // (1,024), each starting a request and stalling: it keeps at most its share (128), and
    // another host (127.0.0.1) is still answered. (Before the per-address share, the one host
    // took every waiting slot and the node closed everyone else's connections on arrival.)
    raise_open_file_limit();
    let port = stream_port(&format!("http://{}", layout[0].rpc));
    let hostile: std::net::IpAddr = "127.0.0.2".parse().expect("ip");
    let trickling: Vec<TcpStream> = (0..1100)
        .filter_map(|_| {
            let mut conn = connect_from(hostile, SocketAddr::new(rpc.ip(), port)).ok()?;
            conn.write_all(b"LSV1\x07\x07").ok()?;
            Some(conn)
        })
        .collect();
    assert!(
        trickling.len() >= 1050,
        "only {} connections",
        trickling.len()
    );
    std::thread::sleep(Duration::from_secs(1));
    let answer = stream_ask(port, b"GET /v1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        answer.first(),
        Some(&lightstreams_network::stream::BAD),
        "the stream answers another host while one trickles 1,100 requests: {answer:?}"
    );
    let held = trickling.iter().filter(|c| still_open(c)).count();
    assert!(
        (100..=128).contains(&held),
        "the node kept {held} of one host's trickling connections (its share is 128)"
    );
    drop(trickling);
    drop(nodes);
}

/// A TCP connection to `to` from the local address `from` (any of 127.0.0.0/8 is this machine,
/// so tests can play several hosts).
fn connect_from(from: std::net::IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(socket.into())
}

/// Whether the other end has not closed `conn` (nothing to read yet, and no end of stream).
fn still_open(conn: &TcpStream) -> bool {
    conn.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let open =
        matches!((&*conn).read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    conn.set_nonblocking(false).expect("blocking");
    open
}

/// Raise this test process's soft limit on open files to its hard limit (it opens ~1,100
/// connections; the usual soft limit is 1,024).
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed, on this stack frame.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// One host gets only its share of the HTTP API: at most `[rpc] vault_requests_per_address`
/// vault requests in progress at once (default 64; 48 here: each waits on tokio's blocking pool,
/// 512 threads, or holds a response open), the rest answered `429` with `Retry-After`, and at
/// most 256 connections. Another host, here the node's own machine (127.0.0.1, never limited),
/// is answered meanwhile.
#[test]
fn one_host_gets_only_its_share_of_the_http_api() {
    let _serial = serial();
    raise_open_file_limit();
    let dir = tempdir("ls-e2e-share");
    let layout = init_fast(&dir.path().join("net"), 1, 0);
    set_table(
        &layout[0].config,
        "rpc",
        &[("vault_requests_per_address", 48)],
    );
    let nodes = start_nodes(&layout);
    let rpc = addr(&layout[0].rpc);
    let hostile: std::net::IpAddr = "127.0.0.2".parse().expect("ip");
    let item = format!("0x{}", "ab".repeat(32));
    let upload = format!(
        "PUT /v1/raw/{item}/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n\x01"
    );
    let conns: Vec<TcpStream> = (0..400)
        .filter_map(|_| {
            let mut conn = connect_from(hostile, rpc).ok()?;
            conn.write_all(upload.as_bytes()).ok()?;
            Some(conn)
        })
        .collect();
    assert!(conns.len() >= 350, "only {} connections", conns.len());
    std::thread::sleep(Duration::from_secs(2));
    let (mut in_progress, mut told_to_wait) = (0, 0);
    for conn in &conns {
        conn.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut head = [0u8; 12];
        match (&*conn).read(&mut head) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                in_progress += 1
            }
            Ok(12) if &head == b"HTTP/1.1 429" => told_to_wait += 1,
            _ => {}
        }
    }
    assert!(
        (24..=48).contains(&in_progress),
        "{in_progress} of one host's uploads in progress at once (its share is 48)"
    );
    assert!(
        told_to_wait > 0,
        "no upload over the share was answered 429"
    );

    // The same host's next vault request is told when to retry...
    let mut conn = connect_from(hostile, rpc).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    conn.write_all(format!("GET /v1/raw/{item}/info HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .expect("send");
    let mut answer = vec![0u8; 4096];
    let n = conn.read(&mut answer).expect("an answer");
    let answer = String::from_utf8_lossy(&answer[..n]).to_lowercase();
    assert!(
        answer.starts_with("http/1.1 429") && answer.contains("retry-after: 1"),
        "{answer}"
    );
    assert!(answer.contains("too_many_requests"), "{answer}");
    // ... while another host is answered at once (the uniform not-found of an unsigned read).
    let (status, _) = raw_get(
        &format!("http://{rpc}"),
        &[0xab; 32],
        &lightstreams_access::request::ObjectRef::Chunk([0xcd; 32]),
        None,
    );
    assert_eq!(status, 404);
    drop(conns);
    drop(nodes);
}
