//! Network values in the config file: client allow-lists (`Cidr`, as in
//! `allow_from = ["10.0.0.0/8"]`) and backend node addresses (`NodeAddr`,
//! `"host:port"`).
//!
//! Parsing only; no DNS. The session layer calls `Cidr::contains` (through
//! `User::allows`) on every accepted client; the backend layer resolves
//! `NodeAddr::host` when it is a name and not an IP.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An IP network: an address and a prefix length (`127.0.0.1/32`, `::1/128`).
///
/// A bare address (`"10.1.2.3"`) is read as a single host. Host bits must be
/// zero (`10.0.0.1/8` is refused: it is usually a typo for `10.0.0.0/8` or
/// `10.0.0.1/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.1.2.3`, what a dual-stack listener reports for an IPv4
    /// client) match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(ip) & mask == u32::from(net) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(ip) & mask == u128::from(net) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

fn mask128(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("invalid network {text:?}: {addr_text:?} is not an IP address"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => {
                    return Err(format!(
                        "invalid network {text:?}: prefix length must be 0..={max}"
                    ))
                }
            },
        };
        let host_bits_set = match addr {
            IpAddr::V4(a) => u32::from(a) & !mask32(prefix) != 0,
            IpAddr::V6(a) => u128::from(a) & !mask128(prefix) != 0,
        };
        if host_bits_set {
            let net = match addr {
                IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(prefix)).into()),
                IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(prefix)).into()),
            };
            return Err(format!(
                "invalid network {text:?}: host bits are set; write {net}/{prefix} for the network or {addr}/{max} for one host"
            ));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A backend node address as written in the config: `"host:port"`, where host
/// is an IPv4 address, a bracketed IPv6 address (`"[::1]:3310"`) or a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    /// The text from the config, trimmed: what logs and the admin port show.
    pub text: String,
    /// The host part, without brackets.
    pub host: String,
    pub port: u16,
    /// Set when the host is an IP address (no resolution needed).
    pub socket: Option<SocketAddr>,
}

impl NodeAddr {
    /// A key that is equal for two spellings of the same endpoint as far as
    /// can be told without DNS (case of host names, IPv6 spelling).
    pub fn identity(&self) -> String {
        match self.socket {
            Some(sa) => sa.to_string(),
            None => format!("{}:{}", self.host.to_ascii_lowercase(), self.port),
        }
    }
}

impl FromStr for NodeAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            if sa.port() == 0 {
                return Err(format!("invalid address {text:?}: port must be 1..=65535"));
            }
            return Ok(NodeAddr {
                text: s.to_string(),
                host: sa.ip().to_string(),
                port: sa.port(),
                socket: Some(sa),
            });
        }
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!(
                "invalid address {text:?}: expected \"host:port\", e.g. \"127.0.0.1:3306\""
            ));
        };
        if host.is_empty() {
            return Err(format!("invalid address {text:?}: host is empty"));
        }
        if host.contains(':') || host.starts_with('[') {
            return Err(format!(
                "invalid address {text:?}: write IPv6 addresses in brackets, e.g. \"[::1]:3306\""
            ));
        }
        let valid_name = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !valid_name {
            return Err(format!(
                "invalid address {text:?}: host {host:?} is not an IP address or a host name"
            ));
        }
        let port: u16 = match port.parse() {
            Ok(p) if p > 0 && !port.starts_with('+') => p,
            _ => {
                return Err(format!(
                    "invalid address {text:?}: port {port:?} must be 1..=65535"
                ))
            }
        };
        Ok(NodeAddr {
            text: s.to_string(),
            host: host.to_string(),
            port,
            socket: None,
        })
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_v4_matching() {
        let net = cidr("10.0.0.0/8");
        assert!(net.contains(ip("10.0.0.1")));
        assert!(net.contains(ip("10.255.255.255")));
        assert!(!net.contains(ip("11.0.0.0")));
        assert!(!net.contains(ip("9.255.255.255")));
        let host = cidr("127.0.0.1/32");
        assert!(host.contains(ip("127.0.0.1")));
        assert!(!host.contains(ip("127.0.0.2")));
        let any = cidr("0.0.0.0/0");
        assert!(any.contains(ip("203.0.113.9")));
        assert!(
            !any.contains(ip("::1")),
            "an IPv4 network never matches IPv6"
        );
    }

    #[test]
    fn cidr_v6_matching() {
        let lo = cidr("::1/128");
        assert!(lo.contains(ip("::1")));
        assert!(!lo.contains(ip("::2")));
        assert!(!lo.contains(ip("127.0.0.1")));
        let net = cidr("fd00::/8");
        assert!(net.contains(ip("fd12:3456::1")));
        assert!(!net.contains(ip("fe80::1")));
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn cidr_matches_ipv4_mapped_clients() {
        assert!(cidr("127.0.0.1/32").contains(ip("::ffff:127.0.0.1")));
        assert!(cidr("10.0.0.0/8").contains(ip("::ffff:10.9.8.7")));
        assert!(!cidr("10.0.0.0/8").contains(ip("::ffff:11.9.8.7")));
    }

    #[test]
    fn cidr_bare_address_is_one_host() {
        let c = cidr("192.0.2.7");
        assert_eq!(c.prefix(), 32);
        assert_eq!(c.to_string(), "192.0.2.7/32");
        assert_eq!(cidr("::1").prefix(), 128);
    }

    #[test]
    fn cidr_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0/8",
            "localhost/32",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} should be refused");
        }
        let e = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(e.contains("10.0.0.0/8") && e.contains("10.0.0.1/32"), "{e}");
    }

    #[test]
    fn node_addr_forms() {
        let a: NodeAddr = "127.0.0.1:3310".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 3310));
        assert_eq!(a.socket, Some("127.0.0.1:3310".parse().unwrap()));
        let b: NodeAddr = "[::1]:3310".parse().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 3310));
        assert!(b.socket.is_some());
        let c: NodeAddr = "db-1.example.internal:3306".parse().unwrap();
        assert_eq!(c.host, "db-1.example.internal");
        assert_eq!(c.socket, None);
        assert_eq!(c.to_string(), "db-1.example.internal:3306");
    }

    #[test]
    fn node_addr_refused() {
        for bad in [
            "",
            "127.0.0.1",
            ":3306",
            "host:",
            "host:0",
            "host:65536",
            "host:+1",
            "::1:3306",
            "bad host:3306",
            "127.0.0.1:0",
        ] {
            assert!(
                bad.parse::<NodeAddr>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn node_addr_identity_ignores_case_and_spelling() {
        let a: NodeAddr = "DB1:3306".parse().unwrap();
        let b: NodeAddr = "db1:3306".parse().unwrap();
        assert_eq!(a.identity(), b.identity());
        let c: NodeAddr = "[0:0::1]:3306".parse().unwrap();
        let d: NodeAddr = "[::1]:3306".parse().unwrap();
        assert_eq!(c.identity(), d.identity());
    }
}
