//! The local vault stream: the vault stream's requests over a Unix-domain socket, for clients
//! on the node's own machine, with each stored blob handed over as an open, read-only file.
//!
//! On loopback TCP a download pays for the bytes three times beyond the reader's own hashing
//! and decryption: the node reads each blob file into memory, the kernel copies it into the
//! socket and runs TCP on both ends, and the reader copies it out again. On the node's own
//! machine none of that is needed: the node checks the request exactly as on the TCP stream
//! (signature, freshness, replay, READ at the finalised head; one uniform refusal), then passes
//! the descriptor of each blob file it holds (`SCM_RIGHTS`), and the reader reads the
//! ciphertext straight from the page cache into its own buffer and verifies it against its
//! address as it would any frame. This is what HDFS calls short-circuit local reads.
//!
//! On the wire the request and status are the TCP stream's ([`crate::stream`]); frames are
//! [`crate::batch`]'s, plus one kind:
//!
//! ```text
//! FILE (3) | length (u32 LE)     with one descriptor attached (SCM_RIGHTS): read `length`
//!                                bytes from offset 0 of that file
//! ```
//!
//! Objects the node does not hold as a file (envelopes, blobs fetched from replicas for the
//! reader) come as ordinary frames. Uploads send their objects as bytes, as on TCP.
//!
//! # What a descriptor gives away
//! Only what the frame's bytes would: a read-only descriptor of one sealed blob the reader was
//! just found allowed to read (and will verify). It also lets the reader see the file's size
//! and times (`fstat`), and its path under the node's data directory. The node makes the
//! socket readable and writable by its own user only (mode 0600), so other local users use
//! the TCP stream; a process of the node's own user could read the data directory anyway.
//!
//! # Warning
//! A hostile node could pass anything as a descriptor: the reader accepts only a regular file,
//! reads exactly the length announced (no more than it accepts for any object), and verifies
//! what it read against its address before using it.

use std::io::{IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::batch;

/// Frame status: the object is the file whose descriptor rides with the frame header.
pub const FILE: u8 = 3;

/// The longest path a Unix-domain socket can be bound at on Linux (`sun_path` less its NUL).
pub const MAX_PATH: usize = 107;

/// A connection to the local vault stream at `path`, each read or write failing after
/// `timeout`.
pub fn connect(path: &Path, timeout: Duration) -> std::io::Result<UnixStream> {
    let conn = UnixStream::connect(path)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    Ok(conn)
}

/// Send a blob as a [`FILE`] frame: its `len`-byte file's descriptor with the frame header.
pub fn send_file(socket: &UnixStream, file: &std::fs::File, len: u32) -> std::io::Result<()> {
    let mut head = batch::frame_header(Some(len as usize));
    head[0] = FILE;
    let fds = [file.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for a descriptor"));
    }
    // The descriptor rides with the first bytes sent; a header is 5 bytes, and a stream
    // socket takes them whole or not at all unless interrupted.
    let mut sent = 0;
    while sent < head.len() {
        let n = if sent == 0 {
            rustix::net::sendmsg(
                socket,
                &[IoSlice::new(&head)],
                &mut control,
                SendFlags::NOSIGNAL,
            )
        } else {
            rustix::net::send(socket, &head[sent..], SendFlags::NOSIGNAL)
        };
        match n {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// How a frame's object came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Absent.
    Absent,
    /// As bytes on the socket.
    Bytes,
    /// As a file passed with the frame.
    File,
}

/// Read the next frame from a local stream into `buf`: `Ok(true)` when an object follows
/// (then `buf` holds exactly its bytes, read from the socket or from the file passed with it),
/// `Ok(false)` when it is absent. An object longer than `max`, a bad header, a [`FILE`] frame
/// without a regular file, a file shorter than announced or a stream that ends early is an
/// error naming what went wrong.
pub fn read_frame(socket: &UnixStream, max: u64, buf: &mut Vec<u8>) -> Result<bool, String> {
    read_frame_as(socket, max, buf).map(|frame| frame != Frame::Absent)
}

/// [`read_frame`], saying how the object came.
pub fn read_frame_as(socket: &UnixStream, max: u64, buf: &mut Vec<u8>) -> Result<Frame, String> {
    let (mut head, file) = read_header(socket).map_err(|e| e.to_string())?;
    let is_file = head[0] == FILE;
    if is_file {
        head[0] = batch::HERE;
    }
    let Some(len) = batch::parse_frame_header(head)? else {
        buf.clear();
        return Ok(Frame::Absent);
    };
    if u64::from(len) > max {
        return Err(format!("a {len}-byte object (at most {max})"));
    }
    // Every byte is overwritten below; `resize` cuts a longer reused buffer without touching
    // it and zeroes only what a shorter one grows by.
    buf.resize(len as usize, 0);
    if !is_file {
        let mut socket = socket;
        socket.read_exact(buf).map_err(|e| e.to_string())?;
        return Ok(Frame::Bytes);
    }
    let file =
        std::fs::File::from(file.ok_or_else(|| "a file frame came without a file".to_string())?);
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("a file frame came with something other than a file".into());
    }
    file.read_exact_at(buf, 0).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            format!("a file frame's file holds fewer than the {len} bytes announced")
        }
        _ => format!("cannot read a file frame's file: {e}"),
    })?;
    Ok(Frame::File)
}

/// A frame header and the descriptor that came with it, if any (any further descriptors are
/// closed at once).
fn read_header(socket: &UnixStream) -> std::io::Result<([u8; 5], Option<OwnedFd>)> {
    let mut head = [0u8; 5];
    let mut got = 0;
    let mut file = None;
    while got < head.len() {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(&mut head[got..])],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let n = match received {
            Ok(msg) => msg.bytes,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the node sent nothing in time",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                for fd in fds {
                    // Only the first is kept; the rest close as they drop.
                    if file.is_none() {
                        file = Some(fd);
                    }
                }
            }
        }
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok((head, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// File frames carry their file; byte and absent frames travel between them on the same
    /// connection; a frame with something else than a file, or a short file, is refused.
    #[test]
    fn files_travel_with_their_frames() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("blob");
        let bytes: Vec<u8> = (0..100_000).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("write");
        let (node, reader) = UnixStream::pair().expect("pair");
        let file = std::fs::File::open(&path).expect("open");
        send_file(&node, &file, bytes.len() as u32).expect("file");
        crate::stream::write_frame(&mut &node, Some(b"envelope")).expect("bytes");
        crate::stream::write_frame(&mut &node, None).expect("absent");
        send_file(&node, &file, 10).expect("a prefix");
        let mut buf = Vec::new();
        assert_eq!(read_frame_as(&reader, 1 << 20, &mut buf), Ok(Frame::File));
        assert_eq!(buf, bytes);
        assert_eq!(read_frame_as(&reader, 1 << 20, &mut buf), Ok(Frame::Bytes));
        assert_eq!(buf, b"envelope");
        assert_eq!(read_frame(&reader, 1 << 20, &mut buf), Ok(false));
        assert_eq!(read_frame(&reader, 1 << 20, &mut buf), Ok(true));
        assert_eq!(buf, &bytes[..10]);
        // Longer than the reader takes.
        send_file(&node, &file, bytes.len() as u32).expect("file");
        let err = read_frame(&reader, 1000, &mut buf).expect_err("too long");
        assert!(err.contains("at most 1000"), "{err}");

        // Announced longer than the file.
        let (node, reader) = UnixStream::pair().expect("pair");
        send_file(&node, &file, bytes.len() as u32 + 1).expect("file");
        let err = read_frame(&reader, 1 << 20, &mut buf).expect_err("short");
        assert!(err.contains("fewer than"), "{err}");

        // A socket passed as the file.
        let (node, reader) = UnixStream::pair().expect("pair");
        let (other, _keep) = UnixStream::pair().expect("pair");
        let mut head = batch::frame_header(Some(4));
        head[0] = FILE;
        let fds = [other.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        rustix::net::sendmsg(
            &node,
            &[IoSlice::new(&head)],
            &mut control,
            SendFlags::empty(),
        )
        .expect("send");
        let err = read_frame(&reader, 1 << 20, &mut buf).expect_err("not a file");
        assert!(err.contains("other than a file"), "{err}");

        // A file frame with no file.
        let (node, reader) = UnixStream::pair().expect("pair");
        (&node).write_all(&head).expect("send");
        let err = read_frame(&reader, 1 << 20, &mut buf).expect_err("no file");
        assert!(err.contains("without a file"), "{err}");
    }
}
