//! `daemon` mode: detach from the terminal and keep a pid file. Stands for
//! `skynet_daemon.c`. Must run before any thread is started.

use std::fs::OpenOptions;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;

/// Pid of a live process recorded in `pidfile` (other than us), if any.
fn running_pid(pidfile: &str) -> Option<i32> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let pid: i32 = text.split_whitespace().next()?.parse().ok()?;
    // SAFETY: getpid has no preconditions.
    if pid == 0 || pid == unsafe { libc::getpid() } {
        return None;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return None;
    }
    Some(pid)
}

/// Detaches the process and writes `pidfile`; the error is the line to print.
pub fn daemonize(pidfile: &str) -> Result<std::fs::File, String> {
    if let Some(pid) = running_pid(pidfile) {
        return Err(format!("Skynet is already running, pid = {pid}."));
    }
    // SAFETY: daemon(1, 1) forks and detaches; no other thread runs yet.
    if unsafe { libc::daemon(1, 1) } != 0 {
        return Err(format!(
            "Can't daemonize: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(pidfile)
        .map_err(|_| format!("Can't create pidfile [{pidfile}]."))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == -1 {
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        return Err(match s.trim().parse::<i32>() {
            Ok(pid) => format!("Can't lock pidfile, lock is held by pid {pid}."),
            Err(_) => "Can't lock and read pidfile.".to_string(),
        });
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    f.set_len(0).map_err(|_| "Can't write pid.".to_string())?;
    f.rewind().map_err(|_| "Can't write pid.".to_string())?;
    writeln!(f, "{pid}").map_err(|_| "Can't write pid.".to_string())?;
    redirect_stdio()?;
    Ok(f)
}

fn redirect_stdio() -> Result<(), String> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("Unable to open /dev/null: {e}"))?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of our own process.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(format!("Unable to dup2 fd {fd}"));
        }
    }
    Ok(())
}

/// Removes the pid file at exit.
pub fn daemon_exit(pidfile: &str) {
    let _ = std::fs::remove_file(pidfile);
}
