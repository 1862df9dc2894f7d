//! One `ltls.c` TLS object (`newtls(...)`): a rustls connection driven
//! entirely in memory. Records from the peer go in as byte strings, records
//! for the peer and decrypted plain bytes come out of two buffers, the way
//! the reference's lualib-src/ltls.c drives OpenSSL through a pair of memory
//! BIOs. Sockets stay in Lua (http.tlshelper).
//!
//! Every method reports a failure as the error text to raise; the Lua
//! binding copies it into a fixed buffer and drops it before raising.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

enum State {
    /// A client before its first use: the server name may still change
    /// (`set_ext_host_name`), and rustls fixes it when the connection is made.
    Client {
        config: Arc<ClientConfig>,
        name: Option<ServerName<'static>>,
    },
    Open(Box<Connection>),
    Closed,
}

pub(crate) struct Session {
    state: State,
    /// Records waiting to be handed to Lua for the socket.
    outgoing: Vec<u8>,
    /// Plain bytes decrypted and not handed out yet.
    plain: Vec<u8>,
}

/// Reads a server name as rustls takes it; `None` (no SNI) for an address
/// or for text that is no valid DNS name.
fn server_name(name: &[u8]) -> Option<ServerName<'static>> {
    let name = std::str::from_utf8(name).ok()?;
    match ServerName::try_from(name.to_owned()) {
        Ok(ServerName::DnsName(dns)) => Some(ServerName::DnsName(dns)),
        _ => None,
    }
}

impl Session {
    pub(crate) fn client(config: Arc<ClientConfig>, hostname: Option<&[u8]>) -> Session {
        Session {
            state: State::Client {
                config,
                name: hostname.and_then(server_name),
            },
            outgoing: Vec::new(),
            plain: Vec::new(),
        }
    }

    pub(crate) fn server(config: Arc<ServerConfig>) -> Result<Session, String> {
        let conn = ServerConnection::new(config).map_err(|_| "SSL_new failed".to_owned())?;
        Ok(Session::open(Connection::Server(conn)))
    }

    fn open(mut conn: Connection) -> Session {
        // The Lua side drains everything after each call; no cap needed.
        conn.set_buffer_limit(None);
        Session {
            state: State::Open(Box::new(conn)),
            outgoing: Vec::new(),
            plain: Vec::new(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// `close()`: drops the connection; later use raises "context is closed".
    pub(crate) fn close(&mut self) {
        self.state = State::Closed;
        self.outgoing = Vec::new();
        self.plain = Vec::new();
    }

    /// `set_ext_host_name(name)`: 1 when `name` will be sent as the SNI
    /// server name, 0 when it cannot be (a server, a client that has already
    /// started its handshake, or an address / malformed name).
    pub(crate) fn set_host_name(&mut self, hostname: Option<&[u8]>) -> i32 {
        match &mut self.state {
            State::Client { name, .. } => {
                *name = hostname.and_then(server_name);
                i32::from(name.is_some() || hostname.is_none())
            }
            _ => 0,
        }
    }

    /// The connection, made now for a client used the first time.
    fn connection(&mut self) -> Result<&mut Connection, String> {
        if let State::Client { config, name } = &mut self.state {
            // Without a usable name rustls needs an address: none is sent.
            let name = name.take().unwrap_or(ServerName::IpAddress(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED).into(),
            ));
            let conn = ClientConnection::new(Arc::clone(config), name)
                .map_err(|_| "SSL_new failed".to_owned())?;
            *self = Session {
                outgoing: std::mem::take(&mut self.outgoing),
                plain: std::mem::take(&mut self.plain),
                ..Session::open(Connection::Client(conn))
            };
        }
        match &mut self.state {
            State::Open(conn) => Ok(conn),
            _ => Err("context is closed".to_owned()),
        }
    }

    /// `finished()`: the handshake is over (false for a client not started).
    pub(crate) fn finished(&self) -> bool {
        match &self.state {
            State::Open(conn) => !conn.is_handshaking(),
            _ => false,
        }
    }

    /// `handshake([records])`: takes the peer's records and queues the
    /// answer (see [`Session::take_outgoing`]). Raises once the handshake is
    /// over. Plain bytes that came along stay for the next `read`.
    pub(crate) fn handshake(&mut self, input: &[u8]) -> Result<(), String> {
        if self.finished() {
            return Err("handshake is finished".to_owned());
        }
        let result = self.exchange(input);
        result.map_err(|e| format!("SSL_do_handshake error:1 ret:-1 ({e})"))
    }

    /// `read([records])`: takes the peer's records; the plain bytes
    /// decrypted so far are then in [`Session::take_plain`].
    pub(crate) fn read(&mut self, input: &[u8]) -> Result<(), String> {
        let result = self.exchange(input);
        result.map_err(|e| format!("SSL_read error:1 ({e})"))
    }

    /// `write([plain])`: encrypts `plain`; the records are then in
    /// [`Session::take_outgoing`] with anything queued before.
    pub(crate) fn write(&mut self, plain: &[u8]) -> Result<(), String> {
        let conn = self.connection()?;
        if !plain.is_empty() {
            if let Err(e) = conn.writer().write_all(plain) {
                return Err(format!("SSL_write error:1 ({e})"));
            }
        }
        self.flush().map_err(|e| format!("SSL_write error:1 ({e})"))
    }

    /// Feeds records in, collects plain bytes and queued records.
    fn exchange(&mut self, input: &[u8]) -> Result<(), String> {
        self.connection()?;
        let State::Open(conn) = &mut self.state else {
            return Ok(());
        };
        let mut rest = input;
        // Never hand rustls an empty reader: it would take it as the end of
        // the stream.
        while !rest.is_empty() {
            conn.read_tls(&mut rest).map_err(|e| e.to_string())?;
            let processed = conn.process_new_packets();
            Self::collect_plain(conn, &mut self.plain)?;
            if let Err(e) = processed {
                // The alert rustls queued goes out with the next write.
                let _ = Self::drain(conn, &mut self.outgoing);
                return Err(e.to_string());
            }
        }
        self.flush().map_err(|e| e.to_string())
    }

    fn collect_plain(conn: &mut Connection, plain: &mut Vec<u8>) -> Result<(), String> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match conn.reader().read(&mut buf) {
                // 0: the peer sent close_notify; nothing more will come.
                Ok(0) => return Ok(()),
                Ok(n) => plain.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn drain(conn: &mut Connection, out: &mut Vec<u8>) -> std::io::Result<()> {
        while conn.wants_write() {
            conn.write_tls(out)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.state {
            State::Open(conn) => Self::drain(conn, &mut self.outgoing),
            _ => Ok(()),
        }
    }

    /// The queued records (cleared by [`Session::clear_outgoing`]).
    pub(crate) fn outgoing(&self) -> &[u8] {
        &self.outgoing
    }

    pub(crate) fn clear_outgoing(&mut self) {
        self.outgoing.clear();
    }

    /// The decrypted plain bytes (cleared by [`Session::clear_plain`]).
    pub(crate) fn plain(&self) -> &[u8] {
        &self.plain
    }

    pub(crate) fn clear_plain(&mut self) {
        self.plain.clear();
    }
}
