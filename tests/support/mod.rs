//! Helpers shared by the integration tests that boot real nodes: where the
//! repository is, capturing a child's output, a free local port. Each test
//! file that needs them says `mod support;` (a test binary uses only some,
//! hence the `dead_code` allowance).

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

/// The repository root (lualib/, service/, test/ are below it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads `r` to its end on a thread of its own; the bytes are what the
/// handle joins to. A read error ends the capture, keeping what was read.
/// `done`, when given, is signalled once the end is reached.
pub fn capture<R: Read + Send + 'static>(
    mut r: R,
    done: Option<mpsc::Sender<()>>,
) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        if let Some(done) = done {
            let _ = done.send(());
        }
        buf
    })
}

/// A local TCP port that was free a moment ago (the listener is dropped at
/// once, so a test that binds it must cope with losing a race for it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}
