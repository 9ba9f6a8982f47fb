//! The vault stream: batch reads over a plain TCP connection, between nodes and from clients.
//!
//! Profiles of `lightstreams bench p2p` showed a batch read over HTTP spending about a third of
//! both machines' time on copies that carry no information: the sender read each blob file into
//! memory and hyper copied it again into the socket, the receiver's HTTP client copied every
//! byte out of its own buffer. On this stream the sender writes each object with its frame
//! header in one call and the receiver reads frames straight from the socket, a whole object per
//! read. (The sender once handed blob files to the kernel with `sendfile`; on loopback that was
//! measured slower than reading each file into a reused buffer, see `BENCHMARKS.md`.)
//!
//! The request is an HTTP batch read's, unchanged in meaning: a peer's carries the same
//! `LS-Peer` header as `POST /v1/peer/{item}/batch` (signed over method `POST`, kind `batch` and
//! the BLAKE3 hash of the list), a client's the same account signature as
//! `POST /v1/raw/{item}/batch`; the same list; the same checks on the receiving node, which
//! answers with the same frames. On the wire:
//!
//! ```text
//! request:  "LSV1" | item (32) | header length (u16 LE) | header | list length (u32 LE) | list
//! answer:   OK (1) then one frame per object named (see [`crate::batch`]), after which the
//!           connection takes another request;
//!           NOT_FOUND (0), the uniform refusal, or BAD (2) | length (u16 LE) | message;
//!           either way the node then closes the connection.
//! ```
//!
//! A client's batch upload (`PUT /v1/raw/{item}/batch` over HTTP) travels the same way, with
//! its own first bytes; the list is checked (signature for exactly that list, WRITE) before a
//! byte of any object is sent, so a refused upload costs one round trip:
//!
//! ```text
//! request:  "LSW1" | item (32) | header length (u16 LE) | header | list length (u32 LE) | list
//! answer:   OK (1): send the objects; NOT_FOUND (0) or BAD (2) | ...: refused, the node closes
//! objects:  one frame per object named, every one present
//! answer:   OK (1): all stored, the connection takes another request;
//!           BAD (2) | length | message: none of them kept, the node closes
//! ```
//!
//! A node announces the port of its stream as `stream_port` at `/v1`; the host is its API
//! URL's. Nodes that do not announce one, or cannot be reached on it, are read over HTTP.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first bytes of every read request.
pub const MAGIC: &[u8; 4] = b"LSV1";
/// The first bytes of every upload request.
pub const WRITE_MAGIC: &[u8; 4] = b"LSW1";
/// The frames follow.
pub const OK: u8 = 1;
/// The uniform refusal: not here, not for this reader, not signed, replayed; the node closes.
pub const NOT_FOUND: u8 = 0;
/// A malformed request; a message follows and the node closes.
pub const BAD: u8 = 2;
/// Longest signed header accepted.
pub const MAX_HEADER: usize = 4096;

/// One batch read or upload request as it travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// An upload (`LSW1`: the objects follow once the node accepts the list) rather than a
    /// read (`LSV1`).
    pub write: bool,
    /// The item.
    pub item: [u8; 32],
    /// The `LS-Peer` header value.
    pub header: String,
    /// The list of objects (a [`crate::batch::encode_request`] body).
    pub list: Vec<u8>,
}

/// A connection to the vault stream on `port` of the host in the API URL `url`: connected
/// within 3 s, each read or write failing after `timeout`, small writes sent at once.
pub fn connect(url: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let invalid = |what: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {url}"))
    };
    let uri: ureq::http::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    let host = uri
        .host()
        .ok_or_else(|| invalid("no host in"))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid("no address for"))?;
    let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    conn.set_nodelay(true)?;
    Ok(conn)
}

/// How long a vault stream that could not be connected to is passed over (HTTP is used).
pub const RETRY: Duration = Duration::from_secs(60);

/// Connects to vault streams ([`connect`]), remembering for [`RETRY`] each one (URL, port) that
/// could not be connected to: asked again within that time it fails at once, so a stream port a
/// firewall drops costs one connect timeout, not one per batch. Clones share the memory.
#[derive(Clone, Debug, Default)]
pub struct Dialer {
    unreachable: Arc<Mutex<HashMap<(String, u16), Instant>>>,
}

impl Dialer {
    /// [`connect`], unless the stream failed to connect within the last [`RETRY`].
    pub fn connect(&self, url: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
        let key = (url.to_string(), port);
        {
            let mut unreachable = self.lock();
            unreachable.retain(|_, since| since.elapsed() < RETRY);
            if let Some(since) = unreachable.get(&key) {
                return Err(std::io::Error::other(format!(
                    "not tried: the vault stream at {url} port {port} could not be connected to {} s ago",
                    since.elapsed().as_secs()
                )));
            }
        }
        connect(url, port, timeout).inspect_err(|_| {
            self.lock().insert(key, Instant::now());
        })
    }

    /// Whether the stream is being passed over now.
    pub fn passes_over(&self, url: &str, port: u16) -> bool {
        self.lock()
            .get(&(url.to_string(), port))
            .is_some_and(|since| since.elapsed() < RETRY)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), Instant>> {
        self.unreachable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Write `request` in one go.
pub fn write_request(out: &mut impl Write, request: &Request) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(42 + request.header.len() + request.list.len());
    bytes.extend_from_slice(if request.write { WRITE_MAGIC } else { MAGIC });
    bytes.extend_from_slice(&request.item);
    bytes.extend_from_slice(&(request.header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(request.header.as_bytes());
    bytes.extend_from_slice(&(request.list.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&request.list);
    out.write_all(&bytes)?;
    out.flush()
}

/// Send one frame per object, every one present (an upload's objects, once the node has
/// accepted its list), each header and object handed to the kernel together.
pub fn write_objects(out: &mut impl Write, objects: &[&[u8]]) -> std::io::Result<()> {
    for object in objects {
        write_frame(out, Some(object))?;
    }
    out.flush()
}

/// Send one frame (`None`: absent), its header and bytes handed to the kernel together: on a
/// connection that sends at once (`TCP_NODELAY`) a header written alone would go out as a
/// packet of its own.
pub fn write_frame(out: &mut impl Write, object: Option<&[u8]>) -> std::io::Result<()> {
    use std::io::IoSlice;
    let head = crate::batch::frame_header(object.map(<[u8]>::len));
    let mut parts = [
        IoSlice::new(&head),
        IoSlice::new(object.unwrap_or_default()),
    ];
    let mut left = &mut parts[..];
    while !left.is_empty() {
        match out.write_vectored(left) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read the next request: `Ok(None)` when the asker closed the connection between requests; an
/// error names what is malformed.
pub fn read_request(input: &mut impl Read) -> Result<Option<Request>, String> {
    let mut magic = [0u8; 4];
    match input.read_exact(&mut magic) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("cannot read a request: {e}")),
    }
    let write = match &magic {
        MAGIC => false,
        WRITE_MAGIC => true,
        _ => {
            return Err(
                "not a Lightstreams vault stream request (it starts with LSV1 or LSW1)".into(),
            );
        }
    };
    let cut =
        |what: &str, e: std::io::Error| format!("the request is cut short in its {what}: {e}");
    let mut item = [0u8; 32];
    input.read_exact(&mut item).map_err(|e| cut("item", e))?;
    let mut len = [0u8; 2];
    input.read_exact(&mut len).map_err(|e| cut("header", e))?;
    let len = u16::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_HEADER {
        return Err(format!(
            "a request's header is 1 to {MAX_HEADER} bytes; this one says {len}"
        ));
    }
    let mut header = vec![0u8; len];
    input
        .read_exact(&mut header)
        .map_err(|e| cut("header", e))?;
    let header =
        String::from_utf8(header).map_err(|_| "a request's header is UTF-8 text".to_string())?;
    let list = crate::batch::read_list(input, "the request")?;
    Ok(Some(Request {
        write,
        item,
        header,
        list,
    }))
}

/// The answer to a malformed request.
pub fn bad(message: &str) -> Vec<u8> {
    let message = &message.as_bytes()[..message.len().min(u16::MAX as usize)];
    let mut out = vec![BAD];
    out.extend_from_slice(&(message.len() as u16).to_le_bytes());
    out.extend_from_slice(message);
    out
}

/// Read the status of an answer: `Ok(true)` when frames follow, `Ok(false)` for the uniform
/// refusal, `Err` with the node's message (or why the answer could not be read).
pub fn read_status(input: &mut impl Read) -> Result<bool, String> {
    let mut status = [0u8; 1];
    input
        .read_exact(&mut status)
        .map_err(|e| format!("no answer: {e}"))?;
    match status[0] {
        OK => Ok(true),
        NOT_FOUND => Ok(false),
        BAD => {
            let mut len = [0u8; 2];
            input
                .read_exact(&mut len)
                .map_err(|e| format!("a refusal cut short: {e}"))?;
            let mut message = vec![0u8; u16::from_le_bytes(len) as usize];
            input
                .read_exact(&mut message)
                .map_err(|e| format!("a refusal cut short: {e}"))?;
            Err(format!("refused: {}", String::from_utf8_lossy(&message)))
        }
        other => Err(format!("an answer with unknown status {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Request {
        Request {
            write: false,
            item: [7; 32],
            header: "LS-Peer from=0x01;sig=0x02".into(),
            list: b"chunks/0xab\n".to_vec(),
        }
    }

    #[test]
    fn requests_round_trip_back_to_back() {
        let mut wire = Vec::new();
        let upload = Request {
            write: true,
            ..sample()
        };
        write_request(&mut wire, &sample()).expect("write");
        write_request(&mut wire, &upload).expect("write");
        assert_eq!(&wire[..4], MAGIC);
        let mut input = &wire[..];
        assert_eq!(read_request(&mut input).expect("first"), Some(sample()));
        assert_eq!(read_request(&mut input).expect("second"), Some(upload));
        assert_eq!(read_request(&mut input).expect("closed"), None);
    }

    #[test]
    fn malformed_requests_are_named() {
        let mut wire = Vec::new();
        write_request(&mut wire, &sample()).expect("write");
        let err = read_request(&mut &b"GET / HTTP/1.1\r\n"[..]).expect_err("http");
        assert!(err.contains("LSV1"), "{err}");
        let err = read_request(&mut &wire[..wire.len() - 3]).expect_err("short");
        assert!(err.contains("cut short in its list"), "{err}");
        let mut huge = wire[..36].to_vec();
        huge.extend_from_slice(&u16::MAX.to_le_bytes());
        let err = read_request(&mut &huge[..]).expect_err("huge header");
        assert!(err.contains("header is 1 to"), "{err}");
        let mut empty_list = wire[..38 + sample().header.len()].to_vec();
        empty_list.extend_from_slice(&0u32.to_le_bytes());
        let err = read_request(&mut &empty_list[..]).expect_err("empty list");
        assert!(err.contains("list is 1 to"), "{err}");
    }

    #[test]
    fn objects_go_out_as_frames() {
        let mut wire = Vec::new();
        write_objects(&mut wire, &[b"abc", b"", b"defgh"]).expect("write");
        let mut input = &wire[..];
        let mut buf = Vec::new();
        for expected in [&b"abc"[..], b"", b"defgh"] {
            assert!(crate::batch::read_frame(&mut input, 100, &mut buf, |_| {}).expect("frame"));
            assert_eq!(buf, expected);
        }
        assert!(input.is_empty());
    }

    /// A stream that could not be connected to is not tried again for a while.
    #[test]
    fn an_unreachable_stream_is_passed_over_for_a_while() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let dialer = Dialer::default();
        assert!(dialer.connect(&url, port, Duration::from_secs(5)).is_err());
        assert!(dialer.passes_over(&url, port));
        // Something listens there now, yet the dialer does not try again yet.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind");
        listener.set_nonblocking(true).expect("nonblocking");
        let err = dialer
            .connect(&url, port, Duration::from_secs(5))
            .expect_err("passed over");
        assert!(err.to_string().contains("not tried"), "{err}");
        let err = listener.accept().expect_err("no connection was made");
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        // Once the pause is over it is tried again.
        dialer
            .lock()
            .values_mut()
            .for_each(|since| *since = since.checked_sub(RETRY).unwrap_or(*since));
        assert!(!dialer.passes_over(&url, port));
        assert!(dialer.connect(&url, port, Duration::from_secs(5)).is_ok());
    }

    #[test]
    fn statuses_are_read() {
        assert_eq!(read_status(&mut &[OK][..]), Ok(true));
        assert_eq!(read_status(&mut &[NOT_FOUND][..]), Ok(false));
        let err = read_status(&mut &bad("no such thing")[..]).expect_err("bad");
        assert_eq!(err, "refused: no such thing");
        assert!(read_status(&mut &[9u8][..]).is_err());
        assert!(read_status(&mut &[][..]).is_err());
    }

    /// Anything a connection sends: bytes split at random points, some of them a valid
    /// request's, so the reader is driven both through garbage and deep into real requests.
    fn wire() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let request = (
            any::<bool>(),
            any::<[u8; 32]>(),
            "[ -~]{1,64}",
            proptest::collection::vec(any::<u8>(), 1..64),
        )
            .prop_map(|(write, item, header, list)| {
                let mut wire = Vec::new();
                let request = Request {
                    write,
                    item,
                    header,
                    list,
                };
                write_request(&mut wire, &request).unwrap_or_else(|_| unreachable!("a Vec"));
                wire
            });
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            request.clone(),
            (request, any::<proptest::sample::Index>(), any::<u8>()).prop_map(
                |(mut wire, at, byte)| {
                    let at = at.index(wire.len());
                    wire[at] = byte;
                    wire
                }
            ),
        ]
    }

    proptest::proptest! {
        /// Any request the client can form arrives as itself, even followed by another.
        #[test]
        fn any_request_round_trips(
            write: bool,
            item: [u8; 32],
            header in "\\PC{1,200}",
            list in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..2048),
        ) {
            let request = Request { write, item, header, list };
            let mut wire = Vec::new();
            write_request(&mut wire, &request).expect("write");
            write_request(&mut wire, &sample()).expect("write");
            let mut input = &wire[..];
            proptest::prop_assert_eq!(read_request(&mut input), Ok(Some(request)));
            proptest::prop_assert_eq!(read_request(&mut input), Ok(Some(sample())));
            proptest::prop_assert_eq!(read_request(&mut input), Ok(None));
        }

        /// Whatever arrives is a request, the end of the connection or a named error, never a
        /// panic; a request read is exactly the bytes it consumed, and bytes cut short are
        /// never taken for a request.
        #[test]
        fn any_bytes_are_a_request_or_a_named_error(bytes in wire(), cut: proptest::sample::Index) {
            let mut input = &bytes[..];
            match read_request(&mut input) {
                Ok(Some(request)) => {
                    let mut again = Vec::new();
                    write_request(&mut again, &request).expect("write");
                    proptest::prop_assert_eq!(&again[..], &bytes[..bytes.len() - input.len()]);
                    let short = &again[..cut.index(again.len())];
                    let read = read_request(&mut &short[..]);
                    proptest::prop_assert!(
                        matches!(read, Ok(None) | Err(_)),
                        "a request cut at {} of {} bytes was read", short.len(), again.len()
                    );
                }
                Ok(None) => proptest::prop_assert!(bytes.len() < 4),
                Err(e) => proptest::prop_assert!(!e.is_empty()),
            }
        }

        /// An answer's status from any bytes: frames, the refusal, or an error, never a panic.
        #[test]
        fn any_answer_status_is_read_or_named(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            match read_status(&mut &bytes[..]) {
                Ok(true) => proptest::prop_assert_eq!(bytes[0], OK),
                Ok(false) => proptest::prop_assert_eq!(bytes[0], NOT_FOUND),
                Err(e) => proptest::prop_assert!(!e.is_empty()),
            }
        }
    }
}
