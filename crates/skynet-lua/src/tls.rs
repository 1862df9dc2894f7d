//! The `ltls.c` and `ltls.init.c` native modules: TLS for http.tlshelper
//! (https in http.httpc / httpd services, wss in http.websocket), built on
//! rustls with in-memory I/O. Stands for the reference's
//! lualib-src/ltls.c, which binds OpenSSL.
//!
//! `ltls.init.c` has `constructor()` / `destructor()`; bootstrap calls the
//! constructor when the config says `enablessl = true`, and `require
//! "ltls.c"` refuses to load before that, as in the reference. rustls needs
//! no global set-up, so the pair only switches that flag.
//!
//! `ltls.c` has `newctx()` -> context with `set_cert(certfile, keyfile)` and
//! `set_ciphers(list)` (see [`config`]), and `newtls(method, ctx [,
//! hostname])` -> TLS object (method "client" or "server"; see
//! [`session`]) with `handshake([records])` -> records to send or nothing,
//! `finished()`, `read([records])` -> plain string, `write([plain])` ->
//! records string, `set_ext_host_name(name)` -> 1 / 0, and `close()`.
//! Errors are raised with the caller's position, like `luaL_error`.
//!
//! One difference in timing: when a handshake step completes the handshake
//! and leaves records to send (a TLS 1.3 client's Finished, a server's
//! session tickets), `handshake` returns them at once; the reference keeps
//! them in its output buffer until the next `write`. http.tlshelper sends
//! what `handshake` returns, so the peer sees the same bytes, sooner.

mod config;
mod session;

use std::ffi::{c_int, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use mlua::ffi;

use crate::capi::{push_bytes, raise, raise_msg, set_functions, to_bytes, Msg, State};
use crate::udata::{metatable, new_udata};
use config::SslCtx;
use session::Session;

/// Set by `ltls.init.c`'s constructor, cleared by its destructor.
static TLS_IS_INIT: AtomicBool = AtomicBool::new(false);

const CTX_METATABLE: &CStr = c"_TLS_SSLCTX_METATABLE_";
const TLS_METATABLE: &CStr = c"_TLS_CONTEXT_METATABLE_";

/// The context at `idx`; raises "need sslctx" for anything else.
///
/// # Safety
/// `l` is running a C function; may raise.
unsafe fn check_ctx<'a>(l: State, idx: c_int) -> &'a mut SslCtx {
    let slot = ffi::luaL_testudata(l, idx, CTX_METATABLE.as_ptr()) as *mut Option<SslCtx>;
    match slot.as_mut().and_then(Option::as_mut) {
        Some(ctx) => ctx,
        None => raise(l, format_args!("need sslctx")),
    }
}

/// The TLS object at `idx`, open or closed; raises "need tls context".
///
/// # Safety
/// As [`check_ctx`].
unsafe fn any_session<'a>(l: State, idx: c_int) -> &'a mut Session {
    let slot = ffi::luaL_testudata(l, idx, TLS_METATABLE.as_ptr()) as *mut Option<Session>;
    match slot.as_mut().and_then(Option::as_mut) {
        Some(tls) => tls,
        None => raise(l, format_args!("need tls context")),
    }
}

/// The open TLS object at `idx`; raises "context is closed" after `close`.
///
/// # Safety
/// As [`check_ctx`].
unsafe fn check_session<'a>(l: State, idx: c_int) -> &'a mut Session {
    let tls = any_session(l, idx);
    if tls.is_closed() {
        raise(l, format_args!("context is closed"));
    }
    tls
}

/// Gives the value of `result`, or raises its error text like `luaL_error`
/// (the text is copied to a fixed buffer and freed before the jump).
///
/// # Safety
/// `l` is running a C function; the calling frames own nothing with a
/// destructor.
unsafe fn or_raise<T>(l: State, result: Result<T, String>) -> T {
    match result {
        Ok(value) => value,
        Err(text) => {
            let mut m = Msg::new();
            m.push_bytes(text.as_bytes());
            drop(text);
            raise_msg(l, 1, &m)
        }
    }
}

/// The optional string argument `idx` as bytes (nil, none or a non-string
/// count as empty, as `lua_tolstring` giving NULL does in the reference).
///
/// # Safety
/// `l` is running a C function.
unsafe fn opt_data<'a>(l: State, idx: c_int) -> &'a [u8] {
    to_bytes(l, idx).unwrap_or(&[])
}

unsafe extern "C-unwind" fn ctx_set_cert(l: State) -> c_int {
    let ctx = check_ctx(l, 1);
    let Some(certfile) = to_bytes(l, 2) else {
        raise(l, format_args!("need certfile"))
    };
    let Some(keyfile) = to_bytes(l, 3) else {
        raise(l, format_args!("need private key"))
    };
    let certfile = Path::new(OsStr::from_bytes(certfile));
    let keyfile = Path::new(OsStr::from_bytes(keyfile));
    or_raise(l, ctx.set_cert(certfile, keyfile));
    0
}

unsafe extern "C-unwind" fn ctx_set_ciphers(l: State) -> c_int {
    let ctx = check_ctx(l, 1);
    let Some(list) = to_bytes(l, 2) else {
        raise(l, format_args!("need cipher list"))
    };
    or_raise(l, ctx.set_ciphers(list));
    0
}

unsafe extern "C-unwind" fn l_newctx(l: State) -> c_int {
    metatable::<SslCtx>(
        l,
        CTX_METATABLE,
        &[
            (c"set_ciphers", ctx_set_ciphers),
            (c"set_cert", ctx_set_cert),
        ],
    );
    ffi::lua_pop(l, 1);
    let slot = new_udata::<SslCtx>(l, CTX_METATABLE, 0);
    *slot = Some(SslCtx::default());
    1
}

unsafe extern "C-unwind" fn l_newtls(l: State) -> c_int {
    let mut len = 0usize;
    let method = ffi::luaL_optlstring(l, 1, c"nil".as_ptr(), &mut len);
    let method = std::slice::from_raw_parts(method as *const u8, len);
    let ctx = check_ctx(l, 2);
    let client = match method {
        b"client" => true,
        b"server" => false,
        _ => {
            let mut m = Msg::new();
            m.push_bytes(b"invalid method:");
            m.push_bytes(method);
            m.push_bytes(b" e.g[server, client]");
            raise_msg(l, 1, &m)
        }
    };
    let hostname = if client && ffi::lua_isnoneornil(l, 3) == 0 {
        let mut n = 0usize;
        let p = ffi::luaL_checklstring(l, 3, &mut n);
        Some(std::slice::from_raw_parts(p as *const u8, n))
    } else {
        None
    };
    metatable::<Session>(
        l,
        TLS_METATABLE,
        &[
            (c"close", tls_close),
            (c"finished", tls_finished),
            (c"handshake", tls_handshake),
            (c"read", tls_read),
            (c"write", tls_write),
            (c"set_ext_host_name", tls_set_ext_host_name),
        ],
    );
    ffi::lua_pop(l, 1);
    let slot = new_udata::<Session>(l, TLS_METATABLE, 1);
    let made = if client {
        ctx.client_config().map(|c| Session::client(c, hostname))
    } else {
        ctx.server_config().and_then(Session::server)
    };
    *slot = Some(or_raise(l, made));
    // The TLS object keeps its context alive, as in the reference.
    ffi::lua_pushvalue(l, 2);
    ffi::lua_setiuservalue(l, -2, 1);
    1
}

unsafe extern "C-unwind" fn tls_close(l: State) -> c_int {
    any_session(l, 1).close();
    0
}

unsafe extern "C-unwind" fn tls_finished(l: State) -> c_int {
    let done = check_session(l, 1).finished();
    ffi::lua_pushboolean(l, c_int::from(done));
    1
}

unsafe extern "C-unwind" fn tls_handshake(l: State) -> c_int {
    let tls = check_session(l, 1);
    or_raise(l, tls.handshake(opt_data(l, 2)));
    if tls.outgoing().is_empty() {
        return 0;
    }
    push_bytes(l, tls.outgoing());
    tls.clear_outgoing();
    1
}

unsafe extern "C-unwind" fn tls_read(l: State) -> c_int {
    let tls = check_session(l, 1);
    or_raise(l, tls.read(opt_data(l, 2)));
    push_bytes(l, tls.plain());
    tls.clear_plain();
    1
}

unsafe extern "C-unwind" fn tls_write(l: State) -> c_int {
    let tls = check_session(l, 1);
    or_raise(l, tls.write(opt_data(l, 2)));
    push_bytes(l, tls.outgoing());
    tls.clear_outgoing();
    1
}

unsafe extern "C-unwind" fn tls_set_ext_host_name(l: State) -> c_int {
    let tls = check_session(l, 1);
    let accepted = tls.set_host_name(to_bytes(l, 2));
    ffi::lua_pushinteger(l, ffi::lua_Integer::from(accepted));
    1
}

/// Opens `ltls.c`; raises unless `ltls.init.c`'s constructor ran.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_ltls_c(l: State) -> c_int {
    if !TLS_IS_INIT.load(Ordering::Acquire) {
        raise(
            l,
            format_args!("ltls need init, Put enablessl = true in you config file."),
        );
    }
    ffi::lua_createtable(l, 0, 2);
    set_functions(l, &[(c"newctx", l_newctx), (c"newtls", l_newtls)]);
    1
}

unsafe extern "C-unwind" fn init_constructor(_l: State) -> c_int {
    TLS_IS_INIT.store(true, Ordering::Release);
    0
}

unsafe extern "C-unwind" fn init_destructor(_l: State) -> c_int {
    TLS_IS_INIT.store(false, Ordering::Release);
    0
}

/// Opens `ltls.init.c`: `constructor()` and `destructor()`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_ltls_init_c(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 2);
    set_functions(
        l,
        &[
            (c"constructor", init_constructor),
            (c"destructor", init_destructor),
        ],
    );
    1
}
