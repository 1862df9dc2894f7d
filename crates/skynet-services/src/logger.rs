//! The `logger` service: the node's one log sink. Stands for the
//! reference's `service-src/service_logger.c`.
//!
//! Each PTYPE_TEXT message becomes a line `[:%08x] text` (the source
//! handle). With an argument the lines are appended to that file, prefixed
//! by the local time `dd/mm/yy HH:MM:SS.cc`; without one they go to stdout.
//! A PTYPE_SYSTEM message (sent on SIGHUP) reopens the file, for log
//! rotation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Arc;

use skynet_core::message::{PTYPE_SYSTEM, PTYPE_TEXT};
use skynet_core::{Context, Message, Node, Service};

enum Sink {
    Stdout,
    File { path: String, file: File },
}

pub struct Logger {
    sink: Sink,
    starttime: u32,
}

/// Registers the `logger` module with a node.
pub fn register(node: &Node) {
    node.modules().register(
        "logger",
        Arc::new(|| {
            Box::new(Logger {
                sink: Sink::Stdout,
                starttime: 0,
            }) as Box<dyn Service>
        }),
    );
}

fn open_append(path: &str) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `dd/mm/yy HH:MM:SS` in local time.
fn local_time(secs: i64) -> String {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r fills the tm we own; strftime writes at most
    // buf.len() bytes and returns how many it wrote.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%d/%m/%y %H:%M:%S".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Service for Logger {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        self.starttime = ctx.node().timer().starttime();
        if !args.is_empty() {
            let file = open_append(args).map_err(|e| format!("logger: can't open {args}: {e}"))?;
            self.sink = Sink::File {
                path: args.to_string(),
                file,
            };
        }
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        match msg.ptype {
            PTYPE_SYSTEM => {
                if let Sink::File { path, file } = &mut self.sink {
                    if let Ok(f) = open_append(path) {
                        *file = f;
                    }
                }
            }
            PTYPE_TEXT => {
                let mut line = Vec::with_capacity(msg.payload.len() + 32);
                if let Sink::File { .. } = self.sink {
                    let now = ctx.node().now();
                    let stamp = local_time(self.starttime as i64 + (now / 100) as i64);
                    let _ = write!(line, "{stamp}.{:02} ", now % 100);
                }
                let _ = write!(line, "[:{:08x}] ", msg.source);
                line.extend_from_slice(msg.payload.as_slice());
                line.push(b'\n');
                let _ = match &mut self.sink {
                    Sink::Stdout => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&line).and_then(|_| out.flush())
                    }
                    Sink::File { file, .. } => file.write_all(&line).and_then(|_| file.flush()),
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_has_the_reference_shape() {
        let s = local_time(0);
        assert_eq!(s.len(), 17, "{s}");
        assert_eq!(&s[2..3], "/");
        assert_eq!(&s[5..6], "/");
        assert_eq!(&s[11..12], ":");
    }
}
