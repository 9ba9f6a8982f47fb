//! Chunk buffers handed back for reuse.
//!
//! Sealing and reading move every chunk through a buffer of about [`CHUNK_SIZE`] bytes. Freshly
//! allocated, each buffer costs the allocator a trip to the kernel for zeroed pages (the
//! allocator returns large freed blocks to the system); a profile of `lightstreams bench vault`
//! showed the sealing thread spending longer zeroing new pages than encrypting. Threads that
//! are done with a chunk give its buffer back here, and the next chunk takes it.

use crate::format::CHUNK_SIZE;

/// A small pool of chunk-sized buffers shared between the threads of one transfer.
#[derive(Debug, Default)]
pub struct Spares {
    buffers: parking_lot::Mutex<Vec<Vec<u8>>>,
}

impl Spares {
    /// At most this many buffers wait here; more given back are freed (a transfer keeps only
    /// a few dozen chunks in flight, so this is never the limit that matters).
    pub const KEEP: usize = 64;

    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// A buffer with room for a sealed chunk (its contents are unspecified: callers overwrite
    /// or clear it), from the pool if one waits there.
    pub fn take(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK_SIZE + 16))
    }

    /// Give `buffer` back for the next chunk. Buffers much smaller than a chunk are not kept.
    pub fn give(&self, buffer: Vec<u8>) {
        if buffer.capacity() < CHUNK_SIZE {
            return;
        }
        let mut buffers = self.buffers.lock();
        if buffers.len() < Self::KEEP {
            buffers.push(buffer);
        }
    }

    /// How many buffers wait in the pool.
    pub fn len(&self) -> usize {
        self.buffers.lock().len()
    }

    /// Whether no buffer waits in the pool.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_small_ones_are_dropped() {
        let spares = Spares::new();
        let first = spares.take();
        assert!(first.capacity() >= CHUNK_SIZE + 16);
        let ptr = first.as_ptr();
        spares.give(first);
        assert_eq!(spares.len(), 1);
        let again = spares.take();
        assert_eq!(again.as_ptr(), ptr, "the same buffer is handed out again");
        assert!(spares.is_empty());
        spares.give(Vec::with_capacity(10));
        assert!(spares.is_empty(), "a small buffer is not kept");
        for _ in 0..Spares::KEEP + 5 {
            spares.give(Vec::with_capacity(CHUNK_SIZE));
        }
        assert_eq!(spares.len(), Spares::KEEP);
    }
}
