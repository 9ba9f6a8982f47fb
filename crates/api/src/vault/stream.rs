//! The node's vault stream: peers' batch reads over plain TCP ([`lightstreams_network::stream`]).
//!
//! The same request, checks and frames as `POST /v1/peer/{item}/batch` (the signed `LS-Peer`
//! header over the list, registry membership, freshness, replay, the named reader's READ), with
//! the blob files handed to the kernel (`sendfile`) instead of being read into memory and copied
//! again by the HTTP server. Each connection is served on a blocking thread, at most
//! [`MAX_CONNECTIONS`] at once; a refusal is the one not-found status, after which the node
//! closes the connection.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::Duration;

use lightstreams_access::request::ObjectRef;
use lightstreams_network::{batch, stream};
use lightstreams_vault::ItemId;

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
        let Ok((socket, _)) = accepted else { continue };
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
    loop {
        let request = match stream::read_request(&mut input) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) => return last_word(&mut input, out, &stream::bad(&e)),
        };
        let item = ItemId(request.item);
        let objects = match vault.open_peer_batch(&item, Some(&request.header), &request.list) {
            Ok(objects) => objects,
            Err(Refused::NotFound) => return last_word(&mut input, out, &[stream::NOT_FOUND]),
            Err(Refused::Api(e)) => return last_word(&mut input, out, &stream::bad(&e.message)),
        };
        out.write_all(&[stream::OK])?;
        for object in objects {
            vault.send_object(&item, object.as_ref(), &mut out)?;
        }
    }
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
                    Ok(Some((file, len))) => {
                        out.write_all(&batch::frame_header(Some(len as usize)))?;
                        let sent = send_file(out, file, len)?;
                        if sent != len {
                            return Err(std::io::Error::other(format!(
                                "a blob of {len} bytes shrank to {sent} while being sent"
                            )));
                        }
                        Ok(())
                    }
                    Ok(None) => out.write_all(&batch::frame_header(None)),
                    Err(e) => {
                        tracing::warn!(item = %item, error = %e, "a streamed object is unreadable here");
                        out.write_all(&batch::frame_header(None))
                    }
                }
            }
            Some(object) => {
                let bytes = self.batch_object(item, object);
                out.write_all(&batch::frame_header(bytes.as_ref().map(Vec::len)))?;
                match bytes {
                    Some(bytes) => out.write_all(&bytes),
                    None => Ok(()),
                }
            }
            None => out.write_all(&batch::frame_header(None)),
        }
    }
}
