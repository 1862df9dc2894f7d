//! The `skynet.crypt` Lua module (also loadable as `client.crypt`): the small
//! cryptographic toolbox of login servers and clients. Stands for the
//! reference's `lualib-src/lua-crypt.c` and `lsha1.c`.
//!
//! Standard primitives come from crates: DES (`des`), SHA-1 (`sha1`) and
//! HMAC-SHA1 (`hmac`). The rest is skynet's own and hand-written here:
//!
//! - `hashkey`: two 32-bit string hashes (djb and js) side by side;
//! - `hmac64`: the MD5 block function run over one block made of the two keys,
//!   without MD5's final additions and padding, folded to 64 bits;
//! - `hmac64_md5`: MD5 of `(x..y)` three times, its halves xored;
//! - `dhexchange` / `dhsecret`: Diffie-Hellman modulo the largest 64-bit prime
//!   with generator 5;
//! - `base64decode` and `hexdecode` keep the reference's leniency (skipped
//!   characters, missing `=`, `g` as a digit) so that they accept exactly what
//!   it accepts.
//!
//! Every function reads its arguments first (which may raise), computes into a
//! buffer owned by Lua, and raises its own errors from frames that own nothing.

use std::ffi::c_int;

use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use mlua::ffi;
use sha1::{Digest, Sha1};

use crate::capi::{check_bytes, push_bytes, raise, scratch, set_functions, State};

/// Padding modes of `desencode` / `desdecode` (`crypt.padding`).
pub const PADDING_ISO7816_4: i64 = 0;
pub const PADDING_PKCS7: i64 = 1;
const PADDING_NAMES: [(&std::ffi::CStr, i64); 2] =
    [(c"iso7816_4", PADDING_ISO7816_4), (c"pkcs7", PADDING_PKCS7)];

// ---------------------------------------------------------------------------
// Pure functions

/// `hashkey`: the djb hash (low half) and the js hash (high half), little-endian.
pub fn hash_key(text: &[u8]) -> [u8; 8] {
    let mut djb: u32 = 5381;
    let mut js: u32 = 1_315_423_911;
    for &c in text {
        djb = djb.wrapping_add((djb << 5).wrapping_add(u32::from(c)));
        js ^= (js << 5).wrapping_add(u32::from(c)).wrapping_add(js >> 2);
    }
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&djb.to_le_bytes());
    out[4..].copy_from_slice(&js.to_le_bytes());
    out
}

/// Why a DES call failed; the texts are the reference's.
#[derive(Debug, PartialEq, Eq)]
pub enum DesError {
    /// `Invalid padding mode %d`
    Mode(i32),
    /// `Invalid des crypt text length %d`
    Length(usize),
    /// `Invalid des crypt text`
    Text,
}

fn check_mode(mode: i32) -> Result<(), DesError> {
    if (0..2).contains(&i64::from(mode)) {
        Ok(())
    } else {
        Err(DesError::Mode(mode))
    }
}

/// The size of the DES encoding of `len` bytes: always at least one byte of
/// padding, rounded up to whole blocks.
pub fn des_encoded_len(len: usize) -> usize {
    (len + 8) & !7
}

/// DES-ECB encryption with padding into `out` (of [`des_encoded_len`] bytes).
pub fn des_encode(key: &[u8; 8], text: &[u8], mode: i32, out: &mut [u8]) -> Result<(), DesError> {
    let cipher = des::Des::new(GenericArray::from_slice(key));
    let full = text.len() / 8 * 8;
    let (body, tail) = text.split_at(full);
    for (src, dst) in body.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
        dst.copy_from_slice(src);
        cipher.encrypt_block(GenericArray::from_mut_slice(dst));
    }
    check_mode(mode)?;
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    if i64::from(mode) == PADDING_PKCS7 {
        let fill = (8 - tail.len()) as u8;
        last[tail.len()..].fill(fill);
    } else {
        last[tail.len()] = 0x80;
    }
    let dst = &mut out[full..full + 8];
    dst.copy_from_slice(&last);
    cipher.encrypt_block(GenericArray::from_mut_slice(dst));
    Ok(())
}

/// DES-ECB decryption into `out` (as long as `text`); returns the length of
/// the text once the padding is removed.
pub fn des_decode(
    key: &[u8; 8],
    text: &[u8],
    mode: i32,
    out: &mut [u8],
) -> Result<usize, DesError> {
    if text.is_empty() || !text.len().is_multiple_of(8) {
        return Err(DesError::Length(text.len()));
    }
    let cipher = des::Des::new(GenericArray::from_slice(key));
    for (src, dst) in text.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
        dst.copy_from_slice(src);
        cipher.decrypt_block(GenericArray::from_mut_slice(dst));
    }
    check_mode(mode)?;
    let plain = &out[..text.len()];
    let padding = if i64::from(mode) == PADDING_PKCS7 {
        pkcs7_padding(plain)
    } else {
        iso7816_padding(plain)
    };
    match padding {
        Some(n) if (1..=8).contains(&n) => Ok(text.len() - n),
        _ => Err(DesError::Text),
    }
}

/// ISO 7816-4 padding: zeros after a 0x80, all within the last block.
fn iso7816_padding(plain: &[u8]) -> Option<usize> {
    let last_block = &plain[plain.len() - 8..];
    let mut n = 1;
    for &b in last_block.iter().rev() {
        match b {
            0 => n += 1,
            0x80 => return Some(n),
            _ => return None,
        }
    }
    None
}

/// PKCS#7 padding: the last byte says how many bytes of its value end the text.
fn pkcs7_padding(plain: &[u8]) -> Option<usize> {
    let n = usize::from(plain[plain.len() - 1]);
    if n == 0 || n > 8 {
        return None;
    }
    let tail = &plain[plain.len() - n..];
    tail.iter().all(|&b| usize::from(b) == n).then_some(n)
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `hexencode` into `out` (twice as long as `text`).
pub fn hex_encode(text: &[u8], out: &mut [u8]) {
    for (b, pair) in text.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX_DIGITS[usize::from(b >> 4)];
        pair[1] = HEX_DIGITS[usize::from(b & 0xf)];
    }
}

/// The value the reference gives a hex character: digits, then anything else
/// counted from `a` (so `g` is 16, which it still accepts).
fn hex_value(c: u8) -> u8 {
    if c.is_ascii_digit() {
        c - b'0'
    } else {
        (i32::from(c as i8) - i32::from(b'a') + 10) as u8
    }
}

/// Why `hexdecode` failed.
#[derive(Debug, PartialEq, Eq)]
pub enum HexError {
    /// `Invalid hex text size %d`
    Size(usize),
    /// `Invalid hex text`
    Text,
}

/// `hexdecode` into `out` (half as long as `text`).
pub fn hex_decode(text: &[u8], out: &mut [u8]) -> Result<(), HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::Size(text.len()));
    }
    for (pair, o) in text.chunks_exact(2).zip(out.iter_mut()) {
        let (hi, lo) = (hex_value(pair[0]), hex_value(pair[1]));
        if hi > 16 || lo > 16 {
            return Err(HexError::Text);
        }
        *o = ((u32::from(hi) << 4) | u32::from(lo)) as u8;
    }
    Ok(())
}

/// MD5's additive constants (RFC 1321).
const MD5_K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];
/// MD5's rotations, per round (four per round, repeated).
const MD5_SHIFTS: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];
/// MD5's initial state.
const MD5_INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// The 64 MD5 steps over one block of words, from the initial state, without
/// adding the initial state back (the hmac64 variant).
fn md5_steps(w: &[u32; 16]) -> [u32; 4] {
    let [mut a, mut b, mut c, mut d] = MD5_INIT;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a.wrapping_add(f).wrapping_add(MD5_K[i]).wrapping_add(w[g]);
        let rotated = sum.rotate_left(MD5_SHIFTS[i / 16][i % 4]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(rotated);
    }
    [a, b, c, d]
}

fn words(v: &[u8; 8]) -> [u32; 2] {
    [
        u32::from_le_bytes([v[0], v[1], v[2], v[3]]),
        u32::from_le_bytes([v[4], v[5], v[6], v[7]]),
    ]
}

fn qword(lo: u32, hi: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&lo.to_le_bytes());
    out[4..].copy_from_slice(&hi.to_le_bytes());
    out
}

/// `hmac64(x, y)`.
pub fn hmac64(x: &[u8; 8], y: &[u8; 8]) -> [u8; 8] {
    let (x, y) = (words(x), words(y));
    let mut w = [0u32; 16];
    for quad in w.chunks_exact_mut(4) {
        quad.copy_from_slice(&[x[1], x[0], y[1], y[0]]);
    }
    let [a, b, c, d] = md5_steps(&w);
    qword(c ^ d, a ^ b)
}

/// `hmac64_md5(x, y)`: MD5 of `(x..y)` repeated three times, first half xor
/// second half.
pub fn hmac64_md5(x: &[u8; 8], y: &[u8; 8]) -> [u8; 8] {
    let mut md5 = md5::Md5::new();
    for _ in 0..3 {
        md5.update(x);
        md5.update(y);
    }
    let digest = md5.finalize();
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digest[i] ^ digest[i + 8];
    }
    out
}

/// `hmac_hash(key, text)`: hmac64 of the text's hashkey and the key.
pub fn hmac_hash(key: &[u8; 8], text: &[u8]) -> [u8; 8] {
    hmac64(&hash_key(text), key)
}

/// The largest prime below 2^64, the modulus of the key exchange.
const DH_PRIME: u64 = 0xffff_ffff_ffff_ffc5;
/// The generator of the key exchange.
const DH_GENERATOR: u64 = 5;

fn mul_mod(a: u64, b: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(DH_PRIME)) as u64
}

/// `a^b mod P` as the reference computes it: a base above P is reduced first,
/// and an exponent of 1 returns the (reduced) base as is.
pub fn pow_mod_p(a: u64, b: u64) -> u64 {
    let a = if a > DH_PRIME { a % DH_PRIME } else { a };
    if b == 1 {
        return a;
    }
    let (mut base, mut exp, mut acc) = (a % DH_PRIME, b, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul_mod(acc, base);
        }
        base = mul_mod(base, base);
        exp >>= 1;
    }
    acc
}

/// `dhexchange(x)`: 5^x mod P; `None` for a zero key.
pub fn dh_exchange(x: &[u8; 8]) -> Option<[u8; 8]> {
    let x = u64::from_le_bytes(*x);
    (x != 0).then(|| pow_mod_p(DH_GENERATOR, x).to_le_bytes())
}

/// `dhsecret(x, y)`: x^y mod P; `None` when either is zero.
pub fn dh_secret(x: &[u8; 8], y: &[u8; 8]) -> Option<[u8; 8]> {
    let (x, y) = (u64::from_le_bytes(*x), u64::from_le_bytes(*y));
    (x != 0 && y != 0).then(|| pow_mod_p(x, y).to_le_bytes())
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The size of the base64 encoding of `len` bytes.
pub fn base64_encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// `base64encode` into `out` (of [`base64_encoded_len`] bytes), with `=` padding.
pub fn base64_encode(text: &[u8], out: &mut [u8]) {
    let sym = |v: u32| BASE64_ALPHABET[(v & 0x3f) as usize];
    for (chunk, quad) in text.chunks(3).zip(out.chunks_exact_mut(4)) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let v = (b(0) << 16) | (b(1) << 8) | b(2);
        quad[0] = sym(v >> 18);
        quad[1] = sym(v >> 12);
        quad[2] = if chunk.len() > 1 { sym(v >> 6) } else { b'=' };
        quad[3] = if chunk.len() > 2 { sym(v) } else { b'=' };
    }
}

/// What a base64 character stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum B64 {
    Value(u32),
    /// `=`, or the end of the text where a group is short.
    Pad,
    /// Any other character: skipped.
    Skip,
}

fn base64_class(c: u8) -> B64 {
    match c {
        b'A'..=b'Z' => B64::Value(u32::from(c - b'A')),
        b'a'..=b'z' => B64::Value(u32::from(c - b'a') + 26),
        b'0'..=b'9' => B64::Value(u32::from(c - b'0') + 52),
        b'+' => B64::Value(62),
        b'/' => B64::Value(63),
        b'=' => B64::Pad,
        _ => B64::Skip,
    }
}

/// The most bytes `base64decode` can produce from `len` characters.
pub fn base64_decoded_capacity(len: usize) -> usize {
    len.div_ceil(4) * 3
}

/// `base64decode` into `out` (of [`base64_decoded_capacity`] bytes); returns
/// the decoded length, `None` for an invalid text (`Invalid base64 text`).
///
/// Groups of four symbols are read skipping unknown characters; a group cut
/// short by the end of the text counts as padded.
pub fn base64_decode(text: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut pos = 0;
    let mut written = 0;
    while pos < text.len() {
        let mut group = [B64::Pad; 4];
        let mut filled = 0;
        while filled < 4 {
            let class = match text.get(pos) {
                Some(&c) => base64_class(c),
                None => B64::Pad,
            };
            pos += 1;
            if class != B64::Skip {
                group[filled] = class;
                filled += 1;
            }
        }
        let value = |i: usize| match group[i] {
            B64::Value(v) => Some(v),
            _ => None,
        };
        let pads = group.iter().filter(|&&c| c == B64::Pad).count();
        let bytes: ([u8; 3], usize) = match pads {
            0 => {
                let v = (value(0)? << 18) | (value(1)? << 12) | (value(2)? << 6) | value(3)?;
                ([(v >> 16) as u8, (v >> 8) as u8, v as u8], 3)
            }
            1 => {
                if group[3] != B64::Pad {
                    return None;
                }
                let c2 = value(2)?;
                if c2 & 3 != 0 {
                    return None;
                }
                let v = (value(0)? << 10) | (value(1)? << 4) | (c2 >> 2);
                ([(v >> 8) as u8, v as u8, 0], 2)
            }
            2 => {
                if group[2] != B64::Pad || group[3] != B64::Pad {
                    return None;
                }
                let c1 = value(1)?;
                if c1 & 0xf != 0 {
                    return None;
                }
                let v = (value(0)? << 2) | (c1 >> 4);
                ([v as u8, 0, 0], 1)
            }
            _ => return None,
        };
        let (data, n) = bytes;
        out.get_mut(written..written + n)?
            .copy_from_slice(&data[..n]);
        written += n;
    }
    Some(written)
}

/// `sha1(text)`.
pub fn sha1(text: &[u8]) -> [u8; 20] {
    Sha1::digest(text).into()
}

/// `hmac_sha1(key, text)`: standard HMAC-SHA1.
pub fn hmac_sha1(key: &[u8], text: &[u8]) -> [u8; 20] {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match <Hmac<Sha1> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 20],
    };
    mac.update(text);
    mac.finalize().into_bytes().into()
}

/// `xor_str(a, b)` into `out` (as long as `a`): `a` xored with `b` repeated.
/// `b` must not be empty.
pub fn xor_str(a: &[u8], b: &[u8], out: &mut [u8]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b.iter().cycle()) {
        *o = x ^ y;
    }
}

// ---------------------------------------------------------------------------
// Lua bindings

/// Reads an 8-byte string argument; `what` names it in the error.
///
/// # Safety
/// `l` is running a C function.
unsafe fn check_u64(l: State, arg: c_int, what: &str) -> [u8; 8] {
    let bytes = check_bytes(l, arg);
    match <[u8; 8]>::try_from(bytes) {
        Ok(v) => v,
        Err(_) => raise(l, format_args!("Invalid {what}")),
    }
}

unsafe extern "C-unwind" fn l_hashkey(l: State) -> c_int {
    let text = check_bytes(l, 1);
    push_bytes(l, &hash_key(text));
    1
}

unsafe extern "C-unwind" fn l_randomkey(l: State) -> c_int {
    let mut key = [0u8; 8];
    fill_random(&mut key);
    // The key's bytes must not xor to 0. The reference ORs bit 0 into the
    // first byte, which leaves the xor at 0 when that bit was already set;
    // flipping it always works.
    if key.iter().fold(0, |x, b| x ^ b) == 0 {
        key[0] ^= 1;
    }
    push_bytes(l, &key);
    1
}

/// Fills `buf` from the kernel's random source, falling back to a clock mix.
fn fill_random(buf: &mut [u8]) {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let got = unsafe { libc::getrandom(buf.as_mut_ptr() as *mut _, buf.len(), 0) };
    if got != buf.len() as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut x = t ^ u64::from(std::process::id()).rotate_left(32);
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

/// Reads the DES key argument (first) as the reference does.
///
/// # Safety
/// `l` is running a C function.
unsafe fn check_des_key(l: State) -> [u8; 8] {
    let key = check_bytes(l, 1);
    match <[u8; 8]>::try_from(key) {
        Ok(k) => k,
        Err(_) => raise(
            l,
            format_args!("Invalid key size {}, need 8 bytes", key.len() as c_int),
        ),
    }
}

/// The padding mode argument, truncated to a C int as the reference does.
///
/// # Safety
/// `l` is running a C function.
unsafe fn opt_mode(l: State, arg: c_int) -> i32 {
    ffi::luaL_optinteger(l, arg, PADDING_ISO7816_4) as i32
}

/// # Safety
/// `l` is running a C function; raises from a frame owning nothing.
unsafe fn raise_des(l: State, e: DesError) -> ! {
    match e {
        DesError::Mode(m) => raise(l, format_args!("Invalid padding mode {m}")),
        DesError::Length(n) => raise(
            l,
            format_args!("Invalid des crypt text length {}", n as c_int),
        ),
        DesError::Text => raise(l, format_args!("Invalid des crypt text")),
    }
}

unsafe extern "C-unwind" fn l_desencode(l: State) -> c_int {
    let key = check_des_key(l);
    let text = check_bytes(l, 2);
    let mode = opt_mode(l, 3);
    let out = scratch(l, des_encoded_len(text.len()));
    match des_encode(&key, text, mode, out) {
        Ok(()) => {
            push_bytes(l, out);
            1
        }
        Err(e) => raise_des(l, e),
    }
}

unsafe extern "C-unwind" fn l_desdecode(l: State) -> c_int {
    let key = check_des_key(l);
    let text = check_bytes(l, 2);
    if text.is_empty() || text.len() % 8 != 0 {
        raise_des(l, DesError::Length(text.len()));
    }
    let mode = opt_mode(l, 3);
    let out = scratch(l, text.len());
    match des_decode(&key, text, mode, out) {
        Ok(n) => {
            push_bytes(l, &out[..n]);
            1
        }
        Err(e) => raise_des(l, e),
    }
}

unsafe extern "C-unwind" fn l_hexencode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    let out = scratch(l, text.len() * 2);
    hex_encode(text, out);
    push_bytes(l, out);
    1
}

unsafe extern "C-unwind" fn l_hexdecode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    if text.len() % 2 != 0 {
        raise(
            l,
            format_args!("Invalid hex text size {}", text.len() as c_int),
        );
    }
    let out = scratch(l, text.len() / 2);
    match hex_decode(text, out) {
        Ok(()) => {
            push_bytes(l, out);
            1
        }
        Err(_) => raise(l, format_args!("Invalid hex text")),
    }
}

unsafe extern "C-unwind" fn l_hmac64(l: State) -> c_int {
    let x = check_u64(l, 1, "uint64 x");
    let y = check_u64(l, 2, "uint64 y");
    push_bytes(l, &hmac64(&x, &y));
    1
}

unsafe extern "C-unwind" fn l_hmac64_md5(l: State) -> c_int {
    let x = check_u64(l, 1, "uint64 x");
    let y = check_u64(l, 2, "uint64 y");
    push_bytes(l, &hmac64_md5(&x, &y));
    1
}

unsafe extern "C-unwind" fn l_hmac_hash(l: State) -> c_int {
    let key = check_u64(l, 1, "uint64 key");
    let text = check_bytes(l, 2);
    push_bytes(l, &hmac_hash(&key, text));
    1
}

unsafe extern "C-unwind" fn l_dhexchange(l: State) -> c_int {
    let x = check_u64(l, 1, "dh uint64 key");
    match dh_exchange(&x) {
        Some(r) => {
            push_bytes(l, &r);
            1
        }
        None => raise(l, format_args!("Can't be 0")),
    }
}

unsafe extern "C-unwind" fn l_dhsecret(l: State) -> c_int {
    let x = check_u64(l, 1, "uint64 x");
    let y = check_u64(l, 2, "uint64 y");
    match dh_secret(&x, &y) {
        Some(r) => {
            push_bytes(l, &r);
            1
        }
        None => raise(l, format_args!("Can't be 0")),
    }
}

unsafe extern "C-unwind" fn l_base64encode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    let out = scratch(l, base64_encoded_len(text.len()));
    base64_encode(text, out);
    push_bytes(l, out);
    1
}

unsafe extern "C-unwind" fn l_base64decode(l: State) -> c_int {
    let text = check_bytes(l, 1);
    let out = scratch(l, base64_decoded_capacity(text.len()));
    match base64_decode(text, out) {
        Some(n) => {
            push_bytes(l, &out[..n]);
            1
        }
        None => raise(l, format_args!("Invalid base64 text")),
    }
}

unsafe extern "C-unwind" fn l_sha1(l: State) -> c_int {
    let text = check_bytes(l, 1);
    push_bytes(l, &sha1(text));
    1
}

unsafe extern "C-unwind" fn l_hmac_sha1(l: State) -> c_int {
    let key = check_bytes(l, 1);
    let text = check_bytes(l, 2);
    push_bytes(l, &hmac_sha1(key, text));
    1
}

unsafe extern "C-unwind" fn l_xor_str(l: State) -> c_int {
    let a = check_bytes(l, 1);
    let b = check_bytes(l, 2);
    if b.is_empty() {
        raise(l, format_args!("Can't xor empty string"));
    }
    let out = scratch(l, a.len());
    xor_str(a, b, out);
    push_bytes(l, out);
    1
}

/// Opens `skynet.crypt` (and `client.crypt`): the functions and the
/// `padding` table.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_crypt(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 17);
    set_functions(
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
    ffi::lua_createtable(l, 0, PADDING_NAMES.len() as c_int);
    for (name, mode) in PADDING_NAMES {
        ffi::lua_pushinteger(l, mode);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    ffi::lua_setfield(l, -2, c"padding".as_ptr());
    1
}
