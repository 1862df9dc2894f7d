//! Lua states made ahead of time. Ours: the reference makes each service's
//! state inside its launch (`snlua_init` in `service_snlua.c`).
//!
//! A new state with its standard libraries open (and the code cache module,
//! in generational mode: `snlua::prepare_state`) is the same for every
//! service, and making one is a good part of a launch (a fifth of its
//! instructions). Idle workers make a few in advance ([`refill_one`] runs as
//! a node idle task); a launch takes one ([`take`]) and adopts it for its
//! service's memory account, or makes its own when none is ready. A launch
//! that leaves the pool low asks the node to wake a sleeping worker, which
//! refills it, so a burst of launches on one worker finds states made on
//! the other.

use std::sync::Arc;

use mlua::ffi;
use parking_lot::Mutex;

use crate::lua_state::{LuaState, MemoryAccount};

/// States kept ready.
pub const POOL_TARGET: usize = 8;

/// Below this many ready states a launch asks for a refill.
pub const POOL_LOW: usize = POOL_TARGET / 2;

static POOL: Mutex<Vec<LuaState>> = Mutex::new(Vec::new());

/// A ready state, and whether the pool is now low.
pub fn take() -> (Option<LuaState>, bool) {
    let mut pool = POOL.lock();
    let state = pool.pop();
    (state, pool.len() < POOL_LOW)
}

/// Makes one state if fewer than [`POOL_TARGET`] are ready; false when the
/// pool is full (nothing was done).
pub fn refill_one() -> bool {
    if POOL.lock().len() >= POOL_TARGET {
        return false;
    }
    // Made outside the lock: a launch may take one meanwhile.
    let Some(state) = LuaState::new(Arc::new(MemoryAccount::new(Box::new(|_| {})))) else {
        return false;
    };
    // SAFETY: a fresh state of ours; the preparation runs protected and
    // leaves the stack as it found it.
    let prepared = unsafe {
        let l = state.as_ptr();
        ffi::lua_pushcfunction(l, crate::snlua::prepare_state);
        ffi::lua_pcall(l, 0, 0, 0) == ffi::LUA_OK
    };
    if !prepared {
        return false;
    }
    let mut pool = POOL.lock();
    if pool.len() < POOL_TARGET {
        pool.push(state);
    }
    true
}

/// States ready now.
pub fn ready() -> usize {
    POOL.lock().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_up_to_the_target_and_hands_states_out() {
        while refill_one() {}
        assert!(ready() >= POOL_TARGET);
        let (state, low) = take();
        let mut state = state.expect("a ready state");
        assert!(!low);
        // A taken state works for its new owner.
        let account = Arc::new(MemoryAccount::new(Box::new(|_| {})));
        state.adopt_account(account.clone());
        assert!(account.used() > 0);
        let code = c"return string.format('%d', 6 * 7)";
        // SAFETY: a valid state; the chunk runs protected and the stack is
        // balanced afterwards.
        unsafe {
            let l = state.as_ptr();
            assert_eq!(
                mlua::ffi::luaL_loadstring(l, code.as_ptr()),
                mlua::ffi::LUA_OK
            );
            assert_eq!(mlua::ffi::lua_pcall(l, 0, 1, 0), mlua::ffi::LUA_OK);
            let mut len = 0;
            let p = mlua::ffi::lua_tolstring(l, -1, &mut len);
            assert_eq!(std::slice::from_raw_parts(p as *const u8, len), b"42");
            mlua::ffi::lua_pop(l, 1);
        }
    }
}
