//! The pending output of one socket: a high and a low priority list of
//! chunks, the byte count still to be written, and the write-buffer
//! warning threshold. Stands for the `wb_list`s, `send_buffer_` and the
//! WARNING logic of `socket_server.c`.
//!
//! Rules (the reference's): the high list is written first; the low list
//! only when the high one is empty. A low chunk that was written in part
//! moves to the (empty) high list, so nothing is ever interleaved inside a
//! chunk. The first warning is due when 1 MiB is pending, the next each
//! time the pending size reaches double the previous threshold; once the
//! buffer drains after a warning, one more "drained" warning is due.

use std::collections::VecDeque;
use std::io;

use crate::payload::Payload;
use crate::socket::address::UdpAddress;

/// Pending bytes that trigger the first WARNING.
pub const WARNING_SIZE: usize = 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Priority {
    High,
    Low,
}

/// One buffer to write, how much of it is gone, and (UDP) where it goes.
pub struct WriteChunk {
    data: Payload,
    offset: usize,
    target: Option<UdpAddress>,
}

impl WriteChunk {
    /// A stream chunk.
    pub fn new(data: Payload) -> WriteChunk {
        WriteChunk {
            data,
            offset: 0,
            target: None,
        }
    }

    /// A stream chunk of which the first `offset` bytes are already out.
    pub fn partly_written(data: Payload, offset: usize) -> WriteChunk {
        let offset = offset.min(data.len());
        WriteChunk {
            data,
            offset,
            target: None,
        }
    }

    /// A datagram for `target` (`None`: the socket had no peer address).
    pub fn datagram(data: Payload, target: Option<UdpAddress>) -> WriteChunk {
        WriteChunk {
            data,
            offset: 0,
            target,
        }
    }

    /// The bytes still to write.
    pub fn pending(&self) -> &[u8] {
        &self.data.as_slice()[self.offset..]
    }

    /// Where a datagram goes.
    pub fn target(&self) -> Option<&UdpAddress> {
        self.target.as_ref()
    }

    fn started(&self) -> bool {
        self.offset > 0
    }
}

/// What one write attempt of a chunk did.
#[derive(Debug)]
pub enum WriteOutcome {
    /// This many bytes were taken (fewer than pending: stop for now).
    Wrote(usize),
    /// The socket cannot take more now.
    Blocked,
    /// The chunk cannot be sent and is dropped (a bad datagram); stop for
    /// now, as the reference does.
    Dropped,
    /// The stream failed.
    Failed(io::Error),
}

/// What a flush left behind.
#[derive(Debug)]
pub enum Flush {
    /// Nothing is pending any more.
    Drained,
    /// Something is still pending.
    Pending,
    /// A write failed; the buffer is left as it was.
    Failed(io::Error),
}

enum ListEnd {
    Emptied,
    Stopped,
    Failed(io::Error),
}

#[derive(Default)]
pub struct WriteBuffer {
    high: VecDeque<WriteChunk>,
    low: VecDeque<WriteChunk>,
    size: usize,
    warn_size: usize,
}

impl WriteBuffer {
    pub fn new() -> WriteBuffer {
        WriteBuffer::default()
    }

    pub fn is_empty(&self) -> bool {
        self.high.is_empty() && self.low.is_empty()
    }

    /// Bytes still to write.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Queues a chunk at the end of the list of `priority`.
    pub fn push(&mut self, priority: Priority, chunk: WriteChunk) {
        self.size += chunk.pending().len();
        match priority {
            Priority::High => self.high.push_back(chunk),
            Priority::Low => self.low.push_back(chunk),
        }
    }

    /// After a push: the pending size in KiB (rounded up) when a WARNING
    /// is due now; the next one is then due at double the threshold.
    pub fn check_warning(&mut self) -> Option<i32> {
        if self.size >= WARNING_SIZE && self.size >= self.warn_size {
            self.warn_size = if self.warn_size == 0 {
                WARNING_SIZE * 2
            } else {
                self.warn_size * 2
            };
            let kib = self.size.div_ceil(1024);
            return Some(i32::try_from(kib).unwrap_or(i32::MAX));
        }
        None
    }

    /// After the buffer drained: whether a warning had been given (then a
    /// "drained" WARNING is due) and the threshold starts over.
    pub fn take_drained_warning(&mut self) -> bool {
        let due = self.warn_size > 0;
        self.warn_size = 0;
        due
    }

    /// Writes as much as `write` takes, high list first.
    pub fn flush(&mut self, mut write: impl FnMut(&WriteChunk) -> WriteOutcome) -> Flush {
        match Self::send_list(&mut self.high, &mut self.size, &mut write) {
            ListEnd::Failed(e) => return Flush::Failed(e),
            ListEnd::Stopped => return Flush::Pending,
            ListEnd::Emptied => {}
        }
        if !self.low.is_empty() {
            match Self::send_list(&mut self.low, &mut self.size, &mut write) {
                ListEnd::Failed(e) => return Flush::Failed(e),
                ListEnd::Stopped => {
                    if self.low.front().is_some_and(WriteChunk::started) {
                        if let Some(chunk) = self.low.pop_front() {
                            self.high.push_back(chunk);
                        }
                    }
                    return Flush::Pending;
                }
                ListEnd::Emptied => {}
            }
        }
        Flush::Drained
    }

    fn send_list(
        list: &mut VecDeque<WriteChunk>,
        size: &mut usize,
        write: &mut impl FnMut(&WriteChunk) -> WriteOutcome,
    ) -> ListEnd {
        while let Some(head) = list.front_mut() {
            let pending = head.pending().len();
            match write(head) {
                WriteOutcome::Wrote(n) => {
                    let n = n.min(pending);
                    *size -= n;
                    if n < pending {
                        head.offset += n;
                        return ListEnd::Stopped;
                    }
                    list.pop_front();
                }
                WriteOutcome::Blocked => return ListEnd::Stopped,
                WriteOutcome::Dropped => {
                    *size -= pending;
                    list.pop_front();
                    return ListEnd::Stopped;
                }
                WriteOutcome::Failed(e) => return ListEnd::Failed(e),
            }
        }
        ListEnd::Emptied
    }

    /// Drops everything pending.
    pub fn clear(&mut self) {
        self.high.clear();
        self.low.clear();
        self.size = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(s: &str) -> WriteChunk {
        WriteChunk::new(Payload::from(s))
    }

    /// A writer that takes at most `limit` bytes in all.
    fn sink<'a>(
        out: &'a mut Vec<u8>,
        limit: &'a mut usize,
    ) -> impl FnMut(&WriteChunk) -> WriteOutcome + 'a {
        move |c: &WriteChunk| {
            if *limit == 0 {
                return WriteOutcome::Blocked;
            }
            let n = c.pending().len().min(*limit);
            *limit -= n;
            out.extend_from_slice(&c.pending()[..n]);
            WriteOutcome::Wrote(n)
        }
    }

    #[test]
    fn high_goes_before_low() {
        let mut wb = WriteBuffer::new();
        wb.push(Priority::Low, chunk("low1"));
        wb.push(Priority::High, chunk("high1"));
        wb.push(Priority::Low, chunk("low2"));
        wb.push(Priority::High, chunk("high2"));
        assert_eq!(wb.size(), 18);
        let mut out = Vec::new();
        let mut limit = usize::MAX;
        assert!(matches!(
            wb.flush(sink(&mut out, &mut limit)),
            Flush::Drained
        ));
        assert_eq!(out, b"high1high2low1low2");
        assert_eq!(wb.size(), 0);
        assert!(wb.is_empty());
    }

    #[test]
    fn a_started_low_chunk_is_finished_before_new_high_data() {
        let mut wb = WriteBuffer::new();
        wb.push(Priority::Low, chunk("abcdef"));
        wb.push(Priority::Low, chunk("ghi"));
        let mut out = Vec::new();
        let mut limit = 2;
        assert!(matches!(
            wb.flush(sink(&mut out, &mut limit)),
            Flush::Pending
        ));
        assert_eq!(out, b"ab");
        // New high data arrives while the low chunk is half written.
        wb.push(Priority::High, chunk("XY"));
        let mut limit = usize::MAX;
        assert!(matches!(
            wb.flush(sink(&mut out, &mut limit)),
            Flush::Drained
        ));
        assert_eq!(out, b"abcdefXYghi");
    }

    #[test]
    fn partial_high_writes_resume_where_they_stopped() {
        let mut wb = WriteBuffer::new();
        wb.push(
            Priority::High,
            WriteChunk::partly_written(Payload::from("0123456789"), 3),
        );
        assert_eq!(wb.size(), 7);
        let mut out = Vec::new();
        for _ in 0..3 {
            let mut limit = 3;
            let _ = wb.flush(sink(&mut out, &mut limit));
        }
        assert_eq!(out, b"3456789");
        assert!(wb.is_empty());
    }

    #[test]
    fn failures_leave_the_buffer_and_drops_stop_the_flush() {
        let mut wb = WriteBuffer::new();
        wb.push(Priority::High, chunk("aa"));
        wb.push(Priority::High, chunk("bb"));
        let r = wb.flush(|_| WriteOutcome::Failed(io::Error::from_raw_os_error(libc::EPIPE)));
        assert!(matches!(r, Flush::Failed(_)));
        assert_eq!(wb.size(), 4);
        let r = wb.flush(|_| WriteOutcome::Dropped);
        assert!(matches!(r, Flush::Pending));
        assert_eq!(wb.size(), 2);
        wb.clear();
        assert!(wb.is_empty() && wb.size() == 0);
    }

    #[test]
    fn warnings_at_one_mib_and_each_doubling() {
        let mut wb = WriteBuffer::new();
        let block = vec![0u8; 256 * 1024];
        let mut warnings = Vec::new();
        for _ in 0..20 {
            wb.push(Priority::High, WriteChunk::new(Payload::from(&block[..])));
            if let Some(k) = wb.check_warning() {
                warnings.push(k);
            }
        }
        // 5 MiB pending in 256 KiB steps: warned at 1, 2 and 4 MiB.
        assert_eq!(warnings, vec![1024, 2048, 4096]);
        let mut sent = 0usize;
        let r = wb.flush(|c| {
            sent += c.pending().len();
            WriteOutcome::Wrote(c.pending().len())
        });
        assert!(matches!(r, Flush::Drained));
        assert_eq!(sent, 5 * 1024 * 1024);
        assert!(wb.take_drained_warning());
        assert!(!wb.take_drained_warning());
        // The threshold started over.
        for _ in 0..4 {
            wb.push(Priority::High, WriteChunk::new(Payload::from(&block[..])));
        }
        assert_eq!(wb.check_warning(), Some(1024));
    }

    #[test]
    fn warning_size_rounds_up_to_kib() {
        let mut wb = WriteBuffer::new();
        wb.push(
            Priority::High,
            WriteChunk::new(Payload::from(&vec![1u8; WARNING_SIZE + 1][..])),
        );
        assert_eq!(wb.check_warning(), Some(1025));
    }
}
