//! client.crypt's algorithms against the node's own `skynet.crypt`
//! (`skynet_lua::crypt`, itself checked against the reference): both are
//! run on the same seeded pseudo-random and edge-case inputs and must agree
//! on every result and on which inputs are refused.

use client::crypt as ours;
use skynet_lua::crypt as node;

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn key(&mut self) -> [u8; 8] {
        match self.below(8) {
            0 => [0; 8],
            1 => [0xff; 8],
            // the DH modulus and its neighbours
            2 => (0xffff_ffff_ffff_ffc5u64 - 1 + self.below(3) as u64).to_le_bytes(),
            3 => 1u64.to_le_bytes(),
            _ => self.next().to_le_bytes(),
        }
    }

    /// Text made of `alphabet` with a few other bytes mixed in.
    fn text_from(&mut self, alphabet: &[u8], max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len)
            .map(|_| {
                if self.below(16) == 0 {
                    self.next() as u8
                } else {
                    alphabet[self.below(alphabet.len())]
                }
            })
            .collect()
    }
}

const ROUNDS: usize = 3000;

#[test]
fn hashes_and_macs_agree() {
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..ROUNDS {
        let text = rng.bytes(200);
        let (x, y) = (rng.key(), rng.key());
        assert_eq!(ours::hash_key(&text), node::hash_key(&text));
        assert_eq!(ours::hmac64(&x, &y), node::hmac64(&x, &y));
        assert_eq!(ours::hmac64_md5(&x, &y), node::hmac64_md5(&x, &y));
        assert_eq!(ours::hmac_hash(&x, &text), node::hmac_hash(&x, &text));
        assert_eq!(ours::sha1(&text), node::sha1(&text));
        let key = rng.bytes(100);
        assert_eq!(ours::hmac_sha1(&key, &text), node::hmac_sha1(&key, &text));
        assert_eq!(ours::dh_exchange(&x), node::dh_exchange(&x));
        assert_eq!(ours::dh_secret(&x, &y), node::dh_secret(&x, &y));
    }
}

#[test]
fn dh_keys_meet() {
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..200 {
        let (a, b) = (
            rng.next().max(1).to_le_bytes(),
            rng.next().max(1).to_le_bytes(),
        );
        let (pa, pb) = (
            ours::dh_exchange(&a).expect("non-zero key"),
            ours::dh_exchange(&b).expect("non-zero key"),
        );
        assert_eq!(ours::dh_secret(&pb, &a), ours::dh_secret(&pa, &b));
    }
}

#[test]
fn des_agrees_and_round_trips() {
    let mut rng = Rng(0x5eed_0003);
    for _ in 0..ROUNDS {
        let key = rng.key();
        let text = rng.bytes(64);
        let mode = rng.below(4) as i64 - 1; // -1 and 2 are invalid modes
        let len = ours::des_encoded_len(text.len());
        assert_eq!(len, node::des_encoded_len(text.len()));
        let (mut a, mut b) = (vec![0; len], vec![0; len]);
        let ra = ours::des_encode(&key, &text, mode, &mut a);
        let rb = node::des_encode(&key, &text, mode as i32, &mut b);
        assert_eq!(ra.is_ok(), rb.is_ok(), "des_encode mode {mode}");
        if ra.is_ok() {
            assert_eq!(a, b);
            let mut plain = vec![0; len];
            let n = ours::des_decode(&key, &a, mode, &mut plain).expect("own cipher text");
            assert_eq!(&plain[..n], &text[..]);
        }
        // random cipher texts: mostly bad padding or bad lengths
        let junk = rng.bytes(40);
        let (mut a, mut b) = (vec![0; junk.len()], vec![0; junk.len()]);
        let ra = ours::des_decode(&key, &junk, mode, &mut a);
        let rb = node::des_decode(&key, &junk, mode as i32, &mut b);
        assert_eq!(
            ra.is_ok(),
            rb.is_ok(),
            "des_decode of {junk:02x?} mode {mode}"
        );
        if let (Ok(na), Ok(nb)) = (ra, rb) {
            assert_eq!(&a[..na], &b[..nb]);
        }
    }
}

#[test]
fn text_codings_agree() {
    let mut rng = Rng(0x5eed_0004);
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/==\n";
    let hex = b"0123456789abcdefgABF";
    for _ in 0..ROUNDS {
        let text = rng.bytes(100);
        let mut a = vec![0; ours::base64_encoded_len(text.len())];
        let mut b = vec![0; node::base64_encoded_len(text.len())];
        ours::base64_encode(&text, &mut a);
        node::base64_encode(&text, &mut b);
        assert_eq!(a, b);
        let mut back = vec![0; ours::base64_decoded_capacity(a.len())];
        let n = ours::base64_decode(&a, &mut back).expect("own base64");
        assert_eq!(&back[..n], &text[..]);

        let coded = rng.text_from(b64, 40);
        let mut a = vec![0; ours::base64_decoded_capacity(coded.len())];
        let mut b = vec![0; node::base64_decoded_capacity(coded.len())];
        let (ra, rb) = (
            ours::base64_decode(&coded, &mut a),
            node::base64_decode(&coded, &mut b),
        );
        assert_eq!(ra.map(|n| a[..n].to_vec()), rb.map(|n| b[..n].to_vec()));

        let mut a = vec![0; text.len() * 2];
        let mut b = vec![0; text.len() * 2];
        ours::hex_encode(&text, &mut a);
        node::hex_encode(&text, &mut b);
        assert_eq!(a, b);

        let digits = rng.text_from(hex, 30);
        let mut a = vec![0; digits.len() / 2];
        let mut b = vec![0; digits.len() / 2];
        let (ra, rb) = (
            ours::hex_decode(&digits, &mut a),
            node::hex_decode(&digits, &mut b),
        );
        assert_eq!(ra.is_ok(), rb.is_ok(), "hex_decode of {digits:02x?}");
        if ra.is_ok() {
            assert_eq!(a, b);
        }

        let key = rng.bytes(10);
        if !key.is_empty() {
            let mut a = vec![0; text.len()];
            let mut b = vec![0; text.len()];
            ours::xor_str(&text, &key, &mut a);
            node::xor_str(&text, &key, &mut b);
            assert_eq!(a, b);
        }
    }
}

#[test]
fn random_keys_differ() {
    let keys: std::collections::HashSet<[u8; 8]> = (0..1000).map(|_| ours::random_key()).collect();
    assert_eq!(keys.len(), 1000);
}
