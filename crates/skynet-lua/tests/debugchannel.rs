//! `skynet.debugchannel` (the reference's `lua-debugchannel.c`): the channel
//! between two Lua states, also across threads, its errors, and `sethook`
//! with hooks that yield the hooked coroutine.

mod common;

use std::ffi::c_void;
use std::sync::mpsc;
use std::thread;

use mlua::{LightUserData, Value};

#[test]
fn channel_in_one_state() {
    let lua = common::lua();
    lua.load(
        r##"
        local dc = require "skynet.debugchannel"
        local w, handle = dc.create()
        assert(type(handle) == "userdata" and getmetatable(w) ~= nil)
        local r = dc.connect(handle)
        -- one reader at a time
        local ok, err = pcall(dc.connect, handle)
        assert(not ok and err:find "new channel failed", err)
        -- first in, first out; nothing queued -> no value
        w:write "one"
        w:write ""
        w:write "three\0bytes"
        assert(r:read() == "one")
        assert(r:read() == "")
        assert(r:read(0.01) == "three\0bytes")
        assert(select("#", r:read()) == 0)
        assert(select("#", r:read(0.01)) == 0)
        -- both sides may write and read
        r:write "back"
        assert(w:read() == "back")
        -- a released reader lets another one connect
        dc.release(r)
        ok, err = pcall(r.read, r)
        assert(not ok and err:find "already released", err)
        local r2 = dc.connect(handle)
        w:write "again"
        assert(r2:read() == "again")
        -- release ignores anything else
        dc.release(nil)
        dc.release({})
        "##,
    )
    .exec()
    .expect("channel in one state");
}

#[test]
fn channel_errors() {
    let lua = common::lua();
    lua.load(
        r##"
        local dc = require "skynet.debugchannel"
        local ok, err = pcall(dc.connect, nil)
        assert(not ok and err:find "Invalid channel pointer", err)
        ok, err = pcall(dc.connect, "text")
        assert(not ok and err:find "Invalid channel pointer", err)
        -- the creator gone: the handle is stale
        local w, handle = dc.create()
        dc.release(w)
        ok, err = pcall(dc.connect, handle)
        assert(not ok and err:find "new channel failed", err)
        local w2, handle2 = dc.create()
        w2 = nil
        collectgarbage()
        collectgarbage()
        ok, err = pcall(dc.connect, handle2)
        assert(not ok and err:find "new channel failed", err)
        -- argument checks
        local w3 = dc.create()
        ok, err = pcall(w3.write, w3, {})
        assert(not ok and err:find "string expected", err)
        ok, err = pcall(w3.read, {})
        assert(not ok and err:find "debugchannel expected", err)
        ok, err = pcall(w3.read, w3, "soon")
        assert(not ok and err:find "number expected", err)
        "##,
    )
    .exec()
    .expect("channel errors");
}

#[test]
fn channel_between_threads() {
    let writer = common::lua();
    let (handle_tx, handle_rx) = mpsc::channel::<usize>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let lua = common::lua();
        let handle = handle_rx.recv().expect("the handle");
        let connect: mlua::Function = lua
            .load(r#"local dc = require "skynet.debugchannel"; return dc.connect"#)
            .eval()
            .expect("connect function");
        let chan: mlua::AnyUserData = connect
            .call(LightUserData(handle as *mut c_void))
            .expect("connect");
        ready_tx.send(()).expect("signal");
        // waits for the lines (up to 100 s each, as the timeout is in tenths)
        let read: mlua::Function = lua
            .load(
                r##"
                local chan = ...
                local got = {}
                while #got < 100 do
                    local line = chan:read(1000)
                    assert(line, "no line within the timeout")
                    got[#got + 1] = line
                end
                return table.concat(got, ",")
                "##,
            )
            .into_function()
            .expect("reader chunk");
        read.call::<String>(chan).expect("read lines")
    });
    let (chan, handle): (mlua::AnyUserData, Value) = writer
        .load(r#"return require("skynet.debugchannel").create()"#)
        .eval()
        .expect("create");
    let Value::LightUserData(handle) = handle else {
        panic!("the handle is not a light userdata: {handle:?}");
    };
    handle_tx.send(handle.0 as usize).expect("send the handle");
    ready_rx.recv().expect("the reader connected");
    let write: mlua::Function = writer
        .load("local chan = ...; for i = 1, 100 do chan:write(tostring(i)) end")
        .into_function()
        .expect("writer chunk");
    write.call::<()>(chan).expect("write lines");
    let got = reader.join().expect("reader thread");
    let want: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    assert_eq!(got, want.join(","));
}

#[test]
fn sethook_yields_and_reports_events() {
    let lua = common::lua();
    lua.load(
        r##"
        local dc = require "skynet.debugchannel"
        local function body(a)
            local b = a + 1
            local c = b * 2
            return c
        end
        -- a line hook that returns true yields the coroutine at every line
        local co = coroutine.create(body)
        local lines = {}
        dc.sethook(co, function(event, line)
            assert(event == "line" and math.type(line) == "integer")
            lines[#lines + 1] = line
            return true
        end, "l")
        local resumes, result = 0
        while coroutine.status(co) ~= "dead" do
            local ok, r = coroutine.resume(co, 20)
            assert(ok, r)
            resumes = resumes + 1
            result = r
        end
        assert(result == 42)
        assert(#lines == 3 and resumes == 4, #lines .. " " .. resumes)
        assert(lines[2] == lines[1] + 1 and lines[3] == lines[2] + 1)

        -- call / return events carry no line; a false result does not yield
        local events = {}
        co = coroutine.create(function() return body(1) end)
        dc.sethook(co, function(event, line)
            assert(line == nil)
            events[#events + 1] = event
        end, "cr")
        local ok, r = coroutine.resume(co)
        assert(ok and r == 4 and coroutine.status(co) == "dead", tostring(r))
        local seen = {}
        for _, e in ipairs(events) do seen[e] = true end
        assert(seen["tail call"] and seen["return"], table.concat(events, ","))

        -- the hook of the running thread when no thread is given; nil clears
        local count = 0
        co = coroutine.create(function()
            dc.sethook(function() count = count + 1 end, "l")
            local x = 1
            x = x + 1
            dc.sethook()
            x = x + 1
            return x
        end)
        ok, r = coroutine.resume(co)
        assert(ok and r == 3 and count == 3, count)

        -- bad arguments
        ok, r = pcall(dc.sethook, function() end)
        assert(not ok and r:find "string expected", r)
        ok, r = pcall(dc.sethook, 1, "l")
        assert(not ok and r:find "function expected", r)
        "##,
    )
    .exec()
    .expect("sethook");
}
