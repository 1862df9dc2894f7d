//! The binary sproto schema: a bundle of types and protocols, itself encoded
//! in the sproto wire format (see `lualib/sprotoparser.lua` for the writer).
//! Reading follows the reference's `sproto_create` and its checks: a bundle
//! it refuses is refused here, and every length is bounds-checked.
//!
//! ```text
//! .type     { name 0 : string  fields 1 : *field }
//! .field    { name 0 : string  buildin 1 : integer  type 2 : integer
//!             tag 3 : integer  array 4 : boolean  key 5 : integer  map 6 : boolean }
//! .protocol { name 0 : string  tag 1 : integer  request 2 : integer
//!             response 3 : integer  confirm 4 : boolean }
//! .group    { type 0 : *type  protocol 1 : *protocol }
//! ```

use std::ffi::{CStr, CString};
use std::fmt::Write as _;

/// Built-in field types (the values of `buildin`).
pub const TINTEGER: i32 = 0;
pub const TBOOLEAN: i32 = 1;
pub const TSTRING: i32 = 2;
pub const TDOUBLE: i32 = 3;
pub const TSTRUCT: i32 = 4;

/// String sub type: binary.
pub const STRING_BINARY: i32 = 1;

/// One field of a type.
#[derive(Debug)]
pub struct Field {
    pub name: CString,
    pub tag: i32,
    /// One of the `T*` constants (without the array flag).
    pub kind: i32,
    pub array: bool,
    /// For `TSTRUCT`: the type, by index in [`Sproto::types`].
    pub subtype: Option<usize>,
    /// The main index tag of an array of structs, or -1.
    pub key: i32,
    /// A two-field struct array read as a key → value map.
    pub map: bool,
    /// Integers: the decimal scale (10^precision), 0 for plain integers.
    /// Strings: 1 for binary.
    pub extra: i32,
}

/// A user defined type.
#[derive(Debug)]
pub struct Type {
    pub name: CString,
    pub fields: Vec<Field>,
    /// The tag of the first field when the tags are contiguous, else -1.
    pub base: i32,
    /// The most header slots an encoding can use (fields plus tag gaps).
    pub maxn: usize,
    /// The schema this type belongs to (set once the schema is boxed).
    owner: *const Sproto,
}

/// A protocol (an RPC name with its request and response types).
#[derive(Debug)]
pub struct Protocol {
    pub name: CString,
    pub tag: i32,
    pub request: Option<usize>,
    pub response: Option<usize>,
    /// Non-zero when the response is declared `nil`.
    pub confirm: i32,
}

/// A whole schema.
#[derive(Debug)]
pub struct Sproto {
    pub types: Vec<Type>,
    pub protocols: Vec<Protocol>,
}

// SAFETY: a Sproto is immutable once created; `owner` only points back into
// the same boxed schema, which is shared read-only between Lua states (as the
// reference shares it through `sproto.sharenew`).
unsafe impl Send for Sproto {}
unsafe impl Sync for Sproto {}

impl Type {
    /// The struct type of a field of this type.
    pub fn subtype(&self, f: &Field) -> Option<&Type> {
        // SAFETY: `owner` is set by `Sproto::create` to the boxed schema
        // holding this type; types are only reachable while it lives.
        let owner = unsafe { self.owner.as_ref()? };
        owner.types.get(f.subtype?)
    }

    /// The field with `tag`.
    pub fn field_by_tag(&self, tag: i32) -> Option<&Field> {
        if self.base >= 0 {
            let i = tag.checked_sub(self.base)?;
            return usize::try_from(i).ok().and_then(|i| self.fields.get(i));
        }
        self.fields
            .binary_search_by(|f| f.tag.cmp(&tag))
            .ok()
            .map(|i| &self.fields[i])
    }

    pub fn name_str(&self) -> &str {
        self.name.to_str().unwrap_or("?")
    }
}

// ---------------------------------------------------------------------------
// Reading

fn word(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 2)?;
    Some(u32::from(s[0]) | (u32::from(s[1]) << 8))
}

fn dword(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A struct of the wire format: its header slots and its data items.
struct Record<'a> {
    slots: Vec<u32>,
    data: Vec<&'a [u8]>,
}

/// Splits a struct into header slots and data items (each with its length
/// prefix removed); `None` when a data item overruns the struct. As in the
/// reference, a struct needs at least four bytes.
fn read_record(b: &[u8]) -> Option<Record<'_>> {
    if b.len() < 4 {
        return None;
    }
    let n = word(b, 0)? as usize;
    let header = 2 + 2 * n;
    if b.len() < header {
        return None;
    }
    let mut slots = Vec::with_capacity(n);
    let mut data = Vec::new();
    let mut at = header;
    for i in 0..n {
        let v = word(b, 2 + 2 * i)?;
        slots.push(v);
        if v == 0 {
            let len = dword(b, at)? as usize;
            let item = b.get(at + 4..(at + 4).checked_add(len)?)?;
            data.push(item);
            at += 4 + len;
        }
    }
    Some(Record { slots, data })
}

/// Splits an array data item into its elements (each with its length prefix
/// removed).
fn read_array(b: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let len = dword(b, at)? as usize;
        out.push(b.get(at + 4..(at + 4).checked_add(len)?)?);
        at += 4 + len;
    }
    Some(out)
}

/// A C string of the bytes up to the first zero (names are C strings).
fn name_of(b: &[u8]) -> CString {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    CString::new(&b[..end]).unwrap_or_default()
}

/// 10^n in wrapping C `int` arithmetic, as the reference computes decimal
/// scales.
fn pow10(n: i32) -> i32 {
    let (mut base, mut n, mut r) = (10i32, n, 1i32);
    while n > 0 {
        if n & 1 == 1 {
            r = r.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        n >>= 1;
    }
    r
}

fn read_field(b: &[u8], type_count: usize) -> Option<Field> {
    let rec = read_record(b)?;
    let mut f = Field {
        name: CString::default(),
        tag: -1,
        kind: -1,
        array: false,
        subtype: None,
        key: -1,
        map: false,
        extra: 0,
    };
    let mut have_name = false;
    let mut tag: i64 = -1;
    for &v in &rec.slots {
        tag += 1;
        if v & 1 != 0 {
            tag += i64::from(v / 2);
            continue;
        }
        if tag == 0 {
            if v != 0 {
                return None;
            }
            f.name = name_of(rec.data.first()?);
            have_name = true;
            continue;
        }
        if v == 0 {
            return None;
        }
        let value = (v / 2) as i32 - 1;
        match tag {
            1 => {
                if value >= TSTRUCT {
                    return None;
                }
                f.kind = value;
            }
            2 => {
                if f.kind == TINTEGER {
                    f.extra = pow10(value);
                } else if f.kind == TSTRING {
                    f.extra = value;
                } else {
                    if value as usize >= type_count || f.kind >= 0 {
                        return None;
                    }
                    f.kind = TSTRUCT;
                    f.subtype = Some(value as usize);
                }
            }
            3 => f.tag = value,
            4 => f.array = value != 0,
            5 => f.key = value,
            6 => f.map = value != 0,
            _ => return None,
        }
    }
    if f.tag < 0 || f.kind < 0 || !have_name {
        return None;
    }
    Some(f)
}

fn read_type(b: &[u8], type_count: usize) -> Option<Type> {
    let rec = read_record(b)?;
    if rec.slots.is_empty() || rec.slots.len() > 2 || rec.slots.iter().any(|&v| v != 0) {
        return None;
    }
    let mut t = Type {
        name: name_of(rec.data.first()?),
        fields: Vec::new(),
        base: -1,
        maxn: 0,
        owner: std::ptr::null(),
    };
    let Some(items) = rec.data.get(1) else {
        return Some(t);
    };
    let mut last = -1;
    let mut maxn = 0;
    for item in read_array(items)? {
        let f = read_field(item, type_count)?;
        if f.tag <= last {
            return None;
        }
        if f.tag > last + 1 {
            maxn += 1;
        }
        maxn += 1;
        last = f.tag;
        t.fields.push(f);
    }
    t.maxn = maxn;
    if let (Some(first), Some(end)) = (t.fields.first(), t.fields.last()) {
        let span = i64::from(end.tag) - i64::from(first.tag) + 1;
        t.base = if span == t.fields.len() as i64 {
            first.tag
        } else {
            -1
        };
    }
    Some(t)
}

fn read_protocol(b: &[u8], type_count: usize) -> Option<Protocol> {
    let rec = read_record(b)?;
    let mut p = Protocol {
        name: CString::default(),
        tag: -1,
        request: None,
        response: None,
        confirm: 0,
    };
    let mut have_name = false;
    // Slots are read by position; skips only leave a position unused.
    for (i, &v) in rec.slots.iter().enumerate() {
        if v & 1 != 0 {
            continue;
        }
        let value = (v / 2) as i32 - 1;
        let type_index = || usize::try_from(value).ok().filter(|&t| t < type_count);
        match i {
            0 => {
                if value != -1 {
                    return None;
                }
                p.name = name_of(rec.data.first()?);
                have_name = true;
            }
            1 => {
                if value < 0 {
                    return None;
                }
                p.tag = value;
            }
            2 => p.request = Some(type_index()?),
            3 => p.response = Some(type_index()?),
            4 => p.confirm = value,
            _ => return None,
        }
    }
    if !have_name || p.tag < 0 {
        return None;
    }
    Some(p)
}

impl Sproto {
    /// Reads a binary schema; `None` when the reference would refuse it, or
    /// when a map field names no two-field struct (which it would accept and
    /// then crash on).
    pub fn create(bundle: &[u8]) -> Option<Box<Sproto>> {
        let rec = read_record(bundle)?;
        if rec.slots.len() > 2 || rec.slots.iter().any(|&v| v != 0) {
            return None;
        }
        let type_items = match rec.data.first() {
            Some(d) => read_array(d)?,
            None => Vec::new(),
        };
        let proto_items = match rec.data.get(1) {
            Some(d) => read_array(d)?,
            None => Vec::new(),
        };
        let n = type_items.len();
        let types = type_items
            .iter()
            .map(|item| read_type(item, n))
            .collect::<Option<Vec<_>>>()?;
        let protocols = proto_items
            .iter()
            .map(|item| read_protocol(item, n))
            .collect::<Option<Vec<_>>>()?;
        for t in &types {
            for f in &t.fields {
                let two_fields = f
                    .subtype
                    .and_then(|i| types.get(i))
                    .is_some_and(|st| st.fields.len() >= 2);
                if f.map && f.key >= 0 && f.array && !two_fields {
                    return None;
                }
            }
        }
        let mut sp = Box::new(Sproto { types, protocols });
        let owner: *const Sproto = &*sp;
        for t in &mut sp.types {
            t.owner = owner;
        }
        Some(sp)
    }

    /// The type named `name`.
    pub fn type_by_name(&self, name: &[u8]) -> Option<&Type> {
        self.types.iter().find(|t| t.name.as_bytes() == name)
    }

    /// The protocol with `tag` (binary search, as protocols are sorted).
    pub fn protocol_by_tag(&self, tag: i32) -> Option<&Protocol> {
        let mut lo = 0;
        let mut hi = self.protocols.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            let t = self.protocols[mid].tag;
            if t == tag {
                return Some(&self.protocols[mid]);
            }
            if tag > t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        None
    }

    /// The tag of the protocol named `name`.
    pub fn protocol_tag(&self, name: &[u8]) -> Option<i32> {
        self.protocols
            .iter()
            .find(|p| p.name.as_bytes() == name)
            .map(|p| p.tag)
    }

    fn type_name_of(&self, index: Option<usize>) -> Option<&CStr> {
        index
            .and_then(|i| self.types.get(i))
            .map(|t| t.name.as_c_str())
    }

    /// The text of `dumpproto`.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "=== {} types ===", self.types.len());
        for t in &self.types {
            let _ = writeln!(s, "{}", t.name.to_string_lossy());
            for f in &t.fields {
                let tname: String = match f.kind {
                    TSTRUCT => t
                        .subtype(f)
                        .map(|st| st.name.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    TINTEGER if f.extra != 0 => "decimal".into(),
                    TINTEGER => "integer".into(),
                    TBOOLEAN => "boolean".into(),
                    TSTRING if f.extra == STRING_BINARY => "binary".into(),
                    TSTRING => "string".into(),
                    TDOUBLE => "double".into(),
                    _ => "invalid".into(),
                };
                let star = if f.array { "*" } else { "" };
                let _ = write!(
                    s,
                    "\t{} ({}) {star}{tname}",
                    f.name.to_string_lossy(),
                    f.tag
                );
                if f.kind == TINTEGER && f.extra > 0 {
                    let _ = write!(s, "({})", f.extra);
                }
                if f.key >= 0 {
                    let _ = write!(s, " key[{}]", f.key);
                    if f.map {
                        let value_tag = t
                            .subtype(f)
                            .and_then(|st| st.fields.get(1))
                            .map_or(-1, |v| v.tag);
                        let _ = write!(s, " value[{value_tag}]");
                    }
                }
                s.push('\n');
            }
        }
        let _ = writeln!(s, "=== {} protocol ===", self.protocols.len());
        for p in &self.protocols {
            let name = p.name.to_string_lossy();
            match self.type_name_of(p.request) {
                Some(r) => {
                    let _ = write!(s, "\t{name} ({}) request:{}", p.tag, r.to_string_lossy());
                }
                None => {
                    let _ = write!(s, "\t{name} ({}) request:(null)", p.tag);
                }
            }
            if let Some(r) = self.type_name_of(p.response) {
                let _ = write!(s, " response:{}", r.to_string_lossy());
            } else if p.confirm != 0 {
                s.push_str(" response nil");
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_short_and_overrunning_bundles() {
        assert!(Sproto::create(b"").is_none());
        assert!(Sproto::create(b"\0\0").is_none());
        assert!(Sproto::create(b"\x01\0\0\0\xff\xff\xff\xff").is_none());
        assert!(Sproto::create(b"\x03\0\0\0\0\0\0\0").is_none());
    }

    #[test]
    fn empty_bundle_has_nothing() {
        let sp = Sproto::create(b"\0\0\0\0").expect("empty bundle");
        assert!(sp.types.is_empty() && sp.protocols.is_empty());
    }

    #[test]
    fn pow10_wraps_like_c_int() {
        assert_eq!(pow10(0), 1);
        assert_eq!(pow10(2), 100);
        assert_eq!(pow10(9), 1_000_000_000);
        assert_eq!(pow10(10), 10i32.wrapping_pow(10));
    }
}
