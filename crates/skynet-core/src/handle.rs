//! The handle registry: which service answers to which 32-bit address, and
//! the local `.name` table. Stands for the reference's `skynet_handle.c`.
//!
//! A handle is the node's harbor id in the high 8 bits and a local id
//! (1..=0xffffff) in the low 24. Local ids come from a rising counter hashed
//! into a power-of-two slot table that doubles when full, so an id is not
//! handed out again until the counter has gone round all 24 bits.

use std::sync::Arc;

use parking_lot::RwLock;

/// A service address.
pub type Handle = u32;

/// Bits of a handle that hold the local id.
pub const HANDLE_MASK: u32 = 0x00ff_ffff;
/// Shift of the harbor id inside a handle.
pub const HANDLE_REMOTE_SHIFT: u32 = 24;

/// Slots and names; `T` is what a handle refers to (a service context).
struct Table<T> {
    next_id: u32,
    slots: Vec<Option<Arc<T>>>,
    /// Sorted by name for binary search.
    names: Vec<(String, Handle)>,
}

/// The registry of one node.
pub struct HandleRegistry<T> {
    harbor: u32,
    table: RwLock<Table<T>>,
}

/// Something that knows its own handle (lets the table rehash on growth)
/// and is given it when registered.
pub trait HasHandle {
    fn handle(&self) -> Handle;
    /// Called by [`HandleRegistry::register`] once, under the registry
    /// lock, before the item can be found.
    fn assign_handle(&self, handle: Handle);
}

impl<T: HasHandle> HandleRegistry<T> {
    /// A registry for a node with harbor id `harbor` (0..=255).
    pub fn new(harbor: u8) -> Self {
        HandleRegistry {
            harbor: (harbor as u32) << HANDLE_REMOTE_SHIFT,
            table: RwLock::new(Table {
                next_id: 1,
                slots: vec![None; 4],
                names: Vec::new(),
            }),
        }
    }

    /// This node's harbor bits (already shifted into place).
    pub fn harbor_bits(&self) -> u32 {
        self.harbor
    }

    /// Stores `item` under a fresh handle, which it is given, and returns
    /// the handle. The item is made by the caller, before: a service
    /// context is fresh memory, often a fresh page, and faulting it in under
    /// the registry lock would stall every other thread's sends.
    pub fn register(&self, item: Arc<T>) -> Handle {
        let mut t = self.table.write();
        loop {
            let size = t.slots.len() as u32;
            let mut id = t.next_id;
            for _ in 0..size {
                if id > HANDLE_MASK {
                    id = 1;
                }
                let slot = (id & (size - 1)) as usize;
                if t.slots[slot].is_none() {
                    let handle = id | self.harbor;
                    item.assign_handle(handle);
                    t.slots[slot] = Some(item);
                    t.next_id = id + 1;
                    return handle;
                }
                id += 1;
            }
            // Every slot is taken: double the table and place everything again.
            let new_size = (size as usize) * 2;
            assert!(new_size - 1 <= HANDLE_MASK as usize, "too many services");
            let mut slots: Vec<Option<Arc<T>>> = vec![None; new_size];
            for item in t.slots.drain(..).flatten() {
                let pos = (item.handle() as usize) & (new_size - 1);
                slots[pos] = Some(item);
            }
            t.slots = slots;
        }
    }

    /// The service at `handle`, if it is alive and local.
    pub fn grab(&self, handle: Handle) -> Option<Arc<T>> {
        let t = self.table.read();
        let slot = (handle as usize) & (t.slots.len() - 1);
        match &t.slots[slot] {
            Some(item) if item.handle() == handle => Some(item.clone()),
            _ => None,
        }
    }

    /// Removes `handle` and every name bound to it; returns what it held.
    pub fn retire(&self, handle: Handle) -> Option<Arc<T>> {
        let mut t = self.table.write();
        let slot = (handle as usize) & (t.slots.len() - 1);
        match &t.slots[slot] {
            Some(item) if item.handle() == handle => {}
            _ => return None,
        }
        let item = t.slots[slot].take();
        t.names.retain(|(_, h)| *h != handle);
        item
    }

    /// Every live handle, in slot order.
    pub fn handles(&self) -> Vec<Handle> {
        let t = self.table.read();
        t.slots.iter().flatten().map(|c| c.handle()).collect()
    }

    /// Number of live services.
    pub fn len(&self) -> usize {
        self.table.read().slots.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The handle bound to local name `name` (without the leading dot).
    pub fn find_name(&self, name: &str) -> Option<Handle> {
        let t = self.table.read();
        t.names
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| t.names[i].1)
    }

    /// Binds `name` to `handle`. Fails (returns false) if the name is taken,
    /// as the reference does.
    pub fn bind_name(&self, name: &str, handle: Handle) -> bool {
        let mut t = self.table.write();
        match t.names.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(_) => false,
            Err(pos) => {
                t.names.insert(pos, (name.to_string(), handle));
                true
            }
        }
    }

    /// All names, sorted.
    pub fn names(&self) -> Vec<(String, Handle)> {
        self.table.read().names.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Item(AtomicU32);
    impl HasHandle for Item {
        fn handle(&self) -> Handle {
            self.0.load(Ordering::Relaxed)
        }
        fn assign_handle(&self, handle: Handle) {
            self.0.store(handle, Ordering::Relaxed);
        }
    }

    fn reg(r: &HandleRegistry<Item>) -> Handle {
        r.register(Arc::new(Item(AtomicU32::new(0))))
    }

    #[test]
    fn handles_rise_and_carry_harbor() {
        let r = HandleRegistry::<Item>::new(3);
        let a = reg(&r);
        let b = reg(&r);
        assert_eq!(a, 0x0300_0001);
        assert_eq!(b, 0x0300_0002);
        assert_eq!(r.grab(a).unwrap().handle(), a);
        assert!(r.grab(0x0300_0009).is_none());
    }

    #[test]
    fn table_grows_and_keeps_everything() {
        let r = HandleRegistry::<Item>::new(0);
        let hs: Vec<_> = (0..1000).map(|_| reg(&r)).collect();
        for (i, h) in hs.iter().enumerate() {
            assert_eq!(*h, i as u32 + 1);
            assert!(r.grab(*h).is_some());
        }
        assert_eq!(r.len(), 1000);
    }

    #[test]
    fn retired_ids_are_not_reused_until_wrap() {
        let r = HandleRegistry::<Item>::new(0);
        let a = reg(&r);
        assert!(r.retire(a).is_some());
        assert!(r.retire(a).is_none());
        assert!(r.grab(a).is_none());
        let b = reg(&r);
        assert_eq!(b, 2);
    }

    #[test]
    fn counter_wraps_past_the_mask_and_skips_zero() {
        let r = HandleRegistry::<Item>::new(0);
        r.table.write().next_id = HANDLE_MASK;
        let a = reg(&r);
        assert_eq!(a, HANDLE_MASK);
        let b = reg(&r);
        assert_eq!(b, 1);
    }

    #[test]
    fn a_registered_item_is_given_its_handle() {
        let r = HandleRegistry::<Item>::new(2);
        let item = Arc::new(Item(AtomicU32::new(0)));
        let h = r.register(item.clone());
        assert_eq!(h, 0x0200_0001);
        assert_eq!(item.handle(), h);
        assert!(Arc::ptr_eq(&r.grab(h).unwrap(), &item));
    }

    #[test]
    fn names_bind_once_and_die_with_the_handle() {
        let r = HandleRegistry::<Item>::new(0);
        let a = reg(&r);
        let b = reg(&r);
        assert!(r.bind_name("zeta", a));
        assert!(r.bind_name("alpha", b));
        assert!(!r.bind_name("alpha", a));
        assert_eq!(r.find_name("alpha"), Some(b));
        assert_eq!(r.find_name("zeta"), Some(a));
        assert_eq!(r.names()[0].0, "alpha");
        r.retire(b);
        assert_eq!(r.find_name("alpha"), None);
        assert_eq!(r.find_name("zeta"), Some(a));
    }
}
