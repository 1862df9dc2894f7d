//! The `client.crypt` Lua module of `client.so`: the functions of
//! [`crate::crypt`] with the reference's names, argument checks and error
//! texts (`lualib-src/lua-crypt.c`, whose `luaopen_client_crypt` is the same
//! module as `skynet.crypt`).
//!
//! Every function reads its arguments first (which may raise), computes into
//! buffers owned by Lua or by the stack, and raises from frames that own
//! nothing with a destructor.

use std::ffi::c_int;

use crate::crypt;
use crate::lua::{
    check_bytes, new_library, opt_integer, push_bytes, push_int_table, raise, scratch, set_field,
    State,
};

/// An 8-byte string argument, or the error `what`.
unsafe fn check_u64(l: State, arg: c_int, what: &str) -> [u8; 8] {
    match <[u8; 8]>::try_from(check_bytes(l, arg)) {
        Ok(v) => v,
        Err(_) => raise(l, format_args!("{what}")),
    }
}

/// The two 8-byte arguments of the hmac and DH functions.
unsafe fn check_xy(l: State) -> ([u8; 8], [u8; 8]) {
    let x = check_u64(l, 1, "Invalid uint64 x");
    let y = check_u64(l, 2, "Invalid uint64 y");
    (x, y)
}

unsafe extern "C-unwind" fn l_hashkey(l: State) -> c_int {
    let key = crypt::hash_key(check_bytes(l, 1));
    push_bytes(l, &key);
    1
}

unsafe extern "C-unwind" fn l_randomkey(l: State) -> c_int {
    push_bytes(l, &crypt::random_key());
    1
}

/// The DES key argument.
unsafe fn check_des_key(l: State) -> [u8; 8] {
    let key = check_bytes(l, 1);
    match <[u8; 8]>::try_from(key) {
        Ok(k) => k,
        Err(_) => raise(
            l,
            format_args!("Invalid key size {}, need 8 bytes", key.len() as i32),
        ),
    }
}

unsafe extern "C-unwind" fn l_desencode(l: State) -> c_int {
    let key = check_des_key(l);
    let text = check_bytes(l, 2);
    // the reference keeps the mode in a C int
    let mode = i64::from(opt_integer(l, 3, crypt::PADDING_ISO7816_4) as i32);
    let out = scratch(l, crypt::des_encoded_len(text.len()));
    match crypt::des_encode(&key, text, mode, out) {
        Ok(()) => {
            push_bytes(l, out);
            1
        }
        Err(e) => raise(l, format_args!("{e}")),
    }
}

unsafe extern "C-unwind" fn l_desdecode(l: State) -> c_int {
    let key = check_des_key(l);
    let text = check_bytes(l, 2);
    if text.is_empty() || !text.len().is_multiple_of(8) {
        raise(l, format_args!("{}", crypt::DesError::Length(text.len())));
    }
    // the reference keeps the mode in a C int
    let mode = i64::from(opt_integer(l, 3, crypt::PADDING_ISO7816_4) as i32);
    let out = scratch(l, text.len());
    match crypt::des_decode(&key, text, mode, out) {
        Ok(n) => {
            push_bytes(l, &out[..n]);
            1
        }
        Err(e) => raise(l, format_args!("{e}")),
    }
}

unsafe extern "C-unwind" fn l_hexencode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    let out = scratch(l, text.len() * 2);
    crypt::hex_encode(text, out);
    push_bytes(l, out);
    1
}

unsafe extern "C-unwind" fn l_hexdecode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    let out = scratch(l, text.len() / 2);
    match crypt::hex_decode(text, out) {
        Ok(()) => {
            push_bytes(l, out);
            1
        }
        Err(e) => raise(l, format_args!("{e}")),
    }
}

unsafe extern "C-unwind" fn l_hmac64(l: State) -> c_int {
    let (x, y) = check_xy(l);
    push_bytes(l, &crypt::hmac64(&x, &y));
    1
}

unsafe extern "C-unwind" fn l_hmac64_md5(l: State) -> c_int {
    let (x, y) = check_xy(l);
    push_bytes(l, &crypt::hmac64_md5(&x, &y));
    1
}

unsafe extern "C-unwind" fn l_hmac_hash(l: State) -> c_int {
    let key = check_u64(l, 1, "Invalid uint64 key");
    let text = check_bytes(l, 2);
    push_bytes(l, &crypt::hmac_hash(&key, text));
    1
}

unsafe extern "C-unwind" fn l_dhexchange(l: State) -> c_int {
    let x = check_u64(l, 1, "Invalid dh uint64 key");
    match crypt::dh_exchange(&x) {
        Some(r) => {
            push_bytes(l, &r);
            1
        }
        None => raise(l, format_args!("Can't be 0")),
    }
}

unsafe extern "C-unwind" fn l_dhsecret(l: State) -> c_int {
    let (x, y) = check_xy(l);
    match crypt::dh_secret(&x, &y) {
        Some(r) => {
            push_bytes(l, &r);
            1
        }
        None => raise(l, format_args!("Can't be 0")),
    }
}

unsafe extern "C-unwind" fn l_base64encode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    let out = scratch(l, crypt::base64_encoded_len(text.len()));
    crypt::base64_encode(text, out);
    push_bytes(l, out);
    1
}

unsafe extern "C-unwind" fn l_base64decode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    let out = scratch(l, crypt::base64_decoded_capacity(text.len()));
    match crypt::base64_decode(text, out) {
        Some(n) => {
            push_bytes(l, &out[..n]);
            1
        }
        None => raise(l, format_args!("Invalid base64 text")),
    }
}

unsafe extern "C-unwind" fn l_sha1(l: State) -> c_int {
    let digest = crypt::sha1(check_bytes(l, 1));
    push_bytes(l, &digest);
    1
}

unsafe extern "C-unwind" fn l_hmac_sha1(l: State) -> c_int {
    let key = check_bytes(l, 1);
    let text = check_bytes(l, 2);
    push_bytes(l, &crypt::hmac_sha1(key, text));
    1
}

unsafe extern "C-unwind" fn l_xor_str(l: State) -> c_int {
    let a = check_bytes(l, 1);
    let b = check_bytes(l, 2);
    if b.is_empty() {
        raise(l, format_args!("Can't xor empty string"));
    }
    let out = scratch(l, a.len());
    crypt::xor_str(a, b, out);
    push_bytes(l, out);
    1
}

/// `require "client.crypt"`: the crypt functions and `padding`
/// (`{ iso7816_4 = 0, pkcs7 = 1 }`).
///
/// # Safety
/// Called by Lua as a C function.
#[no_mangle]
pub unsafe extern "C-unwind" fn luaopen_client_crypt(l: State) -> c_int {
    new_library(
        l,
        &[
            (c"hashkey", l_hashkey),
            (c"randomkey", l_randomkey),
            (c"desencode", l_desencode),
            (c"desdecode", l_desdecode),
            (c"hexencode", l_hexencode),
            (c"hexdecode", l_hexdecode),
            (c"hmac64", l_hmac64),
            (c"hmac64_md5", l_hmac64_md5),
            (c"dhexchange", l_dhexchange),
            (c"dhsecret", l_dhsecret),
            (c"base64encode", l_base64encode),
            (c"base64decode", l_base64decode),
            (c"sha1", l_sha1),
            (c"hmac_sha1", l_hmac_sha1),
            (c"hmac_hash", l_hmac_hash),
            (c"xor_str", l_xor_str),
        ],
    );
    push_int_table(
        l,
        &[
            (c"iso7816_4", crypt::PADDING_ISO7816_4),
            (c"pkcs7", crypt::PADDING_PKCS7),
        ],
    );
    set_field(l, c"padding");
    1
}
