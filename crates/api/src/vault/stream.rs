//! The node's vault stream: batch reads and uploads over plain TCP
//! ([`lightstreams_network::stream`]).
//!
//! A request signed with an `LS-Peer` header is a peer's, checked and answered exactly as
//! `POST /v1/peer/{item}/batch` (registry membership, freshness, replay, the named reader's
//! READ); one signed by an account (`Lightstreams-Sig`) is a client's, checked and answered as
//! `POST /v1/raw/{item}/batch` (READ, and blobs this node lacks fetched from replicas). Each
//! blob file is read into one buffer reused for the connection's life and written to the socket
//! with its frame header in one call, with no HTTP layer in between. (`sendfile` was tried and
//! measured slower on loopback, on tmpfs and ext4 alike: see `BENCHMARKS.md`.) An upload
//! (`LSW1`) is a client's `PUT /v1/raw/{item}/batch`: its list is checked (signature, WRITE)
//! before the node asks for the objects; then each is read whole from the socket into one
//! reused buffer, hashed against its address and written, with no HTTP layer and no hand-over
//! between threads on the way. A connection's first request is read on the async side (a
//! sender trickling bytes holds a task, at most [`MAX_PENDING`] of them); then the connection is
//! served on a blocking thread, at most [`MAX_CONNECTIONS`] at once. One client address holds
//! at most [`MAX_PENDING_PER_IP`] and [`MAX_CONNECTIONS_PER_IP`] of those (`crate::per_ip`), so
//! one host cannot take every slot. A refusal is the one
//! not-found status (or a message naming what is malformed), after which the node closes the
//! connection.
//!
//! The **local stream** ([`spawn_local`]) serves the same requests, with the same code and
//! checks, on a Unix-domain socket for clients on this machine, with its own slots; there each
//! blob the node holds goes over as its open file ([`lightstreams_network::local`]) instead
//! of being read and sent, which leaves the node almost nothing to do per byte of a download
//! (`bench vault`: 0.04 against 0.43 CPU s/GiB over TCP).

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::Duration;

use lightstreams_access::request::ObjectRef;
use lightstreams_network::peer::ForReader;
use lightstreams_network::{batch, stream};
use lightstreams_vault::ItemId;

use super::batch::UploadSource;
use super::{Refused, Vault};
use crate::per_ip::PerIp;

/// Most connections served at once, each on a blocking thread (more are closed once their
/// first request is in).
const MAX_CONNECTIONS: usize = 64;
/// Most connections whose first request is still arriving, each holding only a task and a
/// socket (more are closed on arrival).
const MAX_PENDING: usize = 1024;
/// Most of [`MAX_CONNECTIONS`] one client address may hold (so one host cannot take them all;
/// a node fetching for many readers at once, or a client's lanes, stay well below it).
const MAX_CONNECTIONS_PER_IP: usize = 32;
/// Most of [`MAX_PENDING`] one client address may hold.
const MAX_PENDING_PER_IP: usize = 128;
/// How long a connection may stall, reading or writing.
const STALL: Duration = Duration::from_secs(30);

/// Bind the vault stream at `addr` and serve it on the current runtime for as long as `vault`
/// lives. Returns the bound port.
pub(crate) fn spawn(vault: &Arc<Vault>, addr: SocketAddr) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let vault = Arc::downgrade(vault);
    tokio::spawn(accept(listener, vault, Limits::new()));
    Ok(port)
}

/// Bind the local stream (the same requests over a Unix-domain socket, blobs handed over as
/// files: [`lightstreams_network::local`]) at `path` and serve it for as long as `vault`
/// lives. The socket is readable and writable by this user only. A socket file left by a node
/// that is gone is replaced; one a live node answers on is an error, as is a path too long for
/// a socket. Returns the bound path, absolute.
#[cfg(unix)]
pub(crate) fn spawn_local(
    vault: &Arc<Vault>,
    path: &std::path::Path,
) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::path::absolute(path)?;
    if path.as_os_str().len() > lightstreams_network::local::MAX_PATH {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is longer than the {} bytes a socket path may have",
                path.display(),
                lightstreams_network::local::MAX_PATH
            ),
        ));
    }
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "another node serves {} (is this data directory in use?)",
                path.display()
            ),
        ));
    }
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            std::fs::remove_file(&path)?
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    tokio::spawn(accept_local(
        listener,
        path.clone(),
        Arc::downgrade(vault),
        Limits::new(),
    ));
    Ok(path)
}

/// What bounds the stream's connections: in all, and per client address.
struct Limits {
    serving: Arc<tokio::sync::Semaphore>,
    pending: Arc<tokio::sync::Semaphore>,
    serving_per_ip: Arc<PerIp>,
    pending_per_ip: Arc<PerIp>,
}

impl Limits {
    fn new() -> Self {
        Self {
            serving: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            pending: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING)),
            serving_per_ip: PerIp::new(MAX_CONNECTIONS_PER_IP),
            pending_per_ip: PerIp::new(MAX_PENDING_PER_IP),
        }
    }
}

async fn accept(listener: tokio::net::TcpListener, vault: Weak<Vault>, limits: Limits) {
    loop {
        // Wake up now and then to notice that the server (and with it the vault) is gone.
        let accepted = tokio::time::timeout(Duration::from_secs(1), listener.accept()).await;
        let Some(vault) = vault.upgrade() else { return };
        let Ok(accepted) = accepted else { continue };
        let Ok((socket, from)) = accepted else {
            // Out of descriptors or similar: do not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        admit(socket, from.ip(), vault, &limits);
    }
}

/// Serve the local stream on `listener` (bound at `path`) for as long as the vault lives, then
/// remove the socket file.
#[cfg(unix)]
async fn accept_local(
    listener: tokio::net::UnixListener,
    path: std::path::PathBuf,
    vault: Weak<Vault>,
    limits: Limits,
) {
    loop {
        let accepted = tokio::time::timeout(Duration::from_secs(1), listener.accept()).await;
        let Some(vault) = vault.upgrade() else { break };
        let Ok(accepted) = accepted else { continue };
        let Ok((socket, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        // Every connection comes from this machine: they share the local stream's own slots.
        admit(
            socket,
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            vault,
            &limits,
        );
    }
    let _ = std::fs::remove_file(path);
}

/// Take a new connection in if the limits allow: its first request is read on the async side,
/// then it is served on a blocking thread.
fn admit<A: AsyncConn>(socket: A, from: std::net::IpAddr, vault: Arc<Vault>, limits: &Limits) {
    let Some(waiting_here) = limits.pending_per_ip.try_take(from) else {
        tracing::debug!(%from, "vault stream: too many connections waiting from one address; closing a new one");
        return;
    };
    let Ok(waiting) = limits.pending.clone().try_acquire_owned() else {
        tracing::warn!("vault stream: too many connections waiting; closing a new one");
        return;
    };
    let (permits, per_ip) = (limits.serving.clone(), limits.serving_per_ip.clone());
    tokio::spawn(async move {
        let mut socket = socket;
        // The first request arrives on the async side: a sender trickling bytes holds a
        // task, not one of the threads requests are served on.
        let first = tokio::time::timeout(STALL, first_request(&mut socket))
            .await
            .unwrap_or_else(|_| Err("the request took too long".into()));
        drop((waiting, waiting_here));
        let Some(permit_here) = per_ip.try_take(from) else {
            tracing::debug!(%from, "vault stream: too many connections from one address; closing one");
            return;
        };
        let Ok(permit) = permits.try_acquire_owned() else {
            tracing::warn!("vault stream: too many connections; closing one");
            return;
        };
        let Ok(socket) = socket.into_std() else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = serve_connection(&vault, socket, first) {
                tracing::debug!(error = %e, "vault stream connection ended");
            }
            drop((permit, permit_here));
        });
    });
}

/// A connection as accepted on the async side, before it is handed to a blocking thread.
trait AsyncConn: tokio::io::AsyncRead + Unpin + Send + 'static {
    /// The blocking socket it becomes.
    type Std: Conn;
    fn into_std(self) -> std::io::Result<Self::Std>;
}

impl AsyncConn for tokio::net::TcpStream {
    type Std = TcpStream;
    fn into_std(self) -> std::io::Result<TcpStream> {
        tokio::net::TcpStream::into_std(self)
    }
}

#[cfg(unix)]
impl AsyncConn for tokio::net::UnixStream {
    type Std = std::os::unix::net::UnixStream;
    fn into_std(self) -> std::io::Result<Self::Std> {
        tokio::net::UnixStream::into_std(self)
    }
}

/// A blocking connection of either stream: TCP, or the local stream's Unix-domain socket.
trait Conn: Read + Write + Send + Sized + 'static {
    fn try_clone(&self) -> std::io::Result<Self>;
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()>;
    /// Blocking mode, both timeouts [`STALL`], small writes sent at once.
    fn prepare(&self) -> std::io::Result<()>;
    fn shutdown_write(&self) -> std::io::Result<()>;
    /// Hand a blob's file over rather than its bytes, where the connection can (`None`: it
    /// carries bytes only).
    fn send_file(&self, _file: &std::fs::File, _len: u32) -> Option<std::io::Result<()>> {
        None
    }
}

impl Conn for TcpStream {
    fn try_clone(&self) -> std::io::Result<Self> {
        TcpStream::try_clone(self)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn prepare(&self) -> std::io::Result<()> {
        self.set_nonblocking(false)?;
        TcpStream::set_read_timeout(self, Some(STALL))?;
        self.set_write_timeout(Some(STALL))?;
        self.set_nodelay(true)
    }
    fn shutdown_write(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

#[cfg(unix)]
impl Conn for std::os::unix::net::UnixStream {
    fn try_clone(&self) -> std::io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
    fn prepare(&self) -> std::io::Result<()> {
        self.set_nonblocking(false)?;
        std::os::unix::net::UnixStream::set_read_timeout(self, Some(STALL))?;
        self.set_write_timeout(Some(STALL))
    }
    fn shutdown_write(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
    fn send_file(&self, file: &std::fs::File, len: u32) -> Option<std::io::Result<()>> {
        Some(lightstreams_network::local::send_file(self, file, len))
    }
}

/// Read a connection's first request without blocking a thread: exactly its bytes (the magic,
/// item and header length, the header and list length, the list, each length checked before
/// more is read), then parsed as any request is. `Ok(None)`: closed before a request.
async fn first_request(
    socket: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Result<Option<stream::Request>, String> {
    let mut wire = Vec::new();
    // The magic first, so anything else is answered at once.
    if !read_upto(socket, &mut wire, 4).await? {
        return stream::read_request(&mut &wire[..]);
    }
    if &wire[..] != stream::MAGIC && &wire[..] != stream::WRITE_MAGIC {
        return stream::read_request(&mut &wire[..]);
    }
    if read_upto(socket, &mut wire, 38).await? {
        let header = u16::from_le_bytes([wire[36], wire[37]]) as usize;
        if (1..=stream::MAX_HEADER).contains(&header)
            && read_upto(socket, &mut wire, 38 + header + 4).await?
        {
            let at = 38 + header;
            let prefix = [wire[at], wire[at + 1], wire[at + 2], wire[at + 3]];
            if let Ok(list) = batch::list_len(prefix, "the request") {
                read_upto(socket, &mut wire, at + 4 + list).await?;
            }
        }
    }
    stream::read_request(&mut &wire[..])
}

/// Read from `socket` until `wire` holds `len` bytes: `false` if the peer closed first.
async fn read_upto(
    socket: &mut (impl tokio::io::AsyncRead + Unpin),
    wire: &mut Vec<u8>,
    len: usize,
) -> Result<bool, String> {
    use tokio::io::AsyncReadExt;
    while wire.len() < len {
        let had = wire.len();
        wire.resize(len, 0);
        let n = socket
            .read(&mut wire[had..])
            .await
            .map_err(|e| format!("cannot read a request: {e}"))?;
        wire.truncate(had + n);
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Answer requests on one connection, the first already read (`first`), until the peer
/// closes it or a request is refused.
fn serve_connection<S: Conn>(
    vault: &Vault,
    socket: S,
    first: Result<Option<stream::Request>, String>,
) -> std::io::Result<()> {
    socket.prepare()?;
    let mut input = BufReader::new(socket.try_clone()?);
    let mut out = Answer {
        socket,
        buf: Vec::new(),
    };
    // Uploads read each object into this buffer, reused for the connection's life.
    let mut upload_buf = Vec::new();
    let mut first = Some(first);
    loop {
        // The whole request must arrive within STALL: a sender trickling bytes cannot hold a
        // connection slot (its signature is not checked before the request is complete).
        let read = first.take().unwrap_or_else(|| {
            stream::read_request(&mut Until {
                input: &mut input,
                until: std::time::Instant::now() + STALL,
            })
        });
        let request = match read {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) => return last_word(&mut input, out.socket, &stream::bad(&e)),
        };
        // An upload's objects may each take up to STALL again (Until shortened the timeout).
        input.get_ref().set_read_timeout(Some(STALL))?;
        let item = ItemId(request.item);
        if request.write {
            let upload = match vault.open_upload(&item, Some(&request.header), &request.list) {
                Ok(upload) => upload,
                Err(refused) => return refuse(&mut input, out.socket, refused),
            };
            out.socket.write_all(&[stream::OK])?;
            let mut source = SocketUpload {
                input: &mut input,
                buf: &mut upload_buf,
            };
            match vault.store_upload(&item, &upload, &mut source) {
                Ok(()) => out.socket.write_all(&[stream::OK])?,
                Err(refused) => return refuse(&mut input, out.socket, refused),
            }
            continue;
        }
        // A peer's read (signed by a registered node) or a client's (signed by an account).
        let peer = request
            .header
            .starts_with(lightstreams_network::peer::SCHEME);
        let opened = if peer {
            vault
                .open_peer_batch(&item, Some(&request.header), &request.list)
                .map(Opened::Peer)
        } else {
            vault
                .open_batch(&item, Some(&request.header), &request.list)
                .map(|(reader, addresses)| Opened::Client(reader, addresses))
        };
        let opened = match opened {
            Ok(opened) => opened,
            Err(refused) => return refuse(&mut input, out.socket, refused),
        };
        out.socket.write_all(&[stream::OK])?;
        match opened {
            Opened::Peer(objects) => {
                for object in objects {
                    vault.send_object(&item, object.as_ref(), &mut out)?;
                }
            }
            Opened::Client(reader, addresses) => {
                vault.send_client_batch(&item, &addresses, &reader, &mut out)?
            }
        }
    }
}

/// Answer a refused request (the uniform not-found, or what is malformed) and close.
fn refuse<S: Conn>(input: &mut BufReader<S>, out: S, refused: Refused) -> std::io::Result<()> {
    match refused {
        Refused::NotFound => last_word(input, out, &[stream::NOT_FOUND]),
        Refused::Api(e) => last_word(input, out, &stream::bad(&e.message)),
    }
}

/// An upload's objects read from the connection, each whole into one reused buffer (the
/// socket's read timeout bounds a stall).
struct SocketUpload<'a, S> {
    input: &'a mut BufReader<S>,
    buf: &'a mut Vec<u8>,
}

/// A blocking read past the socket's timeout, said as what it means for an upload.
fn stalled(e: std::io::Error) -> std::io::Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the upload stalled (nothing arrived for {} s)",
                STALL.as_secs()
            ),
        ),
        _ => e,
    }
}

impl<S: Conn> Read for SocketUpload<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf).map_err(stalled)
    }
}

impl<S: Conn> UploadSource for SocketUpload<'_, S> {
    fn piece(&mut self, max: usize) -> std::io::Result<Option<&[u8]>> {
        // A chunk comes whole; a large manifest in pieces of at most PIECE, so a connection
        // never holds more. The buffer only grows; its bytes are overwritten.
        let n = max.clamp(1, batch::PIECE);
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        self.input.read_exact(&mut self.buf[..n]).map_err(stalled)?;
        Ok(Some(&self.buf[..n]))
    }

    /// The next request may follow the last object at once.
    fn end(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

/// A reader that gives up at `until`, however the bytes trickle in.
struct Until<'a, S> {
    input: &'a mut BufReader<S>,
    until: std::time::Instant,
}

impl<S: Conn> Read for Until<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self
            .until
            .checked_duration_since(std::time::Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "the request took too long")
            })?;
        self.input.get_ref().set_read_timeout(Some(left))?;
        self.input.read(buf)
    }
}

/// A batch read whose request passed its checks.
enum Opened {
    /// A peer's: each object if the named reader may fetch it.
    Peer(Vec<Option<ObjectRef>>),
    /// A client's: the reader (with its request) and the blobs named.
    Client(ForReader, Vec<[u8; 32]>),
}

/// The answering side of a connection: its socket, and the buffer every blob sent on it is
/// read into (reused, so it costs one allocation per connection, not one per blob).
struct Answer<S> {
    socket: S,
    buf: Vec<u8>,
}

impl<S: Conn> Answer<S> {
    /// Send one frame from memory (`None`: absent).
    fn frame(&mut self, bytes: Option<&[u8]>) -> std::io::Result<()> {
        stream::write_frame(&mut self.socket, bytes)
    }

    /// Send a blob's frame from its file: the header and the file's first [`batch::PIECE`]
    /// bytes in one write, the rest (a large manifest) piece by piece, so the buffer never
    /// holds more than a piece. A file that shrinks while it is sent breaks the connection (the
    /// reader then asks again or another replica).
    fn blob(&mut self, mut file: std::fs::File, len: u64) -> std::io::Result<()> {
        let Ok(len32) = u32::try_from(len) else {
            return self.frame(None);
        };
        let shrank = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                std::io::Error::other(format!("a blob of {len} bytes shrank while being sent"))
            }
            _ => e,
        };
        // On the local stream the file itself goes over, not its bytes.
        if let Some(sent) = self.socket.send_file(&file, len32) {
            return sent;
        }
        let head = batch::frame_header(Some(len32 as usize));
        let mut left = len32 as usize;
        let mut start = head.len();
        while left > 0 || start > 0 {
            let n = left.min(batch::PIECE);
            // The buffer only grows; every byte sent is overwritten first.
            if self.buf.len() < start + n {
                self.buf.resize(start + n, 0);
            }
            self.buf[..start].copy_from_slice(&head[..start]);
            file.read_exact(&mut self.buf[start..start + n])
                .map_err(shrank)?;
            self.socket.write_all(&self.buf[..start + n])?;
            left -= n;
            start = 0;
        }
        Ok(())
    }
}

/// Send a refusal and close: the sending side first, then whatever the peer still sends is
/// read and dropped for a moment, so the close does not reset the connection before the peer
/// has read the refusal.
fn last_word<S: Conn>(input: &mut BufReader<S>, mut out: S, answer: &[u8]) -> std::io::Result<()> {
    out.write_all(answer)?;
    out.shutdown_write()?;
    input
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))?;
    let _ = std::io::copy(&mut input.take(1 << 20), &mut std::io::sink());
    Ok(())
}

impl Vault {
    /// Send a client's batch: each blob from this node's disk (unverified: the client verifies
    /// each and re-asks a damaged one with a single `GET`), else fetched from the replicas for
    /// `reader`, as over HTTP.
    fn send_client_batch<S: Conn>(
        &self,
        item: &ItemId,
        addresses: &[[u8; 32]],
        reader: &ForReader,
        out: &mut Answer<S>,
    ) -> std::io::Result<()> {
        self.walk_client_batch(
            item,
            addresses,
            reader,
            out,
            |out, address| match self.stores.open_blob(item, address) {
                Ok(Some((file, len))) => out.blob(file, len).map(|()| true),
                _ => Ok(false),
            },
            |out, bytes| out.frame(bytes.as_deref()),
        )
    }

    /// Send one frame of a stream answer: a blob straight from its file, another object from
    /// memory, or absent. A blob file that shrinks while it is sent breaks the connection (the
    /// peer then asks another replica).
    fn send_object<S: Conn>(
        &self,
        item: &ItemId,
        object: Option<&ObjectRef>,
        out: &mut Answer<S>,
    ) -> std::io::Result<()> {
        match object {
            Some(ObjectRef::Chunk(a) | ObjectRef::Manifest(a)) => {
                match self
                    .stores
                    .open_blob(item, &lightstreams_vault::Address(*a))
                {
                    Ok(Some((file, len))) => out.blob(file, len),
                    Ok(None) => out.frame(None),
                    Err(e) => {
                        tracing::warn!(item = %item, error = %e, "a streamed object is unreadable here");
                        out.frame(None)
                    }
                }
            }
            Some(object) => out.frame(self.batch_object(item, object).as_deref()),
            None => out.frame(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blobs go out as frames, a large one in pieces through the same small buffer; in-memory
    /// and absent frames follow on the same connection; a file shorter than said breaks it.
    #[test]
    fn blobs_are_sent_from_files_in_frames() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |name: &str, len: usize| {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).expect("write");
            (path, bytes)
        };
        let (small, small_bytes) = write("small", 1000);
        let (large, large_bytes) = write("large", 2 * batch::PIECE + 7);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reader = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            let mut frames = Vec::new();
            let mut buf = Vec::new();
            for _ in 0..4 {
                let here =
                    batch::read_frame(&mut socket, u64::MAX, &mut buf, |_| {}).expect("frame");
                frames.push(here.then(|| buf.clone()));
            }
            // Nothing of the blob that shrank: the connection just ends.
            let mut rest = Vec::new();
            let _ = socket.read_to_end(&mut rest);
            (frames, rest)
        });
        let mut out = Answer {
            socket: TcpStream::connect(addr).expect("connect"),
            buf: Vec::new(),
        };
        let open = |path: &std::path::Path| std::fs::File::open(path).expect("open");
        out.blob(open(&small), 1000).expect("small");
        out.blob(open(&large), large_bytes.len() as u64)
            .expect("large");
        assert!(out.buf.len() <= batch::PIECE + 5, "one piece at a time");
        out.frame(Some(b"envelope")).expect("memory");
        out.frame(None).expect("absent");
        let err = out.blob(open(&small), 2000).expect_err("shrank");
        assert!(err.to_string().contains("shrank"), "{err}");
        drop(out);
        let (frames, rest) = reader.join().expect("reader");
        assert_eq!(
            frames,
            vec![
                Some(small_bytes.clone()),
                Some(large_bytes),
                Some(b"envelope".to_vec()),
                None
            ]
        );
        assert!(rest.is_empty(), "{} bytes after the frames", rest.len());
    }
}
