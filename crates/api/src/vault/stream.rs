//! The node's vault stream: batch reads and uploads over plain TCP
//! ([`lightstreams_network::stream`]).
//!
//! A request signed with an `LS-Peer` header is a peer's, checked and answered exactly as
//! `POST /v1/peer/{item}/batch` (registry membership, freshness, replay, the named reader's
//! READ); one signed by an account (`Lightstreams-Sig`) is a client's, checked and answered as
//! `POST /v1/raw/{item}/batch` (READ, and blobs this node lacks fetched from replicas). Blob
//! files are handed to the kernel (`sendfile`) instead of being read into memory and copied
//! again by the HTTP server. An upload (`LSW1`) is a client's `PUT /v1/raw/{item}/batch`: its
//! list is checked (signature, WRITE) before the node asks for the objects; then each is read
//! whole from the socket into one reused buffer, hashed against its address and written, with
//! no HTTP layer and no hand-over between threads on the way. Each connection is served on a
//! blocking thread, at most [`MAX_CONNECTIONS`] at once; a refusal is the one not-found
//! status (or a message naming what is malformed), after which the node closes the connection.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::Duration;

use lightstreams_access::request::ObjectRef;
use lightstreams_network::{batch, stream};
use lightstreams_vault::ItemId;

use super::batch::UploadSource;
use super::{Refused, Vault};

/// Most connections served at once (more are closed on arrival).
const MAX_CONNECTIONS: usize = 64;
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
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(accept(listener, vault, permits));
    Ok(port)
}

async fn accept(
    listener: tokio::net::TcpListener,
    vault: Weak<Vault>,
    permits: Arc<tokio::sync::Semaphore>,
) {
    loop {
        // Wake up now and then to notice that the server (and with it the vault) is gone.
        let accepted = tokio::time::timeout(Duration::from_secs(1), listener.accept()).await;
        let Some(vault) = vault.upgrade() else { return };
        let Ok(accepted) = accepted else { continue };
        let Ok((socket, _)) = accepted else {
            // Out of descriptors or similar: do not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!("vault stream: too many connections; closing a new one");
            continue;
        };
        let Ok(socket) = socket.into_std() else {
            continue;
        };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = serve_connection(&vault, socket) {
                tracing::debug!(error = %e, "vault stream connection ended");
            }
            drop(permit);
        });
    }
}

/// Answer requests on one connection until the peer closes it or a request is refused.
fn serve_connection(vault: &Vault, socket: TcpStream) -> std::io::Result<()> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(STALL))?;
    socket.set_write_timeout(Some(STALL))?;
    socket.set_nodelay(true)?;
    let mut input = BufReader::new(socket.try_clone()?);
    let mut out = socket;
    // Uploads read each object into this buffer, reused for the connection's life.
    let mut upload_buf = Vec::new();
    loop {
        // The whole request must arrive within STALL: a sender trickling bytes cannot hold a
        // connection slot (its signature is not checked before the request is complete).
        let read = stream::read_request(&mut Until {
            input: &mut input,
            until: std::time::Instant::now() + STALL,
        });
        let request = match read {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) => return last_word(&mut input, out, &stream::bad(&e)),
        };
        // An upload's objects may each take up to STALL again (Until shortened the timeout).
        input.get_ref().set_read_timeout(Some(STALL))?;
        let item = ItemId(request.item);
        if request.write {
            let upload = match vault.open_upload(&item, Some(&request.header), &request.list) {
                Ok(upload) => upload,
                Err(refused) => return refuse(&mut input, out, refused),
            };
            out.write_all(&[stream::OK])?;
            let mut source = SocketUpload {
                input: &mut input,
                buf: &mut upload_buf,
            };
            match vault.store_upload(&item, &upload, &mut source) {
                Ok(()) => out.write_all(&[stream::OK])?,
                Err(refused) => return refuse(&mut input, out, refused),
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
            Err(refused) => return refuse(&mut input, out, refused),
        };
        out.write_all(&[stream::OK])?;
        match opened {
            Opened::Peer(objects) => {
                for object in objects {
                    vault.send_object(&item, object.as_ref(), &mut out)?;
                }
            }
            Opened::Client(reader, addresses) => {
                vault.send_client_batch(&item, &addresses, reader, &mut out)?
            }
        }
    }
}

/// Answer a refused request (the uniform not-found, or what is malformed) and close.
fn refuse(
    input: &mut BufReader<TcpStream>,
    out: TcpStream,
    refused: Refused,
) -> std::io::Result<()> {
    match refused {
        Refused::NotFound => last_word(input, out, &[stream::NOT_FOUND]),
        Refused::Api(e) => last_word(input, out, &stream::bad(&e.message)),
    }
}

/// An upload's objects read from the connection, each whole into one reused buffer (the
/// socket's read timeout bounds a stall).
struct SocketUpload<'a> {
    input: &'a mut BufReader<TcpStream>,
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

impl Read for SocketUpload<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf).map_err(stalled)
    }
}

impl UploadSource for SocketUpload<'_> {
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
struct Until<'a> {
    input: &'a mut BufReader<TcpStream>,
    until: std::time::Instant,
}

impl Read for Until<'_> {
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
    /// A client's: the reader and the blobs named.
    Client(alloy::primitives::Address, Vec<[u8; 32]>),
}

/// Send one frame from memory (`None`: absent).
fn write_frame(out: &mut TcpStream, bytes: Option<&[u8]>) -> std::io::Result<()> {
    out.write_all(&batch::frame_header(bytes.map(<[u8]>::len)))?;
    out.write_all(bytes.unwrap_or_default())
}

/// Send a blob's frame from its file. A file that shrinks while it is sent breaks the
/// connection (the reader then asks again or another replica).
fn send_blob(out: &mut TcpStream, file: std::fs::File, len: u64) -> std::io::Result<()> {
    if len > u64::from(u32::MAX) {
        return write_frame(out, None);
    }
    out.write_all(&batch::frame_header(Some(len as usize)))?;
    let sent = send_file(out, file, len)?;
    if sent != len {
        return Err(std::io::Error::other(format!(
            "a blob of {len} bytes shrank to {sent} while being sent"
        )));
    }
    Ok(())
}

/// Send the first `len` bytes of `file` into `out`: by `sendfile` on Linux (the page cache
/// straight to the socket; `std::io::copy` will not, as a file changed while in flight would
/// change the bytes sent, which cannot matter here: blobs are never rewritten in place, and the
/// peer verifies every blob against its address), else by copying. Returns the bytes sent.
fn send_file(out: &mut TcpStream, file: std::fs::File, len: u64) -> std::io::Result<u64> {
    #[cfg(target_os = "linux")]
    {
        let mut sent = 0u64;
        while sent < len {
            let step = usize::try_from(len - sent)
                .unwrap_or(usize::MAX)
                .min(1 << 30);
            match rustix::fs::sendfile(&*out, &file, None, step) {
                Ok(0) => break,
                Ok(n) => sent += n as u64,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(sent)
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::io::copy(&mut file.take(len), out)
    }
}

/// Send a refusal and close: the sending side first, then whatever the peer still sends is
/// read and dropped for a moment, so the close does not reset the connection before the peer
/// has read the refusal.
fn last_word(
    input: &mut BufReader<TcpStream>,
    mut out: TcpStream,
    answer: &[u8],
) -> std::io::Result<()> {
    out.write_all(answer)?;
    out.shutdown(std::net::Shutdown::Write)?;
    input
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))?;
    let _ = std::io::copy(&mut input.take(1 << 20), &mut std::io::sink());
    Ok(())
}

impl Vault {
    /// Send a client's batch: each blob from this node's disk (by `sendfile`, unverified: the
    /// client verifies each and re-asks a damaged one with a single `GET`), else fetched from
    /// the replicas for `reader`, as over HTTP.
    fn send_client_batch(
        &self,
        item: &ItemId,
        addresses: &[[u8; 32]],
        reader: alloy::primitives::Address,
        out: &mut TcpStream,
    ) -> std::io::Result<()> {
        self.walk_client_batch(
            item,
            addresses,
            reader,
            out,
            |out, address| match self.stores.open_blob(item, address) {
                Ok(Some((file, len))) => send_blob(out, file, len).map(|()| true),
                _ => Ok(false),
            },
            |out, bytes| write_frame(out, bytes.as_deref()),
        )
    }

    /// Send one frame of a stream answer: a blob straight from its file, another object from
    /// memory, or absent. A blob file that shrinks while it is sent breaks the connection (the
    /// peer then asks another replica).
    fn send_object(
        &self,
        item: &ItemId,
        object: Option<&ObjectRef>,
        out: &mut TcpStream,
    ) -> std::io::Result<()> {
        match object {
            Some(ObjectRef::Chunk(a) | ObjectRef::Manifest(a)) => {
                match self
                    .stores
                    .open_blob(item, &lightstreams_vault::Address(*a))
                {
                    Ok(Some((file, len))) => send_blob(out, file, len),
                    Ok(None) => write_frame(out, None),
                    Err(e) => {
                        tracing::warn!(item = %item, error = %e, "a streamed object is unreadable here");
                        write_frame(out, None)
                    }
                }
            }
            Some(object) => write_frame(out, self.batch_object(item, object).as_deref()),
            None => write_frame(out, None),
        }
    }
}
