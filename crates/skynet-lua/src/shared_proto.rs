//! Function prototypes shared by every Lua state of the process (the Lua
//! 5.4 build). A template state, used only under a lock, loads each file
//! once; `lsharedproto.c` (our addition to the vendored Lua in
//! `third_party/lua-src/lua-5.4.9`) turns the loaded prototype tree into immortal,
//! read-only objects, and any state then gets a new closure of it without
//! parsing or undumping, and without a copy of the code in its own heap.
//! Stands for the reference's shared-prototype patch of Lua behind its code
//! cache. The template state is never closed: shared prototypes live as
//! long as the process.
//!
//! Also the shared names: the strings the standard libraries name their
//! functions and fields with, frozen once, which every service state
//! interns instead of allocating its own (see [`use_shared_names`]).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use mlua::ffi::{self, lua_State};
use parking_lot::Mutex;

extern "C" {
    fn skynetrs_share_proto(l: *mut lua_State, idx: c_int) -> *const c_void;
    fn skynetrs_push_shared(l: *mut lua_State, proto: *const c_void);
    fn skynetrs_share_names(l: *mut lua_State) -> c_int;
    fn skynetrs_use_shared_names(l: *mut lua_State);
}

/// Whether the shared name set exists (built on first use).
static SHARED_NAMES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Builds the shared name set: the short strings of a state that has just
/// opened the standard libraries (function and field names, metamethod
/// names), frozen by `skynetrs_share_names` in a state kept for the rest of
/// the process. False when it could not be built (then states make their
/// own copies, as plain Lua does).
fn build_shared_names() -> bool {
    // SAFETY: a fresh state of our own, opened and then frozen before any
    // other state can use the set (OnceLock orders the two); it is never
    // closed, as the frozen strings live in it.
    unsafe {
        let l = ffi::luaL_newstate();
        if l.is_null() {
            return false;
        }
        ffi::luaL_openlibs(l);
        skynetrs_share_names(l) > 0
    }
}

/// Makes the new state `l` take library names from the shared set instead
/// of allocating its own copies (about 200 strings per service). Call it
/// right after creating the state, before opening any library.
///
/// # Safety
/// `l` is a valid state created by this process's Lua.
pub unsafe fn use_shared_names(l: *mut lua_State) {
    if *SHARED_NAMES.get_or_init(build_shared_names) {
        skynetrs_use_shared_names(l);
    }
}

/// A prototype made immortal and read-only by `skynetrs_share_proto`.
#[derive(Clone, Copy, Debug)]
pub struct SharedProto(*const c_void);

// SAFETY: a shared prototype is never written to nor freed after it was
// shared; states on any thread only read it (push_shared makes a closure
// of it in the calling state).
unsafe impl Send for SharedProto {}
// SAFETY: as above, all access is reading.
unsafe impl Sync for SharedProto {}

/// The state that loads files for sharing.
struct Template(*mut lua_State);

// SAFETY: the template state is only touched while TEMPLATE is locked.
unsafe impl Send for Template {}

static TEMPLATE: Mutex<Option<Template>> = Mutex::new(None);

/// Runs protected in the template state: loads the file whose name is the
/// light userdata argument and shares its prototype (returned as a light
/// userdata).
unsafe extern "C-unwind" fn load_and_share(l: *mut lua_State) -> c_int {
    let path = ffi::lua_touserdata(l, 1) as *const c_char;
    if ffi::luaL_loadfilex(l, path, ptr::null()) != ffi::LUA_OK {
        ffi::lua_error(l);
    }
    let proto = skynetrs_share_proto(l, -1);
    ffi::lua_pushlightuserdata(l, proto as *mut c_void);
    1
}

/// Loads `path` in the template state and shares its prototype. None when
/// it does not load there (missing file, syntax error): the caller then
/// loads it in its own state, which reports the error as usual.
pub fn load(path: &CStr) -> Option<SharedProto> {
    let mut template = TEMPLATE.lock();
    let t = match &*template {
        Some(t) => t.0,
        None => {
            // SAFETY: creates a state we own for the rest of the process.
            let l = unsafe { ffi::luaL_newstate() };
            if l.is_null() {
                return None;
            }
            // Constants that name library functions ("format", "insert",
            // "__index") then are the very strings the library tables are
            // keyed with in every state: found by pointer, not by contents.
            // SAFETY: a fresh state, nothing opened yet.
            unsafe { use_shared_names(l) };
            *template = Some(Template(l));
            l
        }
    };
    // SAFETY: `t` is the template state, used only under the lock we hold;
    // the call is protected and the stack is restored afterwards.
    unsafe {
        let top = ffi::lua_gettop(t);
        ffi::lua_pushcfunction(t, load_and_share);
        ffi::lua_pushlightuserdata(t, path.as_ptr() as *mut c_void);
        let proto = if ffi::lua_pcall(t, 1, 1, 0) == ffi::LUA_OK {
            ffi::lua_touserdata(t, -1) as *const c_void
        } else {
            ptr::null()
        };
        ffi::lua_settop(t, top);
        (!proto.is_null()).then_some(SharedProto(proto))
    }
}

/// Pushes onto `l` a new closure of `proto`, its first upvalue the global
/// table, as `lua_load` gives a main chunk.
///
/// # Safety
/// `l` is a valid Lua state.
pub unsafe fn push(l: *mut lua_State, proto: SharedProto) {
    ffi::luaL_checkstack(l, 2, c"shared prototype".as_ptr());
    skynetrs_push_shared(l, proto.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// Runs the function on top of `l` and returns its string result.
    unsafe fn call_for_string(l: *mut lua_State) -> String {
        assert_eq!(ffi::lua_pcall(l, 0, 1, 0), ffi::LUA_OK);
        let mut len = 0;
        let p = ffi::lua_tolstring(l, -1, &mut len);
        let s =
            String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned();
        ffi::lua_settop(l, 0);
        s
    }

    #[test]
    fn states_share_one_prototype_and_its_strings_match_their_own() {
        let dir = std::env::temp_dir().join(format!("skynet-shared-proto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("chunk.lua");
        // keys made by the shared code and by the state's own code must
        // find each other, in both directions, and as `next` keys
        std::fs::write(
            &file,
            "local t = { alpha = 1 } \
             t[OWN] = 2 \
             local n = 0 \
             for k in next, t do n = n + 1 end \
             local long = string.rep('x', 50) \
             t[long] = 3 \
             return tostring(t.beta) .. ',' .. tostring(t[OWN]) .. ',' .. n .. ',' \
               .. tostring(t[string.rep('x', 50)]) .. ',' .. tostring(SEEN.gamma) \
               .. ',' .. tostring(('gamma') == OWN2) .. ',' .. debug.getinfo(1, 'S').source",
        )
        .unwrap();
        let path = CString::new(file.display().to_string()).unwrap();
        let proto = load(&path).expect("the chunk loads in the template");
        let again = load(&path).expect("loads again");
        assert!(!proto.0.is_null() && !again.0.is_null());
        for _ in 0..3 {
            // SAFETY: fresh states of our own, closed at the end.
            unsafe {
                let l = ffi::luaL_newstate();
                ffi::luaL_openlibs(l);
                // the state's own strings, made before the shared code runs
                ffi::lua_pushstring(l, c"beta".as_ptr());
                ffi::lua_setglobal(l, c"OWN".as_ptr());
                ffi::lua_pushstring(l, c"gamma".as_ptr());
                ffi::lua_setglobal(l, c"OWN2".as_ptr());
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_pushboolean(l, 1);
                ffi::lua_setfield(l, -2, c"gamma".as_ptr());
                ffi::lua_setglobal(l, c"SEEN".as_ptr());
                push(l, proto);
                let got = call_for_string(l);
                assert_eq!(
                    got,
                    format!("2,2,2,3,true,true,@{}", file.display()),
                    "shared strings and the state's own ones are the same keys"
                );
                ffi::lua_gc(l, ffi::LUA_GCCOLLECT, 0);
                ffi::lua_close(l);
            }
        }
        // a file that does not load is not shared
        let missing = CString::new(dir.join("nowhere.lua").display().to_string()).unwrap();
        assert!(load(&missing).is_none());
        std::fs::write(dir.join("bad.lua"), "return {").unwrap();
        let bad = CString::new(dir.join("bad.lua").display().to_string()).unwrap();
        assert!(load(&bad).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
