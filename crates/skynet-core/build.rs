//! Compiles the one piece of the C ABI that cannot be written in stable
//! Rust: the variadic `skynet_error`.
fn main() {
    println!("cargo:rerun-if-changed=csrc/skynet_error.c");
    cc::Build::new()
        .file("csrc/skynet_error.c")
        .warnings(true)
        .compile("skynet_error");
}
