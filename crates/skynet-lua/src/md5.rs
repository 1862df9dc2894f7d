//! The `md5` Lua module (also preloaded as `md5.core`): MD5 digests, HMAC-MD5
//! and the MD5-based stream cipher of the Kepler project's md5 library.
//! Stands for the reference's `3rd/lua-md5/` (the `md5.core` C module) and
//! `lualib/md5.lua` (which adds `sumhexa` and `hmacmd5`); both are provided
//! natively here, in one table.
//!
//! The digest and the HMAC come from the `md-5` and `hmac` crates. `crypt` /
//! `decrypt` are the library's own cipher: the ciphertext starts with the seed
//! (its length byte, then the seed); each following block of 16 bytes is the
//! text xored with the MD5 of (previous cipher block or seed, zero-padded to
//! 16 bytes) followed by the key.

use std::ffi::c_int;

use ::md5::{Digest, Md5};
use hmac::{Hmac, Mac};
use mlua::ffi;

use crate::capi::{arg_error, check_bytes, push_bytes, raise, scratch, set_functions, State};

/// Longest key of `crypt` / `decrypt`.
pub const MAX_KEY: usize = 256;
/// Longest seed of `crypt`, and the cipher's block size.
pub const BLOCK: usize = 16;

/// `sum(text)`: the 16-byte MD5 digest.
pub fn sum(text: &[u8]) -> [u8; 16] {
    Md5::digest(text).into()
}

/// `sumhexa(text)`: the MD5 digest in lower-case hex.
pub fn sumhexa(text: &[u8]) -> [u8; 32] {
    to_hex(&sum(text))
}

fn to_hex(digest: &[u8; 16]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (b, pair) in digest.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

/// `hmacmd5(data, key)`: HMAC-MD5 in lower-case hex.
pub fn hmacmd5(data: &[u8], key: &[u8]) -> [u8; 32] {
    let digest: [u8; 16] = match Hmac::<Md5>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        // HMAC accepts keys of any length; not reached.
        Err(_) => [0; 16],
    };
    to_hex(&digest)
}

/// The cipher's running block: 16 bytes of feedback followed by the key.
struct Keystream {
    block: [u8; BLOCK + MAX_KEY],
    len: usize,
}

impl Keystream {
    /// `seed` is at most [`BLOCK`] bytes and `key` at most [`MAX_KEY`].
    fn new(seed: &[u8], key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK + MAX_KEY];
        block[..seed.len()].copy_from_slice(seed);
        block[BLOCK..BLOCK + key.len()].copy_from_slice(key);
        Keystream {
            block,
            len: BLOCK + key.len(),
        }
    }

    fn pad(&self) -> [u8; 16] {
        sum(&self.block[..self.len])
    }

    fn feed(&mut self, cipher: &[u8]) {
        self.block[..cipher.len()].copy_from_slice(cipher);
    }
}

/// Encrypts `msg` into `out` (as long as `msg`).
pub fn encrypt_stream(msg: &[u8], seed: &[u8], key: &[u8], out: &mut [u8]) {
    let mut ks = Keystream::new(seed, key);
    for (chunk, dst) in msg.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let pad = ks.pad();
        for ((d, m), p) in dst.iter_mut().zip(chunk).zip(pad.iter()) {
            *d = m ^ p;
        }
        ks.feed(dst);
    }
}

/// Decrypts `cipher` (without its seed prefix) into `out` (as long).
pub fn decrypt_stream(cipher: &[u8], seed: &[u8], key: &[u8], out: &mut [u8]) {
    let mut ks = Keystream::new(seed, key);
    for (chunk, dst) in cipher.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let pad = ks.pad();
        for ((d, c), p) in dst.iter_mut().zip(chunk).zip(pad.iter()) {
            *d = c ^ p;
        }
        ks.feed(chunk);
    }
}

unsafe extern "C-unwind" fn l_sum(l: State) -> c_int {
    let text = check_bytes(l, 1);
    push_bytes(l, &sum(text));
    1
}

unsafe extern "C-unwind" fn l_sumhexa(l: State) -> c_int {
    let text = check_bytes(l, 1);
    push_bytes(l, &sumhexa(text));
    1
}

unsafe extern "C-unwind" fn l_hmacmd5(l: State) -> c_int {
    let data = check_bytes(l, 1);
    let key = check_bytes(l, 2);
    push_bytes(l, &hmacmd5(data, key));
    1
}

unsafe extern "C-unwind" fn l_exor(l: State) -> c_int {
    let a = check_bytes(l, 1);
    let b = check_bytes(l, 2);
    if a.len() != b.len() {
        arg_error(l, 2, c"lengths must be equal");
    }
    let out = scratch(l, a.len());
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    push_bytes(l, out);
    1
}

/// Reads the key argument (2nd) of crypt / decrypt.
///
/// # Safety
/// `l` is running a C function.
unsafe fn check_key<'a>(l: State) -> &'a [u8] {
    let key = check_bytes(l, 2);
    if key.len() > MAX_KEY {
        raise(l, format_args!("key too long (> {MAX_KEY})"));
    }
    key
}

unsafe extern "C-unwind" fn l_crypt(l: State) -> c_int {
    let msg = check_bytes(l, 1);
    if ffi::lua_isnone(l, 3) != 0 {
        // No seed: the current time, as the bytes of a time_t.
        let now = libc::time(std::ptr::null_mut());
        push_bytes(l, &now.to_ne_bytes());
    }
    let seed = check_bytes(l, 3);
    if seed.len() > BLOCK {
        raise(l, format_args!("seed too long (> {BLOCK})"));
    }
    let key = check_key(l);
    let out = scratch(l, 1 + seed.len() + msg.len());
    out[0] = seed.len() as u8;
    out[1..=seed.len()].copy_from_slice(seed);
    encrypt_stream(msg, seed, key, &mut out[1 + seed.len()..]);
    push_bytes(l, out);
    1
}

unsafe extern "C-unwind" fn l_decrypt(l: State) -> c_int {
    let cipher = check_bytes(l, 1);
    // The seed length is read as a C `char`: 128 and above are invalid.
    let seed_len = cipher.first().map_or(0, |&b| b as i8 as isize);
    if seed_len < 0 || seed_len as usize > BLOCK || cipher.len() < seed_len as usize + 1 {
        arg_error(l, 1, c"invalid cyphered string");
    }
    let seed_len = seed_len as usize;
    let seed = &cipher[1..=seed_len];
    let body = &cipher[seed_len + 1..];
    let key = check_key(l);
    let out = scratch(l, body.len());
    decrypt_stream(body, seed, key, out);
    push_bytes(l, out);
    1
}

/// Opens `md5` / `md5.core`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_md5(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 9);
    set_functions(
        l,
        &[
            (c"sum", l_sum),
            (c"sumhexa", l_sumhexa),
            (c"hmacmd5", l_hmacmd5),
            (c"exor", l_exor),
            (c"crypt", l_crypt),
            (c"decrypt", l_decrypt),
        ],
    );
    for (k, v) in [
        (c"_COPYRIGHT", c"Copyright (C) 2003-2013 PUC-Rio"),
        (c"_DESCRIPTION", c"Basic cryptographic facilities"),
        (c"_VERSION", c"MD5 1.2"),
    ] {
        ffi::lua_pushstring(l, v.as_ptr());
        ffi::lua_setfield(l, -2, k.as_ptr());
    }
    1
}
