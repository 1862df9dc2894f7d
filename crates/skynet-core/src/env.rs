//! The node's environment table: string keys to string values, filled from
//! the config file and by `SETENV`, read by `GETENV`. Stands for
//! `skynet_env.c`, which keeps them in a private Lua state; a map does.

use std::collections::HashMap;

use parking_lot::RwLock;

#[derive(Default)]
pub struct Env {
    vars: RwLock<HashMap<String, String>>,
}

impl Env {
    pub fn new() -> Env {
        Env::default()
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.vars.read().get(key).cloned()
    }

    /// Sets `key` if it is not set yet. Like the reference, a key is set
    /// once: returns false (and changes nothing) when it already exists.
    pub fn set(&self, key: &str, value: &str) -> bool {
        let mut vars = self.vars.write();
        if vars.contains_key(key) {
            return false;
        }
        vars.insert(key.to_string(), value.to_string());
        true
    }

    /// The integer value of `key`, or `default` (which is then stored, as
    /// the reference's `optint` does).
    pub fn opt_int(&self, key: &str, default: i64) -> i64 {
        match self.get(key) {
            Some(v) => parse_c_long(&v),
            None => {
                self.set(key, &default.to_string());
                default
            }
        }
    }

    /// The value of `key`, or `default` (stored when given).
    pub fn opt_string(&self, key: &str, default: Option<&str>) -> Option<String> {
        match self.get(key) {
            Some(v) => Some(v),
            None => {
                let d = default?;
                self.set(key, d);
                Some(d.to_string())
            }
        }
    }

    /// `"true"` is true, anything else false; a missing key stores the default.
    pub fn opt_bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) => v == "true",
            None => {
                self.set(key, if default { "true" } else { "false" });
                default
            }
        }
    }
}

/// Reads a leading decimal integer the way C's `strtol(s, NULL, 10)` does:
/// leading spaces, an optional sign, digits; anything after is ignored and
/// no digits give 0.
pub fn parse_c_long(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_once_and_get() {
        let e = Env::new();
        assert_eq!(e.get("a"), None);
        assert!(e.set("a", "1"));
        assert!(!e.set("a", "2"));
        assert_eq!(e.get("a").as_deref(), Some("1"));
    }

    #[test]
    fn options_store_their_defaults() {
        let e = Env::new();
        assert_eq!(e.opt_int("thread", 8), 8);
        assert_eq!(e.get("thread").as_deref(), Some("8"));
        assert!(e.opt_bool("profile", true));
        assert_eq!(e.get("profile").as_deref(), Some("true"));
        assert_eq!(e.opt_string("daemon", None), None);
        assert_eq!(e.get("daemon"), None);
        assert_eq!(
            e.opt_string("cpath", Some("./cservice/?.so")).as_deref(),
            Some("./cservice/?.so")
        );
        e.set("harbor", "3x");
        assert_eq!(e.opt_int("harbor", 1), 3);
        e.set("flag", "yes");
        assert!(!e.opt_bool("flag", true));
    }

    #[test]
    fn c_long_parsing() {
        assert_eq!(parse_c_long("  42abc"), 42);
        assert_eq!(parse_c_long("-7"), -7);
        assert_eq!(parse_c_long("x"), 0);
        assert_eq!(parse_c_long(""), 0);
    }
}
