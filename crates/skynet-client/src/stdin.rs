//! The non-blocking stdin line reader behind `socket.readstdin()`: a thread
//! reads lines from standard input into a queue that the Lua side polls.
//! Stands for the "quick and dirty none block stdin readline" of the
//! reference's `lua-clientsocket.c`.
//!
//! Unlike the reference, whose reader ends the process (`exit(1)`) when
//! standard input ends, the end of input (or a read error) only stops the
//! reader: `readstdin` has no more lines, and a script whose stdin is
//! `/dev/null` or a finished pipe keeps talking to its server.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Mutex, Once};

/// Lines read and not yet taken, without their `\n`.
static LINES: Mutex<VecDeque<Vec<u8>>> = Mutex::new(VecDeque::new());

static START: Once = Once::new();

/// Starts the reader thread (once per process).
pub fn start() {
    START.call_once(|| {
        // Without the thread readstdin simply never has a line.
        let _ = std::thread::Builder::new()
            .name("client-stdin".into())
            .spawn(read_lines);
    });
}

fn lines() -> std::sync::MutexGuard<'static, VecDeque<Vec<u8>>> {
    LINES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read_lines() {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                lines().push_back(line);
            }
        }
    }
}

/// The length of the oldest waiting line, if any.
pub fn peek_len() -> Option<usize> {
    lines().front().map(Vec::len)
}

/// Moves the oldest waiting line into `out` and returns its length, if it
/// fits; otherwise leaves the queue as it is.
pub fn pop_into(out: &mut [u8]) -> Option<usize> {
    let mut queue = lines();
    let len = queue.front()?.len();
    if len > out.len() {
        return None;
    }
    let line = queue.pop_front()?;
    out[..len].copy_from_slice(&line);
    Some(len)
}
