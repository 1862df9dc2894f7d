//! Socket addresses as services see them: the socket protocols, the binary
//! UDP address that travels with every UDP packet and that `udp_send`
//! takes (1 byte protocol, the port in network byte order, then 4 or 16
//! bytes of IP), and the text forms (`ip`, `ip:port`). Stands for
//! `gen_udp_address`, `udp_socket_address` and `getname` of
//! `socket_server.c`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const PROTOCOL_TCP: u8 = 0;
pub const PROTOCOL_UDP: u8 = 1;
pub const PROTOCOL_UDPV6: u8 = 2;
pub const PROTOCOL_UNKNOWN: u8 = 255;

/// The longest UDP address: protocol, port, IPv6.
pub const UDP_ADDRESS_SIZE: usize = 19;
/// Size of an IPv4 UDP address.
pub const UDP_ADDRESS_V4_SIZE: usize = 1 + 2 + 4;

/// A UDP peer in the reference's binary form.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UdpAddress {
    bytes: [u8; UDP_ADDRESS_SIZE],
    len: u8,
}

impl UdpAddress {
    /// The binary form of `addr`.
    pub fn from_socket_addr(addr: &SocketAddr) -> UdpAddress {
        let mut bytes = [0u8; UDP_ADDRESS_SIZE];
        bytes[1..3].copy_from_slice(&addr.port().to_be_bytes());
        let len = match addr.ip() {
            IpAddr::V4(ip) => {
                bytes[0] = PROTOCOL_UDP;
                bytes[3..7].copy_from_slice(&ip.octets());
                UDP_ADDRESS_V4_SIZE
            }
            IpAddr::V6(ip) => {
                bytes[0] = PROTOCOL_UDPV6;
                bytes[3..19].copy_from_slice(&ip.octets());
                UDP_ADDRESS_SIZE
            }
        };
        UdpAddress {
            bytes,
            len: len as u8,
        }
    }

    /// Reads an address from the start of `raw`, by its protocol byte.
    /// `None` when the protocol is not a UDP one or `raw` is too short.
    pub fn parse(raw: &[u8]) -> Option<UdpAddress> {
        let len = match *raw.first()? {
            PROTOCOL_UDP => UDP_ADDRESS_V4_SIZE,
            PROTOCOL_UDPV6 => UDP_ADDRESS_SIZE,
            _ => return None,
        };
        if raw.len() < len {
            return None;
        }
        let mut bytes = [0u8; UDP_ADDRESS_SIZE];
        bytes[..len].copy_from_slice(&raw[..len]);
        Some(UdpAddress {
            bytes,
            len: len as u8,
        })
    }

    /// `PROTOCOL_UDP` or `PROTOCOL_UDPV6`.
    pub fn protocol(&self) -> u8 {
        self.bytes[0]
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The address to send to, for a socket of `protocol`; `None` when the
    /// address is of the other IP version (the reference's "type
    /// mismatch").
    pub fn target(&self, protocol: u8) -> Option<SocketAddr> {
        if self.protocol() != protocol {
            return None;
        }
        let port = u16::from_be_bytes([self.bytes[1], self.bytes[2]]);
        let ip = if protocol == PROTOCOL_UDP {
            let o: [u8; 4] = self.bytes[3..7].try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(o))
        } else {
            let o: [u8; 16] = self.bytes[3..19].try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(o))
        };
        Some(SocketAddr::new(ip, port))
    }
}

/// The socket protocol of a UDP socket of this address family.
pub fn udp_protocol_of(addr: &SocketAddr) -> u8 {
    if addr.is_ipv4() {
        PROTOCOL_UDP
    } else {
        PROTOCOL_UDPV6
    }
}

/// `(ip text, port)` of a binary UDP address string as `udp_address`
/// decodes it: 7 bytes are IPv4, 19 bytes IPv6 (the protocol byte is not
/// looked at); any other size is `None`.
pub fn decode_udp_address(raw: &[u8]) -> Option<(String, u16)> {
    if raw.len() != UDP_ADDRESS_V4_SIZE && raw.len() != UDP_ADDRESS_SIZE {
        return None;
    }
    let port = u16::from_be_bytes([raw[1], raw[2]]);
    let ip = if raw.len() == UDP_ADDRESS_V4_SIZE {
        let o: [u8; 4] = raw[3..7].try_into().ok()?;
        IpAddr::V4(Ipv4Addr::from(o))
    } else {
        let o: [u8; 16] = raw[3..19].try_into().ok()?;
        IpAddr::V6(Ipv6Addr::from(o))
    };
    Some((ip.to_string(), port))
}

/// The IP of `addr` as text (`inet_ntop`).
pub fn ip_text(addr: &SocketAddr) -> String {
    addr.ip().to_string()
}

/// `ip:port`, without brackets for IPv6, as the reference's `getname`.
pub fn name_text(addr: &SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_address_layout() {
        let a: SocketAddr = "127.0.0.1:8765".parse().unwrap();
        let u = UdpAddress::from_socket_addr(&a);
        assert_eq!(u.as_bytes(), &[1, 0x22, 0x3d, 127, 0, 0, 1]);
        assert_eq!(u.target(PROTOCOL_UDP), Some(a));
        assert_eq!(u.target(PROTOCOL_UDPV6), None);
        assert_eq!(UdpAddress::parse(u.as_bytes()), Some(u));
        assert_eq!(
            decode_udp_address(u.as_bytes()),
            Some(("127.0.0.1".to_string(), 8765))
        );

        let b: SocketAddr = "[::1]:53".parse().unwrap();
        let v = UdpAddress::from_socket_addr(&b);
        assert_eq!(v.as_bytes().len(), UDP_ADDRESS_SIZE);
        assert_eq!(v.protocol(), PROTOCOL_UDPV6);
        assert_eq!(v.target(PROTOCOL_UDPV6), Some(b));
        assert_eq!(
            decode_udp_address(v.as_bytes()),
            Some(("::1".to_string(), 53))
        );
    }

    #[test]
    fn bad_udp_addresses_are_refused() {
        assert_eq!(UdpAddress::parse(&[]), None);
        assert_eq!(UdpAddress::parse(&[0, 1, 2, 3, 4, 5, 6]), None);
        assert_eq!(UdpAddress::parse(&[1, 0, 80, 127]), None);
        assert_eq!(UdpAddress::parse(&[2, 0, 80, 0, 0, 0, 0]), None);
        assert_eq!(decode_udp_address(&[1, 2, 3]), None);
    }

    #[test]
    fn names_have_no_brackets() {
        let a: SocketAddr = "[::1]:8000".parse().unwrap();
        assert_eq!(name_text(&a), "::1:8000");
        assert_eq!(ip_text(&a), "::1");
    }
}
