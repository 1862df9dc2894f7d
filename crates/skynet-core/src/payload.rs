//! Message payloads: byte buffers owned by exactly one party at a time.
//!
//! Stands for the reference's `skynet_malloc`'d `data` pointers (skynet.h,
//! `PTYPE_TAG_DONTCOPY`). A payload lives in memory from the C allocator so
//! that a buffer can pass between Rust, Lua (as light userdata) and C
//! services, and any of them may free it with `skynet_free`. A payload is
//! moved from sender to receiver, never copied, and freed when dropped.

use std::ptr::NonNull;

/// An owned, C-allocated byte buffer (possibly empty, then without memory).
pub struct Payload {
    ptr: Option<NonNull<u8>>,
    len: usize,
    cap: usize,
}

// SAFETY: a Payload is the sole owner of its buffer; nothing else aliases it.
unsafe impl Send for Payload {}
// SAFETY: shared access only reads the bytes.
unsafe impl Sync for Payload {}

impl Payload {
    /// An empty payload (a null pointer and size 0, as the reference sends).
    pub const fn empty() -> Payload {
        Payload {
            ptr: None,
            len: 0,
            cap: 0,
        }
    }

    /// An empty payload with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Payload {
        let mut p = Payload::empty();
        p.reserve(cap);
        p
    }

    /// A payload holding a copy of `bytes`.
    /// Like the reference's copy of a sent buffer, a NUL byte follows the
    /// copied bytes (not counted in the length), so C code may read it as a
    /// string.
    pub fn from_slice(bytes: &[u8]) -> Payload {
        let mut p = Payload::with_capacity(bytes.len() + 1);
        p.extend_from_slice(bytes);
        // SAFETY: capacity is at least len + 1, so the byte after the data is
        // inside the buffer.
        unsafe { *p.as_mut_ptr().add(p.len) = 0 };
        p
    }

    /// A payload holding `parts` one after the other, with the NUL after
    /// them that [`Payload::from_slice`] adds (one allocation, no
    /// formatting machinery: a log line on a hot path).
    pub fn concat<S: AsRef<[u8]>>(parts: &[S]) -> Payload {
        let len: usize = parts.iter().map(|p| p.as_ref().len()).sum();
        let mut p = Payload::with_capacity(len + 1);
        for part in parts {
            p.extend_from_slice(part.as_ref());
        }
        // SAFETY: the capacity is at least len + 1, so the byte after the
        // data is inside the buffer.
        unsafe { *p.as_mut_ptr().add(p.len) = 0 };
        p
    }

    /// Takes ownership of a buffer from `skynet_malloc` (or C `malloc`).
    ///
    /// # Safety
    /// `ptr` is null (then `len` is ignored and the payload is empty) or was
    /// returned by the C allocator with at least `len` bytes, is not used by
    /// anyone else afterwards and not freed elsewhere.
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Payload {
        match NonNull::new(ptr) {
            None => Payload::empty(),
            Some(p) => Payload {
                ptr: Some(p),
                len,
                cap: len,
            },
        }
    }

    /// Gives up ownership: the caller must free the pointer with `libc::free`
    /// (`skynet_free`) or hand it back through [`Payload::from_raw`].
    /// An empty payload gives a null pointer.
    pub fn into_raw(self) -> (*mut u8, usize) {
        let me = std::mem::ManuallyDrop::new(self);
        match me.ptr {
            Some(p) => (p.as_ptr(), me.len),
            None => (std::ptr::null_mut(), 0),
        }
    }

    /// The address of the bytes (null when there is no memory).
    pub fn as_ptr(&self) -> *const u8 {
        match self.ptr {
            Some(p) => p.as_ptr(),
            None => std::ptr::null(),
        }
    }

    /// A mutable address of the bytes (null when there is no memory).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match self.ptr {
            Some(p) => p.as_ptr(),
            None => std::ptr::null_mut(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        match self.ptr {
            // SAFETY: ptr holds `len` initialised bytes owned by self.
            Some(p) => unsafe { std::slice::from_raw_parts(p.as_ptr(), self.len) },
            None => &[],
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self.ptr {
            // SAFETY: ptr holds `len` initialised bytes owned exclusively by self.
            Some(p) => unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), self.len) },
            None => &mut [],
        }
    }

    /// Makes room for at least `extra` more bytes.
    pub fn reserve(&mut self, extra: usize) {
        let need = self.len.checked_add(extra).expect("payload size overflow");
        if need <= self.cap {
            return;
        }
        let new_cap = need.max(self.cap.saturating_mul(2)).max(16);
        let old = self.as_mut_ptr();
        // SAFETY: `old` is null or came from the C allocator and is owned by self.
        let p = unsafe { libc::realloc(old.cast(), new_cap) } as *mut u8;
        let p = NonNull::new(p).unwrap_or_else(|| crate::alloc_failure(new_cap));
        self.ptr = Some(p);
        self.cap = new_cap;
    }

    pub fn push(&mut self, b: u8) {
        if self.len == self.cap {
            self.reserve(1);
        }
        // SAFETY: len < cap after reserve, so the byte is inside the buffer.
        unsafe { *self.as_mut_ptr().add(self.len) = b };
        self.len += 1;
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.reserve(bytes.len());
        // SAFETY: reserve made room for bytes.len() more bytes; the regions do
        // not overlap because self owns its buffer exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.as_mut_ptr().add(self.len),
                bytes.len(),
            )
        };
        self.len += bytes.len();
    }

    /// Shortens the payload to `len` bytes (no effect if it is shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        if let Some(p) = self.ptr {
            // SAFETY: the buffer came from the C allocator and self owns it.
            unsafe { libc::free(p.as_ptr().cast()) };
        }
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::empty()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.len)
    }
}

impl From<&[u8]> for Payload {
    fn from(b: &[u8]) -> Self {
        Payload::from_slice(b)
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload::from_slice(s.as_bytes())
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload::from_slice(s.as_bytes())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload::from_slice(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_parts_are_nul_terminated_like_a_copied_slice() {
        let p = Payload::concat(&["LAUNCH ", "snlua", " ", "bootstrap"]);
        assert_eq!(p.as_slice(), b"LAUNCH snlua bootstrap");
        // SAFETY: concat leaves a NUL right after the data.
        assert_eq!(unsafe { *p.as_ptr().add(p.len()) }, 0);
        let empty = Payload::concat(&["", ""]);
        assert_eq!(empty.as_slice(), b"");
        // SAFETY: as above (an empty payload still has its NUL byte).
        assert_eq!(unsafe { *empty.as_ptr() }, 0);
    }

    #[test]
    fn grows_and_round_trips_through_raw() {
        let mut p = Payload::empty();
        assert!(p.as_ptr().is_null());
        for i in 0..1000u32 {
            p.push(i as u8);
        }
        p.extend_from_slice(b"tail");
        assert_eq!(p.len(), 1004);
        let (ptr, len) = p.into_raw();
        // SAFETY: ptr/len came from into_raw just above.
        let q = unsafe { Payload::from_raw(ptr, len) };
        assert_eq!(&q.as_slice()[1000..], b"tail");
        assert_eq!(q.as_slice()[255], 255);
    }

    #[test]
    fn empty_raw_is_null() {
        let (ptr, len) = Payload::empty().into_raw();
        assert!(ptr.is_null());
        assert_eq!(len, 0);
        // SAFETY: null is accepted and means empty.
        let p = unsafe { Payload::from_raw(std::ptr::null_mut(), 7) };
        assert!(p.is_empty());
    }
}
