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
    /// Handles given out whose item is still being made (see
    /// [`HandleRegistry::register_with`]); their slots count as taken.
    reserved: Vec<Handle>,
    /// Sorted by name for binary search.
    names: Vec<(String, Handle)>,
}

/// The registry of one node.
pub struct HandleRegistry<T> {
    harbor: u32,
    table: RwLock<Table<T>>,
}

/// Something that knows its own handle (lets the table rehash on growth).
pub trait HasHandle {
    fn handle(&self) -> Handle;
}

impl<T: HasHandle> HandleRegistry<T> {
    /// A registry for a node with harbor id `harbor` (0..=255).
    pub fn new(harbor: u8) -> Self {
        HandleRegistry {
            harbor: (harbor as u32) << HANDLE_REMOTE_SHIFT,
            table: RwLock::new(Table {
                next_id: 1,
                slots: vec![None; 4],
                reserved: Vec::new(),
                names: Vec::new(),
            }),
        }
    }

    /// This node's harbor bits (already shifted into place).
    pub fn harbor_bits(&self) -> u32 {
        self.harbor
    }

    /// Stores `make(handle)` under a fresh handle and returns the handle.
    /// `make` runs without the registry lock (a service context is fresh
    /// memory, often a fresh page: faulting it in under the lock would stall
    /// every other thread's sends); the handle is reserved meanwhile, and
    /// nobody finds it before it is stored.
    pub fn register_with(&self, make: impl FnOnce(Handle) -> Arc<T>) -> (Handle, Arc<T>) {
        let handle = self.reserve();
        let item = make(handle);
        let mut t = self.table.write();
        t.reserved.retain(|h| *h != handle);
        let slot = (handle as usize) & (t.slots.len() - 1);
        debug_assert!(t.slots[slot].is_none(), "a reserved slot was taken");
        t.slots[slot] = Some(item.clone());
        (handle, item)
    }

    /// A fresh handle whose slot is free and now reserved.
    fn reserve(&self) -> Handle {
        let mut t = self.table.write();
        loop {
            let size = t.slots.len() as u32;
            let mut id = t.next_id;
            for _ in 0..size {
                if id > HANDLE_MASK {
                    id = 1;
                }
                let slot = id & (size - 1);
                let free = t.slots[slot as usize].is_none()
                    && !t.reserved.iter().any(|r| r & (size - 1) == slot);
                if free {
                    let handle = id | self.harbor;
                    t.reserved.push(handle);
                    t.next_id = id + 1;
                    return handle;
                }
                id += 1;
            }
            // Every slot is taken: double the table and place everything
            // again. Reserved handles need no moving: distinct modulo the
            // old size, they stay distinct modulo the new one.
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

    struct Item(Handle);
    impl HasHandle for Item {
        fn handle(&self) -> Handle {
            self.0
        }
    }

    fn reg(r: &HandleRegistry<Item>) -> Handle {
        r.register_with(|h| Arc::new(Item(h))).0
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
    fn a_handle_being_made_is_reserved_and_not_found_until_stored() {
        let r = HandleRegistry::<Item>::new(0);
        let (outer, _) = r.register_with(|h| {
            // While this item is made: not found, and the next registration
            // (which also grows the table past its first 4 slots) gets
            // other handles.
            assert!(r.grab(h).is_none());
            let inner: Vec<_> = (0..6).map(|_| reg(&r)).collect();
            assert!(!inner.contains(&h));
            assert!(r.grab(h).is_none());
            Arc::new(Item(h))
        });
        assert_eq!(outer, 1);
        assert_eq!(r.grab(outer).unwrap().handle(), outer);
        assert_eq!(r.len(), 7);
        for h in 1..=7 {
            assert_eq!(r.grab(h).unwrap().handle(), h);
        }
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
