//! `skynet.multicast.core`: the reference-counted packages that carry one
//! published message to every subscriber of a channel without copying it
//! per subscriber. Stands for the reference's `lualib-src/lua-multicast.c`.
//!
//! The flow (see lualib/skynet/multicast.lua and service/multicastd.lua):
//! a publisher packs its message (`pack`) and sends the package box to
//! multicastd; multicastd sets the package's reference count to the number
//! of subscribers (`bind`) and sends each of them an 8-byte message naming
//! the package; each subscriber reads it (`unpack`) and releases its
//! reference (`close`), the last one frees the message.
//!
//! The reference passes raw pointers around (a `struct mc_package **` box,
//! then the package address in the 8 bytes). Here the 8 bytes are a package
//! number and the packages live in a process-wide table; the box is a real
//! 8-byte C buffer holding that number (so `skynet.tostring(box, 8)` still
//! makes the message body), and boxes are tracked too. A message that names
//! no live package, or a box that is not one, raises an error instead of
//! touching freed memory.
//!
//! Lua API (as the reference):
//! * `pack(msg, sz)` -> box, 8 — takes over a C buffer (or copies a string)
//! * `packremote(msg, sz)` -> box, 8 — copies the buffer
//! * `unpack(msg, 8)` -> pack, data, size — `msg` is a box or a message body
//! * `bind(box, n)` -> pack — n readers will `close` it; frees the box
//! * `close(pack)` — drops one reference, the last frees the data
//! * `remote(box)` -> data, size — takes the data out (the caller owns it)
//! * `nextid(id)` -> the next channel id of the same harbor

use std::collections::{HashMap, HashSet};
use std::ffi::{c_int, c_void};
use std::sync::LazyLock;

use mlua::ffi::{self, lua_State};
use parking_lot::Mutex;
use skynet_core::Payload;

use crate::udata::{raise_here, set_funcs};

/// Size of a box and of the message a subscriber gets.
const BOX_SIZE: usize = 8;

struct Package {
    /// Readers still to `close` it (0 until bound).
    refs: i64,
    data: Payload,
}

struct Packages {
    next_id: u64,
    live: HashMap<u64, Package>,
    /// Addresses of the boxes not yet bound or taken.
    boxes: HashSet<usize>,
}

static PACKAGES: LazyLock<Mutex<Packages>> = LazyLock::new(|| {
    Mutex::new(Packages {
        next_id: 1,
        live: HashMap::new(),
        boxes: HashSet::new(),
    })
});

/// Stores `data` as a new package and returns its new box (a C buffer
/// holding the package number).
fn new_package(data: Payload) -> *mut u8 {
    let mut box_buf = Payload::from_slice(&[0u8; BOX_SIZE]);
    let mut packages = PACKAGES.lock();
    let id = packages.next_id;
    packages.next_id += 1;
    box_buf.as_mut_slice().copy_from_slice(&id.to_ne_bytes());
    let (p, _) = box_buf.into_raw();
    packages.live.insert(id, Package { refs: 0, data });
    packages.boxes.insert(p as usize);
    p
}

/// The package number in the 8 bytes at `p`.
///
/// # Safety
/// `p` points to at least 8 readable bytes.
unsafe fn read_id(p: *const u8) -> u64 {
    u64::from_ne_bytes(std::ptr::read_unaligned(p as *const [u8; BOX_SIZE]))
}

/// Takes a box back: its package number, with the box freed. `None` if `p`
/// is not a live box.
fn take_box(packages: &mut Packages, p: *mut u8) -> Option<u64> {
    if !packages.boxes.remove(&(p as usize)) {
        return None;
    }
    // SAFETY: p is one of our boxes: an 8-byte C buffer we filled.
    let id = unsafe { read_id(p) };
    // SAFETY: the box was made by Payload::into_raw and is released once.
    drop(unsafe { Payload::from_raw(p, BOX_SIZE) });
    Some(id)
}

unsafe fn push_box(l: *mut lua_State, p: *mut u8) -> c_int {
    ffi::lua_pushlightuserdata(l, p as *mut c_void);
    ffi::lua_pushinteger(l, BOX_SIZE as ffi::lua_Integer);
    2
}

/// Reads `(lightuserdata, size)` arguments 1 and 2.
unsafe fn buffer_args(l: *mut lua_State) -> (*mut u8, usize) {
    let sz = ffi::luaL_checkinteger(l, 2);
    if sz < 0 || sz > u32::MAX as ffi::lua_Integer {
        raise_here(l, "Size should be 32bit integer".to_string());
    }
    (ffi::lua_touserdata(l, 1) as *mut u8, sz as usize)
}

/// `pack(msg, sz)` / `pack(str)` -> box, 8.
unsafe extern "C-unwind" fn lpack(l: *mut lua_State) -> c_int {
    if ffi::lua_type(l, 1) == ffi::LUA_TSTRING {
        let bytes = crate::udata::check_bytes(l, 1);
        if bytes.len() > u32::MAX as usize {
            raise_here(l, "Size should be 32bit integer".to_string());
        }
        return push_box(l, new_package(Payload::from_slice(bytes)));
    }
    let (p, sz) = buffer_args(l);
    // SAFETY: as in the reference, the buffer (from skynet.pack) is handed
    // over to the package.
    push_box(l, new_package(Payload::from_raw(p, sz)))
}

/// `packremote(msg, sz)` -> box, 8 (a copy of the buffer).
unsafe extern "C-unwind" fn lpackremote(l: *mut lua_State) -> c_int {
    let (p, sz) = buffer_args(l);
    let data = if p.is_null() || sz == 0 {
        Payload::empty()
    } else {
        // SAFETY: a message buffer of `sz` bytes, valid during the dispatch.
        Payload::from_slice(std::slice::from_raw_parts(p, sz))
    };
    push_box(l, new_package(data))
}

/// `unpack(msg, sz)` -> pack, data, size.
unsafe extern "C-unwind" fn lunpack(l: *mut lua_State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *const u8;
    let sz = ffi::luaL_checkinteger(l, 2);
    if sz != BOX_SIZE as ffi::lua_Integer || p.is_null() {
        raise_here(l, format!("Invalid multicast package size {sz}"));
    }
    let id = read_id(p);
    let found = PACKAGES
        .lock()
        .live
        .get(&id)
        .map(|pack| (pack.data.as_ptr(), pack.data.len()));
    let Some((data, len)) = found else {
        raise_here(l, format!("Invalid multicast package {id}"))
    };
    ffi::lua_pushlightuserdata(l, id as usize as *mut c_void);
    ffi::lua_pushlightuserdata(l, data as *mut c_void);
    ffi::lua_pushinteger(l, len as ffi::lua_Integer);
    3
}

/// `bind(box, n)` -> pack.
unsafe extern "C-unwind" fn lbind(l: *mut lua_State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *mut u8;
    let refs = ffi::luaL_checkinteger(l, 2);
    let outcome = {
        let mut packages = PACKAGES.lock();
        match take_box_if_unbound(&mut packages, p) {
            Err(e) => Err(e),
            Ok(id) => {
                if let Some(pack) = packages.live.get_mut(&id) {
                    pack.refs = refs;
                }
                Ok(id)
            }
        }
    };
    match outcome {
        Ok(id) => {
            ffi::lua_pushlightuserdata(l, id as usize as *mut c_void);
            1
        }
        Err(msg) => raise_here(l, msg.to_string()),
    }
}

/// The package behind a box that was not bound yet; frees the box.
fn take_box_if_unbound(packages: &mut Packages, p: *mut u8) -> Result<u64, &'static str> {
    if !packages.boxes.contains(&(p as usize)) {
        return Err("Invalid multicast package box");
    }
    // SAFETY: p is a live box (8 bytes we wrote).
    let id = unsafe { read_id(p) };
    match packages.live.get(&id) {
        Some(pack) if pack.refs != 0 => Err("Can't bind a multicast package more than once"),
        _ => take_box(packages, p).ok_or("Invalid multicast package box"),
    }
}

/// `close(pack)`.
unsafe extern "C-unwind" fn lclose(l: *mut lua_State) -> c_int {
    let id = ffi::lua_touserdata(l, 1) as usize as u64;
    let outcome = {
        let mut packages = PACKAGES.lock();
        match packages.live.get_mut(&id) {
            None => Err(None),
            Some(pack) => {
                pack.refs -= 1;
                let refs = pack.refs;
                if refs <= 0 {
                    let freed = packages.live.remove(&id);
                    drop(freed);
                }
                if refs < 0 {
                    Err(Some(refs))
                } else {
                    Ok(())
                }
            }
        }
    };
    match outcome {
        Ok(()) => 0,
        Err(Some(refs)) => raise_here(l, format!("Invalid multicast package reference {refs}")),
        Err(None) => raise_here(l, format!("Invalid multicast package {id}")),
    }
}

/// `remote(box)` -> data, size: the data leaves the table, the caller owns
/// it (it is sent on with skynet.redirect).
unsafe extern "C-unwind" fn lremote(l: *mut lua_State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *mut u8;
    let taken = {
        let mut packages = PACKAGES.lock();
        take_box(&mut packages, p).and_then(|id| packages.live.remove(&id))
    };
    let Some(pack) = taken else {
        raise_here(l, "Invalid multicast package box".to_string())
    };
    let (data, len) = pack.data.into_raw();
    ffi::lua_pushlightuserdata(l, data as *mut c_void);
    ffi::lua_pushinteger(l, len as ffi::lua_Integer);
    2
}

/// `nextid(id)`: the next id with the same low byte (the harbor id), kept
/// within 31 bits.
unsafe extern "C-unwind" fn lnextid(l: *mut lua_State) -> c_int {
    let id = ffi::luaL_checkinteger(l, 1) as u32;
    let next = id.wrapping_add(256) & 0x7fff_ffff;
    ffi::lua_pushinteger(l, next as ffi::lua_Integer);
    1
}

/// Opens `skynet.multicast.core`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_multicast_core(l: *mut lua_State) -> c_int {
    ffi::lua_createtable(l, 0, 7);
    set_funcs(
        l,
        &[
            (c"pack", lpack),
            (c"unpack", lunpack),
            (c"bind", lbind),
            (c"close", lclose),
            (c"remote", lremote),
            (c"packremote", lpackremote),
            (c"nextid", lnextid),
        ],
    );
    1
}
