//! `skynet.crypt` and `md5` against vectors produced by the reference's C
//! modules (`lua-crypt.c` + `lsha1.c`, `3rd/lua-md5` + `lualib/md5.lua`) run
//! under Lua 5.4: every function, with valid and invalid arguments.

mod common;

#[test]
fn crypt_matches_reference_vectors() {
    common::check_vectors("skynet.crypt", "crypt.txt");
}

#[test]
fn md5_matches_reference_vectors() {
    common::check_vectors("md5", "md5.txt");
}

#[test]
fn crypt_properties() {
    let lua = common::lua();
    lua.load(
        r#"
        local crypt = require "skynet.crypt"
        assert(require "client.crypt" ~= nil)
        assert(crypt.padding.iso7816_4 == 0 and crypt.padding.pkcs7 == 1)
        -- randomkey: 8 bytes whose xor is never zero, and not constant
        local seen = {}
        for _ = 1, 64 do
            local k = crypt.randomkey()
            assert(#k == 8)
            local x = 0
            for i = 1, 8 do x = x ~ k:byte(i) end
            assert(x ~= 0)
            seen[k] = true
        end
        assert(next(seen, next(seen)) ~= nil, "randomkey repeats")
        -- Diffie-Hellman agrees on both sides
        for _ = 1, 16 do
            local a, b = crypt.randomkey(), crypt.randomkey()
            local A, B = crypt.dhexchange(a), crypt.dhexchange(b)
            assert(crypt.dhsecret(A, b) == crypt.dhsecret(B, a))
        end
        -- the documented identity of hmac64_md5
        local md5 = require "md5"
        local a, b = "12345678", "abcdefgh"
        local m = md5.sum((a .. b):rep(3))
        assert(crypt.hmac64_md5(a, b) == crypt.xor_str(m:sub(1, 8), m:sub(9, 16)))
        "#,
    )
    .exec()
    .expect("crypt properties");
}

#[test]
fn md5_crypt_round_trips_with_time_seed() {
    let lua = common::lua();
    lua.load(
        r#"
        local md5 = require "md5"
        local c = md5.crypt("some secret text", "key")
        assert(c:byte(1) == 8 and #c == 1 + 8 + 16)
        assert(md5.decrypt(c, "key") == "some secret text")
        assert(md5._VERSION == "MD5 1.2")
        "#,
    )
    .exec()
    .expect("md5 crypt");
}
