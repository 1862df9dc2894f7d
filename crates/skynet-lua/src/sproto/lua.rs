//! The `sproto.core` Lua module: schema objects as light userdata, encode /
//! decode between tables and bytes, pack / unpack, protocol queries, default
//! tables and the 16 process-wide slots `sprotoloader` shares schemas through.
//! Stands for the reference's `lualib-src/sproto/lsproto.c`.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use mlua::ffi;

use super::decode::decode_struct;
use super::encode::{encode_struct, MAX_SIZE};
use super::pack::{max_packed_len, pack, unpack, unpacked_len};
use super::schema::{Field, Sproto, Type, TBOOLEAN, TDOUBLE, TINTEGER, TSTRING, TSTRUCT};
use crate::capi::{arg_error, check_bytes, push_bytes, raise, scratch, set_functions, State};

/// Number of global schema slots (`saveproto` / `loadproto`).
const GLOBAL_SLOTS: usize = 16;

/// Schemas shared between all Lua states of the process.
static GLOBAL: [AtomicPtr<Sproto>; GLOBAL_SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; GLOBAL_SLOTS];

/// The schema behind argument 1, or the reference's argument error.
///
/// # Safety
/// A non-null light userdata argument must come from `newproto` / `loadproto`
/// and not be deleted.
unsafe fn check_sproto<'a>(l: State, what: &std::ffi::CStr) -> &'a Sproto {
    let p = ffi::lua_touserdata(l, 1) as *const Sproto;
    match p.as_ref() {
        Some(sp) => sp,
        None => arg_error(l, 1, what),
    }
}

/// The type behind argument 1, if any.
///
/// # Safety
/// A non-null light userdata argument must come from `querytype` /
/// `protocol` of a live schema.
unsafe fn opt_type<'a>(l: State) -> Option<&'a Type> {
    (ffi::lua_touserdata(l, 1) as *const Type).as_ref()
}

unsafe extern "C-unwind" fn l_newproto(l: State) -> c_int {
    let bin = check_bytes(l, 1);
    match Sproto::create(bin) {
        Some(sp) => {
            ffi::lua_pushlightuserdata(l, Box::into_raw(sp) as *mut c_void);
            1
        }
        None => 0,
    }
}

unsafe extern "C-unwind" fn l_deleteproto(l: State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *mut Sproto;
    if p.is_null() {
        arg_error(l, 1, c"Need a sproto object");
    }
    // SAFETY: the pointer came from Box::into_raw in newproto; the caller
    // (sproto.lua's __gc) deletes each schema once.
    drop(Box::from_raw(p));
    0
}

unsafe extern "C-unwind" fn l_dumpproto(l: State) -> c_int {
    let sp = check_sproto(l, c"Need a sproto_type object");
    print!("{}", sp.dump());
    0
}

unsafe extern "C-unwind" fn l_querytype(l: State) -> c_int {
    let sp = check_sproto(l, c"Need a sproto object");
    let name = check_bytes(l, 2);
    let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
    match sp.type_by_name(name) {
        Some(t) => {
            ffi::lua_pushlightuserdata(l, t as *const Type as *mut c_void);
            1
        }
        None => 0,
    }
}

unsafe extern "C-unwind" fn l_protocol(l: State) -> c_int {
    let sp = check_sproto(l, c"Need a sproto_type object");
    let tag = if ffi::lua_type(l, 2) == ffi::LUA_TNUMBER {
        let tag = ffi::lua_tointegerx(l, 2, std::ptr::null_mut()) as i32;
        let Some(p) = sp.protocol_by_tag(tag) else {
            return 0;
        };
        ffi::lua_pushstring(l, p.name.as_ptr());
        tag
    } else {
        let Some(name) = crate::capi::to_bytes(l, 2) else {
            arg_error(l, 2, c"Should be number or string");
        };
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        let Some(tag) = sp.protocol_tag(name) else {
            return 0;
        };
        ffi::lua_pushinteger(l, ffi::lua_Integer::from(tag));
        tag
    };
    let p = sp.protocol_by_tag(tag);
    let type_ptr = |i: Option<usize>| i.and_then(|i| sp.types.get(i));
    match p.and_then(|p| type_ptr(p.request)) {
        Some(t) => ffi::lua_pushlightuserdata(l, t as *const Type as *mut c_void),
        None => ffi::lua_pushnil(l),
    }
    match p.map(|p| (type_ptr(p.response), p.confirm)) {
        Some((Some(t), _)) => ffi::lua_pushlightuserdata(l, t as *const Type as *mut c_void),
        // A response declared nil: a null light userdata.
        Some((None, confirm)) if confirm != 0 => {
            ffi::lua_pushlightuserdata(l, std::ptr::null_mut())
        }
        _ => ffi::lua_pushnil(l),
    }
    3
}

/// Protected part of `encode`: stack is (type, table, out pointer).
unsafe extern "C-unwind" fn encode_protected(l: State) -> c_int {
    // SAFETY: l_encode passes a live type pointer and a Vec it owns and keeps
    // alive, unaliased, until this protected call returns.
    unsafe {
        let st = &*(ffi::lua_touserdata(l, 1) as *const Type);
        let out = &mut *(ffi::lua_touserdata(l, 3) as *mut Vec<u8>);
        ffi::lua_settop(l, 2);
        encode_struct(l, out, st, 2, 0);
        push_bytes(l, out);
    }
    1
}

unsafe extern "C-unwind" fn l_encode(l: State) -> c_int {
    if opt_type(l).is_none() {
        // A response declared nil encodes to nothing.
        ffi::luaL_checktype(l, 2, ffi::LUA_TNIL);
        push_bytes(l, b"");
        return 1;
    }
    ffi::lua_settop(l, 2);
    let ok = {
        let mut out: Vec<u8> = Vec::with_capacity(256);
        ffi::lua_pushcfunction(l, encode_protected);
        ffi::lua_insert(l, 1);
        ffi::lua_pushlightuserdata(l, &mut out as *mut Vec<u8> as *mut c_void);
        ffi::lua_pcall(l, 3, 1, 0) == ffi::LUA_OK
    };
    if !ok {
        ffi::lua_error(l);
    }
    1
}

/// The bytes of a buffer argument: a string, or a (light) userdata followed
/// by its size. A full userdata's size must fit in it.
///
/// # Safety
/// A light userdata must point to at least the given number of bytes.
unsafe fn check_buffer<'a>(l: State, idx: c_int) -> &'a [u8] {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING => crate::capi::to_bytes(l, idx).unwrap_or(&[]),
        t @ (ffi::LUA_TUSERDATA | ffi::LUA_TLIGHTUSERDATA) => {
            let p = ffi::lua_touserdata(l, idx) as *const u8;
            let size = ffi::luaL_checkinteger(l, idx + 1);
            let fits = size >= 0
                && (t == ffi::LUA_TLIGHTUSERDATA || size as u64 <= ffi::lua_rawlen(l, idx) as u64);
            if !fits || (p.is_null() && size > 0) {
                arg_error(l, idx + 1, c"size out of range");
            }
            if size == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p, size as usize)
            }
        }
        _ => arg_error(l, idx, c"Need a string or userdata"),
    }
}

unsafe extern "C-unwind" fn l_decode(l: State) -> c_int {
    let Some(st) = opt_type(l) else {
        return 0;
    };
    let data = check_buffer(l, 2);
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        ffi::lua_createtable(l, 0, 0);
    }
    let result = ffi::lua_gettop(l);
    match decode_struct(l, st, data, result, 0) {
        Ok(used) => {
            ffi::lua_settop(l, result);
            ffi::lua_pushinteger(l, used as ffi::lua_Integer);
            2
        }
        Err(_) => raise(l, format_args!("decode error")),
    }
}

unsafe extern "C-unwind" fn l_pack(l: State) -> c_int {
    let src = check_buffer(l, 1);
    let cap = max_packed_len(src.len());
    if cap > MAX_SIZE {
        raise(l, format_args!("object is too large (>{MAX_SIZE})"));
    }
    let out = scratch(l, cap);
    let n = pack(src, out);
    push_bytes(l, &out[..n]);
    1
}

unsafe extern "C-unwind" fn l_unpack(l: State) -> c_int {
    let src = check_buffer(l, 1);
    let Some(len) = unpacked_len(src) else {
        raise(l, format_args!("Invalid unpack stream"));
    };
    if len > MAX_SIZE {
        raise(l, format_args!("object is too large (>{MAX_SIZE})"));
    }
    let out = scratch(l, len);
    if unpack(src, out).is_none() {
        raise(l, format_args!("Invalid unpack stream"));
    }
    push_bytes(l, out);
    1
}

/// Reads a global slot index argument.
///
/// # Safety
/// `l` is running a C function.
unsafe fn check_slot(l: State, arg: c_int) -> usize {
    let index = ffi::luaL_optinteger(l, arg, 0) as i32;
    match usize::try_from(index) {
        Ok(i) if i < GLOBAL_SLOTS => i,
        _ => raise(l, format_args!("Invalid global slot index {index}")),
    }
}

unsafe extern "C-unwind" fn l_saveproto(l: State) -> c_int {
    let sp = ffi::lua_touserdata(l, 1) as *mut Sproto;
    let index = check_slot(l, 2);
    // The previous schema stays alive: other states may still use it.
    GLOBAL[index].store(sp, Ordering::Release);
    0
}

unsafe extern "C-unwind" fn l_loadproto(l: State) -> c_int {
    let index = check_slot(l, 1);
    let sp = GLOBAL[index].load(Ordering::Acquire);
    if sp.is_null() {
        raise(l, format_args!("nil sproto at index {index}"));
    }
    ffi::lua_pushlightuserdata(l, sp as *mut c_void);
    1
}

/// Pushes the default value of a field; `in_array` gives a struct's type
/// name rather than a table.
///
/// # Safety
/// `l` has room for three slots.
unsafe fn push_default(l: State, st: &Type, f: &Field, in_array: bool) {
    match f.kind {
        TINTEGER if f.extra != 0 => ffi::lua_pushnumber(l, 0.0),
        TINTEGER => ffi::lua_pushinteger(l, 0),
        TDOUBLE => ffi::lua_pushnumber(l, 0.0),
        TBOOLEAN => ffi::lua_pushboolean(l, 0),
        TSTRING => push_bytes(l, b""),
        TSTRUCT => {
            let name = st.subtype(f).map_or(c"", |t| t.name.as_c_str());
            if in_array {
                ffi::lua_pushstring(l, name.as_ptr());
            } else {
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_pushstring(l, name.as_ptr());
                ffi::lua_setfield(l, -2, c"__type".as_ptr());
            }
        }
        other => raise(l, format_args!("Invalid type {other}")),
    }
}

unsafe extern "C-unwind" fn l_default(l: State) -> c_int {
    let Some(st) = opt_type(l) else {
        arg_error(l, 1, c"Need a sproto_type object");
    };
    ffi::lua_createtable(l, 0, st.fields.len() as c_int);
    for f in &st.fields {
        ffi::lua_pushstring(l, f.name.as_ptr());
        if f.array {
            ffi::lua_createtable(l, 0, 1);
            push_default(l, st, f, true);
            ffi::lua_setfield(l, -2, c"__array".as_ptr());
        } else {
            push_default(l, st, f, false);
        }
        ffi::lua_rawset(l, -3);
    }
    1
}

/// Opens `sproto.core`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_sproto_core(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 12);
    set_functions(
        l,
        &[
            (c"newproto", l_newproto),
            (c"deleteproto", l_deleteproto),
            (c"dumpproto", l_dumpproto),
            (c"querytype", l_querytype),
            (c"decode", l_decode),
            (c"protocol", l_protocol),
            (c"loadproto", l_loadproto),
            (c"saveproto", l_saveproto),
            (c"default", l_default),
            (c"encode", l_encode),
            (c"pack", l_pack),
            (c"unpack", l_unpack),
        ],
    );
    1
}
