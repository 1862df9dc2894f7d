//! The socket table: 65536 slots addressed by socket id, the id allocator,
//! the socket states and what each socket keeps (descriptor, owner,
//! flags, write buffer, statistics). Stands for `struct socket`,
//! `reserve_id` and the `SOCKET_TYPE_*` states of `socket_server.c`.
//!
//! Ids come from an increasing counter (wrapping back into the positive
//! range) and live in slot `id % 65536`, so an id is not reused until the
//! counter has gone round and the slot is free again. A slot's state is an
//! atomic, so a free slot can be claimed without its lock (INVALID →
//! RESERVE); everything else about a socket is read and changed under the
//! slot's mutex, on whichever thread holds it. A slot's data is allocated
//! the first time the slot is used and kept for its next sockets.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::handle::Handle;
use crate::socket::address::UdpAddress;
use crate::socket::write_buffer::WriteBuffer;

/// Slots in the table (the reference's `MAX_SOCKET`).
pub const MAX_SOCKET: usize = 1 << 16;

/// First (and smallest) read size of a stream socket.
pub const MIN_READ_BUFFER: usize = 64;

/// The life cycle of a socket (the reference's `SOCKET_TYPE_*`).
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SocketState {
    Invalid = 0,
    /// The id is taken; the socket thread has not set the socket up yet.
    Reserve = 1,
    /// Listening, not yet started (no accepts).
    PListen = 2,
    Listen = 3,
    Connecting = 4,
    Connected = 5,
    /// No more reading (closed by us with data left to send, or EOF).
    HalfCloseRead = 6,
    /// Writing failed; reading may go on.
    HalfCloseWrite = 7,
    /// Accepted, not yet started.
    PAccept = 8,
    /// A descriptor handed in by `bind` (never closed by us).
    Bind = 9,
}

impl SocketState {
    fn from_u8(v: u8) -> SocketState {
        match v {
            1 => SocketState::Reserve,
            2 => SocketState::PListen,
            3 => SocketState::Listen,
            4 => SocketState::Connecting,
            5 => SocketState::Connected,
            6 => SocketState::HalfCloseRead,
            7 => SocketState::HalfCloseWrite,
            8 => SocketState::PAccept,
            9 => SocketState::Bind,
            _ => SocketState::Invalid,
        }
    }
}

/// A socket's descriptor: ours to close, or borrowed (`bind`).
#[derive(Debug)]
pub enum SocketFd {
    Owned(OwnedFd),
    Borrowed(RawFd),
}

impl SocketFd {
    pub fn raw(&self) -> RawFd {
        match self {
            SocketFd::Owned(fd) => fd.as_raw_fd(),
            SocketFd::Borrowed(fd) => *fd,
        }
    }
}

/// Traffic counters; times are the node's centiseconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct SocketStat {
    pub read: u64,
    pub write: u64,
    pub rtime: u64,
    pub wtime: u64,
}

/// Everything about one live socket.
pub struct SocketData {
    /// The socket's id; -1 once the socket is gone.
    pub id: i32,
    /// The service that gets this socket's events.
    pub owner: Handle,
    pub fd: Option<SocketFd>,
    pub protocol: u8,
    /// Registered with the poller.
    pub registered: bool,
    pub reading: bool,
    pub writing: bool,
    /// Closed by its owner; finishes writing, then goes away.
    pub closing: bool,
    /// How much the next read asks for (stream sockets).
    pub read_size: usize,
    /// Default peer of a UDP socket.
    pub udp_peer: Option<UdpAddress>,
    pub wb: WriteBuffer,
    pub stat: SocketStat,
}

impl SocketData {
    fn new() -> SocketData {
        SocketData {
            id: -1,
            owner: 0,
            fd: None,
            protocol: crate::socket::address::PROTOCOL_UNKNOWN,
            registered: false,
            reading: false,
            writing: false,
            closing: false,
            read_size: MIN_READ_BUFFER,
            udp_peer: None,
            wb: WriteBuffer::new(),
            stat: SocketStat::default(),
        }
    }

    fn reset(&mut self, id: i32, owner: Handle, protocol: u8) {
        self.id = id;
        self.owner = owner;
        self.fd = None;
        self.protocol = protocol;
        self.registered = false;
        self.reading = false;
        self.writing = false;
        self.closing = false;
        self.read_size = MIN_READ_BUFFER;
        self.udp_peer = None;
        self.wb.clear();
        self.stat = SocketStat::default();
    }

    /// The raw descriptor (-1 when there is none yet).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, SocketFd::raw)
    }
}

/// One entry of the table.
pub struct Slot {
    state: AtomicU8,
    data: Mutex<Option<Box<SocketData>>>,
}

/// A locked slot.
pub type SlotGuard<'a> = MutexGuard<'a, Option<Box<SocketData>>>;

impl Slot {
    fn new() -> Slot {
        Slot {
            state: AtomicU8::new(SocketState::Invalid as u8),
            data: Mutex::new(None),
        }
    }

    pub fn state(&self) -> SocketState {
        SocketState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Changes the state (only with the slot locked, or when claiming).
    pub fn set_state(&self, s: SocketState) {
        self.state.store(s as u8, Ordering::Release);
    }

    pub fn lock(&self) -> SlotGuard<'_> {
        self.data.lock()
    }
}

/// The socket `id` in a locked slot, if it is still the one there.
pub fn live<'a>(guard: &'a mut SlotGuard<'_>, id: i32) -> Option<&'a mut SocketData> {
    guard.as_deref_mut().filter(|d| d.id == id && id >= 0)
}

pub struct SlotTable {
    slots: Box<[Slot]>,
    next_id: AtomicI32,
}

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable::new()
    }
}

impl SlotTable {
    pub fn new() -> SlotTable {
        SlotTable {
            slots: (0..MAX_SOCKET).map(|_| Slot::new()).collect(),
            next_id: AtomicI32::new(0),
        }
    }

    /// The slot of `id` (whatever socket is in it now).
    pub fn get(&self, id: i32) -> &Slot {
        &self.slots[(id as u32 as usize) % MAX_SOCKET]
    }

    /// Every slot, in table order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Slot> {
        self.slots.iter()
    }

    fn next_id(&self) -> i32 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        if id < 0 {
            self.next_id.fetch_and(0x7fff_ffff, Ordering::SeqCst) & 0x7fff_ffff
        } else {
            id
        }
    }

    /// Claims a free slot for a new socket of `owner`; `None` when every
    /// slot is taken.
    pub fn reserve(&self, owner: Handle, protocol: u8) -> Option<i32> {
        for _ in 0..MAX_SOCKET {
            let id = self.next_id();
            let slot = self.get(id);
            if slot
                .state
                .compare_exchange(
                    SocketState::Invalid as u8,
                    SocketState::Reserve as u8,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                let mut guard = slot.lock();
                guard
                    .get_or_insert_with(|| Box::new(SocketData::new()))
                    .reset(id, owner, protocol);
                return Some(id);
            }
        }
        None
    }

    /// Frees a socket (with its slot locked): its pending output is
    /// dropped, its descriptor closed unless borrowed, and the slot can be
    /// claimed again. Unregistering from the poller is the caller's job.
    pub fn release(&self, data: &mut SocketData) {
        let slot = self.get(data.id);
        data.wb.clear();
        data.fd = None;
        data.registered = false;
        data.reading = false;
        data.writing = false;
        data.closing = false;
        data.udp_peer = None;
        data.id = -1;
        slot.set_state(SocketState::Invalid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_map_to_slots() {
        let t = SlotTable::new();
        let a = t.reserve(1, 0).unwrap();
        let b = t.reserve(1, 0).unwrap();
        assert_eq!((a, b), (1, 2));
        assert_eq!(t.get(a).state(), SocketState::Reserve);
        assert!(std::ptr::eq(t.get(a), t.get(a + MAX_SOCKET as i32)));
        let mut g = t.get(a).lock();
        let d = live(&mut g, a).expect("reserved socket is live");
        assert_eq!((d.owner, d.id), (1, a));
        assert!(live(&mut g, a + MAX_SOCKET as i32).is_none());
    }

    #[test]
    fn a_freed_slot_is_reused_with_a_new_id() {
        let t = SlotTable::new();
        let first = t.reserve(7, 0).unwrap();
        {
            let mut g = t.get(first).lock();
            let d = live(&mut g, first).unwrap();
            t.release(d);
        }
        assert_eq!(t.get(first).state(), SocketState::Invalid);
        assert!(live(&mut t.get(first).lock(), first).is_none());
        // Walk the counter round the table: the next socket in that slot
        // has the old id plus MAX_SOCKET.
        let mut reused = None;
        for _ in 0..MAX_SOCKET {
            let id = t.reserve(7, 0).unwrap();
            if std::ptr::eq(t.get(id), t.get(first)) {
                reused = Some(id);
                break;
            }
        }
        assert_eq!(reused, Some(first + MAX_SOCKET as i32));
    }

    #[test]
    fn a_full_table_refuses_and_busy_slots_are_skipped() {
        let t = SlotTable::new();
        let mut ids = Vec::new();
        for _ in 0..MAX_SOCKET {
            ids.push(t.reserve(1, 0).expect("a free slot"));
        }
        assert_eq!(t.reserve(1, 0), None);
        // Free one slot in the middle: the next id lands there.
        let victim = ids[1000];
        {
            let mut g = t.get(victim).lock();
            let d = live(&mut g, victim).unwrap();
            t.release(d);
        }
        let id = t.reserve(1, 0).unwrap();
        assert!(std::ptr::eq(t.get(id), t.get(victim)));
        assert_ne!(id, victim);
    }

    #[test]
    fn the_counter_wraps_into_positive_ids() {
        let t = SlotTable::new();
        t.next_id.store(i32::MAX - 1, Ordering::SeqCst);
        let a = t.reserve(1, 0).unwrap();
        assert_eq!(a, i32::MAX);
        let b = t.reserve(1, 0).unwrap();
        assert!(b >= 0, "id {b} after wrapping");
        assert!(b < 4, "id {b} restarts near 0");
    }
}
