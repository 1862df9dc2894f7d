//! The algorithms of `client.crypt`, free of Lua: what the reference's
//! `lua-crypt.c` and `lsha1.c` compute for the login handshake of a client
//! (DES, the DH exchange, `hmac64`, hashes and the text codings).
//!
//! This is the client-side twin of `skynet-lua`'s `skynet.crypt`, which the
//! module cannot link (it would bring the node's vendored Lua along, see
//! `lua.rs`). The tests check both against each other on many inputs, and
//! against the reference's own vectors.
//!
//! Standard primitives come from crates (DES, SHA-1, HMAC-SHA1); skynet's own
//! constructions are written out here.

use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::Des;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

/// Padding mode numbers, as in `crypt.padding`.
pub const PADDING_ISO7816_4: i64 = 0;
pub const PADDING_PKCS7: i64 = 1;

/// Why DES refused its input (texts of the reference's errors in
/// [`DesError::fmt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DesError {
    /// The padding mode is not one of `crypt.padding`.
    Mode(i64),
    /// The cipher text is empty or not a multiple of 8 bytes.
    Length(usize),
    /// The padding found after decryption is not valid.
    Padding,
}

impl std::fmt::Display for DesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // the reference prints these through `%d` of an int
            DesError::Mode(m) => write!(f, "Invalid padding mode {}", *m as i32),
            DesError::Length(n) => write!(f, "Invalid des crypt text length {}", *n as i32),
            DesError::Padding => f.write_str("Invalid des crypt text"),
        }
    }
}

fn check_mode(mode: i64) -> Result<(), DesError> {
    if mode == PADDING_ISO7816_4 || mode == PADDING_PKCS7 {
        Ok(())
    } else {
        Err(DesError::Mode(mode))
    }
}

/// The length of the DES encoding of `len` bytes: always at least one byte
/// of padding, rounded up to whole blocks.
pub fn des_encoded_len(len: usize) -> usize {
    (len + 8) & !7
}

/// DES-ECB encrypts `text` padded with `mode` into `out`
/// (`des_encoded_len(text.len())` bytes).
pub fn des_encode(key: &[u8; 8], text: &[u8], mode: i64, out: &mut [u8]) -> Result<(), DesError> {
    check_mode(mode)?;
    let cipher = Des::new(GenericArray::from_slice(key));
    let whole = text.len() / 8 * 8;
    let (body, tail) = text.split_at(whole);
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    let fill = 8 - tail.len();
    if mode == PADDING_ISO7816_4 {
        last[tail.len()] = 0x80;
    } else {
        last[tail.len()..].fill(fill as u8);
    }
    let blocks = body.chunks_exact(8).chain(std::iter::once(&last[..]));
    for (src, dst) in blocks.zip(out.chunks_exact_mut(8)) {
        cipher.encrypt_block_b2b(
            GenericArray::from_slice(src),
            GenericArray::from_mut_slice(dst),
        );
    }
    Ok(())
}

/// DES-ECB decrypts `text` into `out` (`text.len()` bytes) and returns the
/// length of the plain text once the `mode` padding is removed.
pub fn des_decode(
    key: &[u8; 8],
    text: &[u8],
    mode: i64,
    out: &mut [u8],
) -> Result<usize, DesError> {
    if text.is_empty() || !text.len().is_multiple_of(8) {
        return Err(DesError::Length(text.len()));
    }
    let cipher = Des::new(GenericArray::from_slice(key));
    for (src, dst) in text.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
        cipher.decrypt_block_b2b(
            GenericArray::from_slice(src),
            GenericArray::from_mut_slice(dst),
        );
    }
    check_mode(mode)?;
    let plain = &out[..text.len()];
    let pad = if mode == PADDING_ISO7816_4 {
        iso7816_pad_len(plain)
    } else {
        pkcs7_pad_len(plain)
    };
    match pad {
        Some(n) if (1..=8).contains(&n) => Ok(text.len() - n),
        _ => Err(DesError::Padding),
    }
}

/// ISO 7816-4 padding: zero bytes back to a 0x80, at most 8 bytes looked at.
fn iso7816_pad_len(plain: &[u8]) -> Option<usize> {
    let mut n = 1;
    for &b in plain.iter().rev().take(8) {
        match b {
            0 => n += 1,
            0x80 => return Some(n),
            _ => return None,
        }
    }
    None
}

/// PKCS#7 padding: the last byte says how many bytes equal to it end the
/// text. A last byte of 0 counts as no padding, which the caller rejects.
fn pkcs7_pad_len(plain: &[u8]) -> Option<usize> {
    let n = usize::from(*plain.last()?);
    if n > 8 {
        return None;
    }
    let tail = &plain[plain.len() - n.max(1)..];
    if tail.iter().all(|&b| usize::from(b) == n) {
        Some(n)
    } else {
        None
    }
}

/// `crypt.hashkey`: the djb hash (low 4 bytes) and the JS hash (high 4
/// bytes) of `text`, little-endian.
pub fn hash_key(text: &[u8]) -> [u8; 8] {
    let mut djb: u32 = 5381;
    let mut js: u32 = 1_315_423_911;
    for &c in text {
        djb = djb.wrapping_add((djb << 5).wrapping_add(u32::from(c)));
        js ^= (js << 5).wrapping_add(u32::from(c)).wrapping_add(js >> 2);
    }
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&djb.to_le_bytes());
    key[4..].copy_from_slice(&js.to_le_bytes());
    key
}

/// Lower-case hex of `text` into `out` (twice as long).
pub fn hex_encode(text: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in text.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

/// Why hex decoding failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    /// An odd number of digits.
    OddLength(usize),
    /// A character that is no digit.
    Digit,
}

impl std::fmt::Display for HexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HexError::OddLength(n) => write!(f, "Invalid hex text size {}", *n as i32),
            HexError::Digit => f.write_str("Invalid hex text"),
        }
    }
}

/// The value of one hex digit as the reference reads it: `0-9`, then
/// anything else counted from `a` (so `g` reads as 16 and still passes,
/// upper case does not).
fn hex_digit(c: u8) -> Option<u8> {
    let v = if c.is_ascii_digit() {
        c - b'0'
    } else {
        c.wrapping_sub(b'a').wrapping_add(10)
    };
    (v <= 16).then_some(v)
}

/// Decodes hex `text` into `out` (half as long).
pub fn hex_decode(text: &[u8], out: &mut [u8]) -> Result<(), HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength(text.len()));
    }
    for (pair, b) in text.chunks_exact(2).zip(out.iter_mut()) {
        let (Some(hi), Some(lo)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
            return Err(HexError::Digit);
        };
        *b = (hi << 4) | lo;
    }
    Ok(())
}

/// The 64 additive constants of MD5.
const MD5_T: [u32; 64] = {
    // floor(abs(sin(i + 1)) * 2^32), written out
    [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ]
};

/// MD5's starting state a, b, c, d.
const MD5_IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The 64 MD5 steps over one block `m`, from the standard starting state,
/// without the final addition of that state.
fn md5_rounds(m: &[u32; 16]) -> [u32; 4] {
    const SHIFT: [[u32; 4]; 4] = [
        [7, 12, 17, 22],
        [5, 9, 14, 20],
        [4, 11, 16, 23],
        [6, 10, 15, 21],
    ];
    let [mut a, mut b, mut c, mut d] = MD5_IV;
    for i in 0..64 {
        let round = i / 16;
        let (f, g) = match round {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a.wrapping_add(f).wrapping_add(MD5_T[i]).wrapping_add(m[g]);
        let next_b = b.wrapping_add(sum.rotate_left(SHIFT[round][i % 4]));
        a = d;
        d = c;
        c = b;
        b = next_b;
    }
    [a, b, c, d]
}

/// Two little-endian 32-bit halves of 8 bytes.
fn halves(v: &[u8; 8]) -> [u32; 2] {
    [
        u32::from_le_bytes([v[0], v[1], v[2], v[3]]),
        u32::from_le_bytes([v[4], v[5], v[6], v[7]]),
    ]
}

/// 8 bytes from two little-endian 32-bit halves.
fn join(lo: u32, hi: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&lo.to_le_bytes());
    out[4..].copy_from_slice(&hi.to_le_bytes());
    out
}

/// `crypt.hmac64(x, y)`: the MD5 steps over a block repeating
/// `x.hi, x.lo, y.hi, y.lo`, folded as `(c ^ d, a ^ b)`.
pub fn hmac64(x: &[u8; 8], y: &[u8; 8]) -> [u8; 8] {
    let (x, y) = (halves(x), halves(y));
    let mut m = [0u32; 16];
    for quad in m.chunks_exact_mut(4) {
        quad.copy_from_slice(&[x[1], x[0], y[1], y[0]]);
    }
    let [a, b, c, d] = md5_rounds(&m);
    join(c ^ d, a ^ b)
}

/// `crypt.hmac64_md5(x, y)`: MD5 of `(x .. y)` three times (48 bytes),
/// its two 64-bit halves xored.
pub fn hmac64_md5(x: &[u8; 8], y: &[u8; 8]) -> [u8; 8] {
    let (x, y) = (halves(x), halves(y));
    let mut m = [0u32; 16];
    for quad in m[..12].chunks_exact_mut(4) {
        quad.copy_from_slice(&[x[0], x[1], y[0], y[1]]);
    }
    // MD5 padding of a 48-byte message: 0x80, zeros, bit length 384
    m[12] = 0x80;
    m[14] = 384;
    let r = md5_rounds(&m);
    let digest: [u32; 4] = std::array::from_fn(|i| r[i].wrapping_add(MD5_IV[i]));
    join(digest[0] ^ digest[2], digest[1] ^ digest[3])
}

/// `crypt.hmac_hash(key, text)`: [`hmac64`] of the [`hash_key`] of `text`
/// with `key`.
pub fn hmac_hash(key: &[u8; 8], text: &[u8]) -> [u8; 8] {
    hmac64(&hash_key(text), key)
}

/// The largest prime below 2^64, the DH modulus.
const DH_P: u64 = 0xffff_ffff_ffff_ffc5;
/// The DH generator.
const DH_G: u64 = 5;

fn mul_mod_p(a: u64, b: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(DH_P)) as u64
}

/// `a^e mod p` as the reference computes it: `a` is reduced only when it
/// is above `p`, and an exponent of 1 gives `a` unreduced.
fn pow_mod_p(a: u64, e: u64) -> u64 {
    let a = if a > DH_P { a % DH_P } else { a };
    // square-and-multiply from the top bit: the top bit contributes `a`
    // itself, as the reference's recursion ends on `e == 1` with `a`
    let top = 63 - e.leading_zeros();
    let mut r = a;
    for bit in (0..top).rev() {
        r = mul_mod_p(r, r);
        if e >> bit & 1 == 1 {
            r = mul_mod_p(r, a);
        }
    }
    r
}

/// `crypt.dhexchange(x)`: `g^x mod p`; `None` for a zero key.
pub fn dh_exchange(x: &[u8; 8]) -> Option<[u8; 8]> {
    let x = u64::from_le_bytes(*x);
    (x != 0).then(|| pow_mod_p(DH_G, x).to_le_bytes())
}

/// `crypt.dhsecret(x, y)`: `x^y mod p`; `None` when either is zero.
pub fn dh_secret(x: &[u8; 8], y: &[u8; 8]) -> Option<[u8; 8]> {
    let (x, y) = (u64::from_le_bytes(*x), u64::from_le_bytes(*y));
    (x != 0 && y != 0).then(|| pow_mod_p(x, y).to_le_bytes())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The base64 length of `len` bytes (with `=` padding).
pub fn base64_encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// Standard base64 of `text` into `out`.
pub fn base64_encode(text: &[u8], out: &mut [u8]) {
    for (group, dst) in text.chunks(3).zip(out.chunks_exact_mut(4)) {
        let mut v = [0u8; 3];
        v[..group.len()].copy_from_slice(group);
        let n = u32::from(v[0]) << 16 | u32::from(v[1]) << 8 | u32::from(v[2]);
        for (k, slot) in dst.iter_mut().enumerate() {
            *slot = if k <= group.len() {
                B64[(n >> (18 - 6 * k) & 63) as usize]
            } else {
                b'='
            };
        }
    }
}

/// What one input character is to the base64 decoder.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sextet {
    Value(u8),
    Pad,
    Skip,
}

fn sextet(c: u8) -> Sextet {
    match c {
        b'A'..=b'Z' => Sextet::Value(c - b'A'),
        b'a'..=b'z' => Sextet::Value(c - b'a' + 26),
        b'0'..=b'9' => Sextet::Value(c - b'0' + 52),
        b'+' => Sextet::Value(62),
        b'/' => Sextet::Value(63),
        b'=' => Sextet::Pad,
        _ => Sextet::Skip,
    }
}

/// Room [`base64_decode`] needs for `len` characters.
pub fn base64_decoded_capacity(len: usize) -> usize {
    len.div_ceil(4) * 3
}

/// Decodes base64 leniently as the reference does: characters outside the
/// alphabet are skipped, missing `=` at the end are assumed, but a group
/// must still be well formed (so text ending in skipped characters after a
/// full group fails). Returns the decoded length, `None` when invalid.
pub fn base64_decode(text: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut written = 0;
    let mut i = 0;
    while i < text.len() {
        let mut group = [Sextet::Pad; 4];
        let mut filled = 0;
        while filled < 4 {
            let s = match text.get(i) {
                Some(&c) => sextet(c),
                None => Sextet::Pad,
            };
            i += 1;
            if s != Sextet::Skip {
                group[filled] = s;
                filled += 1;
            }
        }
        let pads = group.iter().filter(|s| **s == Sextet::Pad).count();
        let v = |k: usize| match group[k] {
            Sextet::Value(v) => u32::from(v),
            _ => 0,
        };
        let bytes: &[u8] = match pads {
            0 => {
                let n = v(0) << 18 | v(1) << 12 | v(2) << 6 | v(3);
                &[(n >> 16) as u8, (n >> 8) as u8, n as u8]
            }
            1 if group[3] == Sextet::Pad && v(2) & 3 == 0 && group[2] != Sextet::Pad => {
                let n = v(0) << 10 | v(1) << 4 | v(2) >> 2;
                &[(n >> 8) as u8, n as u8]
            }
            2 if group[3] == Sextet::Pad && group[2] == Sextet::Pad && v(1) & 15 == 0 => {
                &[(v(0) << 2 | v(1) >> 4) as u8]
            }
            _ => return None,
        };
        out.get_mut(written..written + bytes.len())?
            .copy_from_slice(bytes);
        written += bytes.len();
    }
    Some(written)
}

/// SHA-1 of `text`.
pub fn sha1(text: &[u8]) -> [u8; 20] {
    Sha1::digest(text).into()
}

/// HMAC-SHA1 of `text` under `key`.
pub fn hmac_sha1(key: &[u8], text: &[u8]) -> [u8; 20] {
    // HMAC takes a key of any length
    match <Hmac<Sha1> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(text);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 20],
    }
}

/// `a` xored with `b` repeated; `b` must not be empty.
pub fn xor_str(a: &[u8], b: &[u8], out: &mut [u8]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b.iter().cycle()) {
        *o = x ^ y;
    }
}

/// `crypt.randomkey`: 8 random bytes whose xor is not zero (the first byte
/// gets its low bit set otherwise, as in the reference).
pub fn random_key() -> [u8; 8] {
    let mut key = [0u8; 8];
    fill_random(&mut key);
    if key.iter().fold(0, |x, b| x ^ b) == 0 {
        key[0] |= 1;
    }
    key
}

/// Fills `buf` from the kernel's random source, falling back on a
/// time-and-address mix if it is unavailable.
fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom writes at most the given length into the
        // slice's remaining part.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    if done < buf.len() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (buf.as_ptr() as u64).rotate_left(17);
        let mut x = seed | 1;
        for b in &mut buf[done..] {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}
