//! The C ABI of skynet.h, for C services loaded through `cpath` and for C
//! code linked into the binary. Stands for the exported functions of
//! `skynet_server.c`, `skynet_error.c`, `skynet_timer.c` and
//! `malloc_hook.c`.
//!
//! A `struct skynet_context *` handed to C is the address of our
//! [`Context`]; it stays valid while the service's instance lives, which
//! covers every call a C service makes about itself. `skynet_error` itself
//! is a small C function (csrc/skynet_error.c) that formats its text and
//! calls [`skynet_rs_log`].

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Arc;

use crate::command::command;
use crate::context::{current_handle, CCallback, Context, ForeignCallback};
use crate::handle::Handle;
use crate::harbor::is_remote;
use crate::node::current_node;
use crate::payload::Payload;

/// Borrows the context behind a C pointer.
///
/// # Safety
/// `ctx` is null or a pointer this module handed out for a live context.
unsafe fn context_ref<'a>(ctx: *mut c_void) -> Option<&'a Context> {
    (ctx as *const Context).as_ref()
}

/// An owning handle on the context behind a C pointer (for APIs that need
/// an `Arc`): found again through the registry by its handle.
///
/// # Safety
/// As for [`context_ref`].
unsafe fn context_arc(ctx: *mut c_void) -> Option<Arc<Context>> {
    let c = context_ref(ctx)?;
    c.node().grab(c.handle()).or_else(|| {
        // A retired context still running its last dispatch: rebuild an Arc
        // from the pointer, which the instance's owner keeps alive.
        let p = ctx as *const Context;
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    })
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn opt_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        CStr::from_ptr(p).to_str().ok()
    }
}

/// Logs `len` bytes of text as `context` (called by the C `skynet_error`).
///
/// # Safety
/// `text` points to `len` readable bytes; `context` as for [`context_ref`].
#[no_mangle]
pub unsafe extern "C" fn skynet_rs_log(context: *mut c_void, text: *const c_char, len: usize) {
    let bytes = if text.is_null() {
        &[][..]
    } else {
        std::slice::from_raw_parts(text as *const u8, len)
    };
    let line = String::from_utf8_lossy(bytes).into_owned();
    match context_ref(context) {
        Some(c) => c.log(line),
        None => {
            if let Some(node) = current_node() {
                node.log(0, line);
            }
        }
    }
}

/// `const char * skynet_command(ctx, cmd, param)`: the result stays valid
/// until the next command on the same context.
///
/// # Safety
/// `context` is a live context pointer; `cmd`/`param` NUL-terminated or null.
#[no_mangle]
pub unsafe extern "C" fn skynet_command(
    context: *mut c_void,
    cmd: *const c_char,
    param: *const c_char,
) -> *const c_char {
    let Some(ctx) = context_arc(context) else {
        return std::ptr::null();
    };
    let Some(cmd) = opt_str(cmd) else {
        return std::ptr::null();
    };
    let result = command(&ctx, cmd, opt_str(param));
    let mut foreign = ctx.foreign().lock();
    match result.and_then(|s| CString::new(s).ok()) {
        Some(s) => {
            let p = s.as_ptr();
            foreign.result = Some(s);
            p
        }
        None => std::ptr::null(),
    }
}

/// `uint32_t skynet_queryname(ctx, name)`.
///
/// # Safety
/// As for [`skynet_command`].
#[no_mangle]
pub unsafe extern "C" fn skynet_queryname(context: *mut c_void, name: *const c_char) -> u32 {
    let Some(name) = opt_str(name) else { return 0 };
    if let Some(hex) = name.strip_prefix(':') {
        return crate::context::parse_hex_handle(hex);
    }
    let ctx = context_ref(context);
    if let Some(local) = name.strip_prefix('.') {
        return match ctx {
            Some(c) => c.node().find_name(local).unwrap_or(0),
            None => current_node().and_then(|n| n.find_name(local)).unwrap_or(0),
        };
    }
    if let Some(c) = ctx {
        c.log(format!("error: Don't support query global name {name}"));
    }
    0
}

/// Turns a C message into a payload: copied unless DONTCOPY is set.
///
/// # Safety
/// `msg` is null or points to `sz` bytes; with DONTCOPY it came from the C
/// allocator and is handed over.
unsafe fn take_payload(ptype: c_int, msg: *mut c_void, sz: usize) -> Payload {
    if msg.is_null() {
        Payload::empty()
    } else if Context::needs_copy(ptype) {
        Payload::from_slice(std::slice::from_raw_parts(msg as *const u8, sz))
    } else {
        Payload::from_raw(msg as *mut u8, sz)
    }
}

/// `int skynet_send(ctx, source, destination, type, session, msg, sz)`.
///
/// # Safety
/// As for [`take_payload`] and [`context_ref`].
#[no_mangle]
pub unsafe extern "C" fn skynet_send(
    context: *mut c_void,
    source: u32,
    destination: u32,
    ptype: c_int,
    session: c_int,
    msg: *mut c_void,
    sz: usize,
) -> c_int {
    let payload = take_payload(ptype, msg, sz);
    match context_ref(context) {
        Some(c) => c.send(source, destination, ptype, session, payload),
        None => -1,
    }
}

/// `int skynet_sendname(ctx, source, destination, type, session, msg, sz)`.
///
/// # Safety
/// As for [`skynet_send`]; `destination` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn skynet_sendname(
    context: *mut c_void,
    source: u32,
    destination: *const c_char,
    ptype: c_int,
    session: c_int,
    msg: *mut c_void,
    sz: usize,
) -> c_int {
    let payload = take_payload(ptype, msg, sz);
    match (context_ref(context), opt_str(destination)) {
        (Some(c), Some(dest)) => c.send_name(source, dest, ptype, session, payload),
        _ => -1,
    }
}

/// `int skynet_isremote(ctx, handle, &harbor)`.
///
/// # Safety
/// `harbor` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn skynet_isremote(
    context: *mut c_void,
    handle: u32,
    harbor: *mut c_int,
) -> c_int {
    let bits = match context_ref(context) {
        Some(c) => c.node().harbor_bits(),
        None => current_node().map(|n| n.harbor_bits()).unwrap_or(0),
    };
    if !harbor.is_null() {
        *harbor = (handle >> crate::handle::HANDLE_REMOTE_SHIFT) as c_int;
    }
    is_remote(handle, bits) as c_int
}

/// `void skynet_callback(ctx, ud, cb)`: sets (or, with a null `cb`, clears)
/// the message callback of a C service.
///
/// # Safety
/// `cb` is null or a function with skynet.h's `skynet_cb` signature.
#[no_mangle]
pub unsafe extern "C" fn skynet_callback(
    context: *mut c_void,
    ud: *mut c_void,
    cb: Option<CCallback>,
) {
    if let Some(c) = context_ref(context) {
        c.foreign().lock().callback = cb.map(|cb| ForeignCallback { cb, ud });
    }
}

/// `uint32_t skynet_current_handle(void)`.
#[no_mangle]
pub extern "C" fn skynet_current_handle() -> Handle {
    current_handle()
}

/// `uint64_t skynet_now(void)`: centiseconds.
#[no_mangle]
pub extern "C" fn skynet_now() -> u64 {
    current_node().map(|n| n.now()).unwrap_or(0)
}

/// `void skynet_debug_memory(const char *info)`: reports to stderr; we do
/// not account C allocations per service.
///
/// # Safety
/// `info` is null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn skynet_debug_memory(info: *const c_char) {
    let info = opt_str(info).unwrap_or("");
    eprintln!("[:{:08x}] {info}", current_handle());
}

/// `skynet_malloc`: the C allocator, which every payload uses.
#[no_mangle]
pub extern "C" fn skynet_malloc(sz: usize) -> *mut c_void {
    // SAFETY: plain malloc.
    unsafe { libc::malloc(sz) }
}

/// `skynet_calloc`.
#[no_mangle]
pub extern "C" fn skynet_calloc(n: usize, sz: usize) -> *mut c_void {
    // SAFETY: plain calloc.
    unsafe { libc::calloc(n, sz) }
}

/// `skynet_realloc`.
///
/// # Safety
/// `p` is null or from this allocator.
#[no_mangle]
pub unsafe extern "C" fn skynet_realloc(p: *mut c_void, sz: usize) -> *mut c_void {
    libc::realloc(p, sz)
}

/// `skynet_free`.
///
/// # Safety
/// `p` is null or from this allocator and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn skynet_free(p: *mut c_void) {
    libc::free(p)
}

/// `skynet_strdup`.
///
/// # Safety
/// `s` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn skynet_strdup(s: *const c_char) -> *mut c_char {
    libc::strdup(s)
}

extern "C" {
    fn skynet_error(context: *mut c_void, fmt: *const c_char, ...);
}

/// The addresses of the exported C API, so that the linker keeps every one
/// of them in the binary (C modules find them with dlsym at run time).
pub fn exported_symbols() -> Vec<*const c_void> {
    let mut symbols = crate::socket::capi::exported_symbols();
    symbols.extend_from_slice(&[
        skynet_error as *const c_void,
        skynet_rs_log as *const c_void,
        skynet_command as *const c_void,
        skynet_queryname as *const c_void,
        skynet_send as *const c_void,
        skynet_sendname as *const c_void,
        skynet_isremote as *const c_void,
        skynet_callback as *const c_void,
        skynet_current_handle as *const c_void,
        skynet_now as *const c_void,
        skynet_debug_memory as *const c_void,
        skynet_malloc as *const c_void,
        skynet_calloc as *const c_void,
        skynet_realloc as *const c_void,
        skynet_free as *const c_void,
        skynet_strdup as *const c_void,
    ]);
    symbols
}
