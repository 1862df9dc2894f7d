//! The zero-packing of sproto messages (`sproto.pack` / `sproto.unpack`), as
//! in the reference's `sproto_pack` / `sproto_unpack`.
//!
//! The input is cut into 8-byte words (the last one padded with zeros). A word
//! is written as a bitmap byte of its non-zero bytes followed by those bytes;
//! a run of words that are (almost) all non-zero is written raw instead:
//! `0xff`, the number of words minus one, then the words. A run starts at a
//! word with eight non-zero bytes, goes on while words have at least six, and
//! holds at most 256 words.

/// Words per raw run at most.
const MAX_RUN: usize = 256;

/// The most bytes [`pack`] can produce from `len` bytes: two bytes of run
/// header per 2 KiB, plus two.
pub fn max_packed_len(len: usize) -> usize {
    len.div_ceil(2048) * 2 + len + 2
}

/// The 8-byte word at `index` of `src`, zero-padded.
fn word(src: &[u8], index: usize) -> [u8; 8] {
    let mut w = [0u8; 8];
    let start = index * 8;
    let end = (start + 8).min(src.len());
    w[..end - start].copy_from_slice(&src[start..end]);
    w
}

/// Packs `src` into `out` (at least [`max_packed_len`] bytes); returns the
/// packed length.
pub fn pack(src: &[u8], out: &mut [u8]) -> usize {
    let words = src.len().div_ceil(8);
    let mut o = 0;
    // An open raw run: where its header sits in `out`, and its word count.
    let mut run: Option<(usize, usize)> = None;
    for i in 0..words {
        let w = word(src, i);
        let nonzero = w.iter().filter(|&&b| b != 0).count();
        match run {
            Some((at, n)) if nonzero >= 6 => {
                out[o..o + 8].copy_from_slice(&w);
                o += 8;
                run = if n + 1 == MAX_RUN {
                    out[at + 1] = (MAX_RUN - 1) as u8;
                    None
                } else {
                    Some((at, n + 1))
                };
                continue;
            }
            Some((at, n)) => {
                out[at + 1] = (n - 1) as u8;
                run = None;
            }
            None => {}
        }
        if nonzero == 8 {
            out[o] = 0xff;
            out[o + 2..o + 10].copy_from_slice(&w);
            run = Some((o, 1));
            o += 10;
            continue;
        }
        let bitmap_at = o;
        let mut bitmap = 0u8;
        o += 1;
        for (bit, &b) in w.iter().enumerate() {
            if b != 0 {
                bitmap |= 1 << bit;
                out[o] = b;
                o += 1;
            }
        }
        out[bitmap_at] = bitmap;
    }
    if let Some((at, n)) = run {
        out[at + 1] = (n - 1) as u8;
    }
    o
}

/// The length `src` unpacks to; `None` for a truncated stream.
pub fn unpacked_len(src: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut len = 0usize;
    while i < src.len() {
        let head = src[i];
        i += 1;
        if head == 0xff {
            let n = (usize::from(*src.get(i)?) + 1) * 8;
            if src.len() - i < n + 1 {
                return None;
            }
            i += n + 1;
            len += n;
        } else {
            i += head.count_ones() as usize;
            if i > src.len() {
                return None;
            }
            len += 8;
        }
    }
    Some(len)
}

/// Unpacks `src` into `out`, which holds exactly [`unpacked_len`] bytes.
pub fn unpack(src: &[u8], out: &mut [u8]) -> Option<()> {
    let mut i = 0;
    let mut o = 0;
    while i < src.len() {
        let head = src[i];
        i += 1;
        if head == 0xff {
            let n = (usize::from(*src.get(i)?) + 1) * 8;
            let raw = src.get(i + 1..i + 1 + n)?;
            out.get_mut(o..o + n)?.copy_from_slice(raw);
            i += n + 1;
            o += n;
        } else {
            let dst = out.get_mut(o..o + 8)?;
            for (bit, d) in dst.iter_mut().enumerate() {
                *d = if head & (1 << bit) != 0 {
                    let b = *src.get(i)?;
                    i += 1;
                    b
                } else {
                    0
                };
            }
            o += 8;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(src: &[u8]) -> Vec<u8> {
        let mut out = vec![0; max_packed_len(src.len())];
        let n = pack(src, &mut out);
        out.truncate(n);
        out
    }

    fn unpacked(src: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0; unpacked_len(src)?];
        unpack(src, &mut out)?;
        Some(out)
    }

    #[test]
    fn words_with_zeros_get_a_bitmap() {
        let src = [8, 0, 0, 0, 3, 0, 2, 0, 0x19, 0, 0, 0, 0xaa, 1, 0, 0];
        assert_eq!(packed(&src), [0x51, 8, 3, 2, 0x31, 0x19, 0xaa, 1]);
    }

    #[test]
    fn full_words_make_a_raw_run_that_takes_near_full_ones() {
        let mut src = vec![0x8a; 8];
        src.extend([1, 2, 3, 4, 5, 6, 0, 0]);
        src.extend([0, 0, 0, 0, 0, 0, 0, 1]);
        let out = packed(&src);
        assert_eq!(&out[..2], &[0xff, 1]);
        assert_eq!(&out[2..18], &src[..16]);
        assert_eq!(&out[18..], &[0x80, 1]);
        assert_eq!(unpacked(&out).as_deref(), Some(&src[..]));
    }

    #[test]
    fn runs_stop_at_256_words() {
        let src = vec![7u8; 8 * 300];
        let out = packed(&src);
        assert_eq!(&out[..2], &[0xff, 255]);
        assert_eq!(&out[2 + 2048..2 + 2048 + 2], &[0xff, 43]);
        assert!(out.len() <= max_packed_len(src.len()));
        assert_eq!(unpacked(&out), Some(src));
    }

    #[test]
    fn truncated_streams_are_refused() {
        assert_eq!(unpacked_len(&[0xff]), None);
        assert_eq!(unpacked_len(&[0xff, 0, 1, 2]), None);
        assert_eq!(unpacked_len(&[0x03, 1]), None);
        assert_eq!(unpacked_len(&[0x03, 1, 2]), Some(8));
    }
}
