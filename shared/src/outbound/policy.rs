//! The outbound address policy: which addresses and schemes Warden may send to (back-channel
//! logout now, SSF push next). A pure decision on plain values — an address, a URL, the
//! issuer's locality and an allow-list — so it is unit-tested here and applied by
//! [`crate::outbound::client`] at the one place it cannot be got around: the address the
//! socket connects to (its resolver), and IP-literal URLs before the request.
//!
//! Refused unless allowed: loopback (allowed when the issuer itself is loopback: local mode),
//! private (RFC 1918), link-local, unique-local, shared address space (CGNAT, RFC 6598),
//! unspecified, multicast, broadcast, documentation, benchmarking and other reserved ranges.
//! The cloud metadata addresses are refused always, even when the allow-list covers them.
//! IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses
//! are judged as the IPv4 address they carry. Plain http only in local mode.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network in CIDR notation (`10.1.0.0/16`, `fd12::/16`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix` leading bits (at most 32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Cidr {
        let [a, b, c, d, e, f, g, h] = segments;
        Cidr {
            addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    /// Whether `ip` lies in this network (an IPv4 network holds no IPv6 address and back).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u32::from(net).into(), u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` of `width` bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, width: u8, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(width - prefix);
    (a >> shift) == (b >> shift)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not an address or a CIDR (e.g. 10.1.0.0/16)");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix = match prefix {
            None if addr.is_ipv4() => 32,
            None => 128,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
                p.parse().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        Cidr::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `WARDEN_OUTBOUND_ALLOW`: CIDRs separated by commas or spaces (blank: none). An entry that
/// is not a CIDR is an error naming it.
pub fn parse_allow_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split([',', ' ', '\t', '\n'])
        .filter(|w| !w.is_empty())
        .map(Cidr::from_str)
        .collect()
}

/// The address ranges the policy refuses unless allowed, named as a refusal says them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918); the deprecated site-local fec0::/10 and the
    /// local-use NAT64 prefix 64:ff9b:1::/48.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// fc00::/7 (RFC 4193).
    UniqueLocal,
    /// 100.64/10 (RFC 6598), carrier-grade NAT.
    SharedAddressSpace,
    /// 0.0.0.0/8 ("this network"; 0.0.0.0 reaches the host itself on Linux), `::`.
    Unspecified,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15 (RFC 2544).
    Benchmarking,
    /// 192.0.0/24 (IETF protocol assignments), 240/4, 100::/64 (discard), the rest of ::/96
    /// (IPv4-compatible, deprecated).
    Reserved,
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::LinkLocal => "link-local",
            Range::UniqueLocal => "unique-local",
            Range::SharedAddressSpace => "shared address space (CGNAT)",
            Range::Unspecified => "unspecified",
            Range::Multicast => "multicast",
            Range::Broadcast => "broadcast",
            Range::Documentation => "documentation",
            Range::Benchmarking => "benchmarking",
            Range::Reserved => "reserved",
        })
    }
}

/// The IPv4 ranges, the more specific first.
const V4_RANGES: &[(Cidr, Range)] = &[
    (Cidr::v4(255, 255, 255, 255, 32), Range::Broadcast),
    (Cidr::v4(0, 0, 0, 0, 8), Range::Unspecified),
    (Cidr::v4(10, 0, 0, 0, 8), Range::Private),
    (Cidr::v4(100, 64, 0, 0, 10), Range::SharedAddressSpace),
    (Cidr::v4(127, 0, 0, 0, 8), Range::Loopback),
    (Cidr::v4(169, 254, 0, 0, 16), Range::LinkLocal),
    (Cidr::v4(172, 16, 0, 0, 12), Range::Private),
    (Cidr::v4(192, 0, 0, 0, 24), Range::Reserved),
    (Cidr::v4(192, 0, 2, 0, 24), Range::Documentation),
    (Cidr::v4(192, 168, 0, 0, 16), Range::Private),
    (Cidr::v4(198, 18, 0, 0, 15), Range::Benchmarking),
    (Cidr::v4(198, 51, 100, 0, 24), Range::Documentation),
    (Cidr::v4(203, 0, 113, 0, 24), Range::Documentation),
    (Cidr::v4(224, 0, 0, 0, 4), Range::Multicast),
    (Cidr::v4(240, 0, 0, 0, 4), Range::Reserved),
];

/// The IPv6 ranges (after IPv4-mapped, NAT64 and 6to4 addresses were judged as IPv4), the
/// more specific first.
const V6_RANGES: &[(Cidr, Range)] = &[
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), Range::Unspecified),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Range::Loopback),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 96), Range::Reserved),
    (
        Cidr::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        Range::Private,
    ),
    (Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), Range::Reserved),
    (
        Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        Range::Documentation,
    ),
    (
        Cidr::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        Range::Documentation,
    ),
    (
        Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        Range::UniqueLocal,
    ),
    (
        Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        Range::LinkLocal,
    ),
    (Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Range::Private),
    (Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Range::Multicast),
];

/// The cloud metadata and credential endpoints: the AWS, GCP, Azure and OpenStack instance
/// metadata service (169.254.169.254), the ECS task metadata and credentials endpoint
/// (169.254.170.2) and the AWS IPv6 instance metadata service (fd00:ec2::254). Refused
/// whatever the allow-list says.
const METADATA: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d` (what the
/// socket reaches), NAT64's well-known prefix `64:ff9b::/96` (RFC 6052) and 6to4
/// `2002:aabb:ccdd::/48` (RFC 3056).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let bits = u128::from(ip);
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

/// The range `ip` lies in, if any (a public address: `None`), judging an IPv6 address that
/// carries an IPv4 one ([`embedded_v4`]) as that IPv4 address.
pub fn range_of(ip: IpAddr) -> Option<Range> {
    let (ip, table) = match ip {
        IpAddr::V4(v4) => (IpAddr::V4(v4), V4_RANGES),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => (IpAddr::V4(v4), V4_RANGES),
            None => (IpAddr::V6(v6), V6_RANGES),
        },
    };
    table
        .iter()
        .find(|(net, _)| net.contains(ip))
        .map(|(_, r)| *r)
}

/// Whether `ip` (or the IPv4 address it carries) is a cloud metadata endpoint.
pub fn is_metadata(ip: IpAddr) -> bool {
    let v4 = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    METADATA.contains(&ip) || v4.is_some_and(|v4| METADATA.contains(&v4))
}

/// Why the policy refuses a request. Its text is what a delivery receipt shows as
/// `last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address (as written or resolved; for a `localhost` name, the loopback address it
    /// always means) lies in a refused range.
    Address {
        /// The address, and the IPv4 address it was judged as when that differs
        /// (`::ffff:10.0.0.1 (10.0.0.1)`), or the `localhost` name.
        address: String,
        /// The range.
        range: Range,
        /// A cloud metadata endpoint ([`is_metadata`]).
        metadata: bool,
    },
    /// Plain http outside local mode (or a scheme other than http and https).
    Scheme(String),
    /// Not an absolute http(s) URL with a host.
    Url,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Address {
                address,
                range,
                metadata,
            } => {
                write!(f, "address refused by policy: {address} is {range}")?;
                if *metadata {
                    f.write_str(" (metadata)")?;
                }
                Ok(())
            }
            Refusal::Scheme(s) if s == "http" => f.write_str(
                "refused by policy: plain http is allowed only when the issuer is loopback \
                 (use https)",
            ),
            Refusal::Scheme(s) => write!(f, "refused by policy: scheme {s:?} is not https"),
            Refusal::Url => f.write_str("refused by policy: not an absolute http(s) URL"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether `host` is a name that always means loopback: `localhost` and names under it
/// (RFC 6761 §6.3), with or without the trailing dot.
pub fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// What Warden may send to: loopback only in local mode, private and other special ranges
/// only when the allow-list covers them, metadata endpoints never; https outside local
/// mode. [`AddressPolicy::default`] is a deployment's policy without an allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    local: bool,
    allow: Vec<Cidr>,
}

impl AddressPolicy {
    /// A policy in local mode or not, with an allow-list (`WARDEN_OUTBOUND_ALLOW`).
    pub fn new(local: bool, allow: Vec<Cidr>) -> AddressPolicy {
        AddressPolicy { local, allow }
    }

    /// The policy of a deployment whose issuer is `issuer`: local mode when the issuer's
    /// host is loopback (the local stack), with the allow-list.
    pub fn for_issuer(issuer: &str, allow: Vec<Cidr>) -> AddressPolicy {
        let local = url::Url::parse(issuer).is_ok_and(|u| match u.host() {
            Some(url::Host::Domain(d)) => is_localhost_name(d),
            Some(url::Host::Ipv4(ip)) => range_of(IpAddr::V4(ip)) == Some(Range::Loopback),
            Some(url::Host::Ipv6(ip)) => range_of(IpAddr::V6(ip)) == Some(Range::Loopback),
            None => false,
        });
        AddressPolicy::new(local, allow)
    }

    /// Local mode: the issuer is loopback, so loopback and plain http are allowed.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The allow-list.
    pub fn allow_list(&self) -> &[Cidr] {
        &self.allow
    }

    /// Whether Warden may connect to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let judged = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        let metadata = is_metadata(ip);
        let Some(range) = range_of(ip) else {
            return Ok(());
        };
        let allowed = !metadata
            && ((self.local && range == Range::Loopback)
                || self
                    .allow
                    .iter()
                    .any(|n| n.contains(ip) || n.contains(judged)));
        if allowed {
            return Ok(());
        }
        let address = if judged == ip {
            ip.to_string()
        } else {
            format!("{ip} ({judged})")
        };
        Err(Refusal::Address {
            address,
            range,
            metadata,
        })
    }

    /// Whether `host` may be sent to as far as can be told before resolving it: an IP
    /// literal by [`AddressPolicy::check_ip`], a `localhost` name as the loopback address it
    /// means; any other name is checked when it is resolved.
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), Refusal> {
        match host {
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(*ip)),
            url::Host::Domain(d) if is_localhost_name(d) => self
                .check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .map_err(|_| Refusal::Address {
                    address: d.to_string(),
                    range: Range::Loopback,
                    metadata: false,
                }),
            url::Host::Domain(_) => Ok(()),
        }
    }

    /// Whether a request to `url` may start: https (plain http too in local mode) and a
    /// host that [`AddressPolicy::check_host`] allows. The addresses a host name resolves to
    /// are checked at connect time ([`AddressPolicy::allowed_addresses`]).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refusal> {
        match url.scheme() {
            "https" => {}
            "http" if self.local => {}
            other => return Err(Refusal::Scheme(other.to_string())),
        }
        let host = url.host().ok_or(Refusal::Url)?;
        self.check_host(&host)
    }

    /// The addresses `host` resolved to that Warden may connect to, in their order. When
    /// none may be used, the refusal of the first one (a name that resolved to nothing is
    /// `Ok` and empty: the caller's lookup error).
    pub fn allowed_addresses(&self, host: &str, found: &[IpAddr]) -> Result<Vec<IpAddr>, Refusal> {
        if is_localhost_name(host) {
            self.check_host(&url::Host::Domain(host))?;
        }
        let mut refusal = None;
        let allowed: Vec<IpAddr> = found
            .iter()
            .copied()
            .filter(|ip| match self.check_ip(*ip) {
                Ok(()) => true,
                Err(r) => {
                    refusal.get_or_insert(r);
                    false
                }
            })
            .collect();
        match refusal {
            Some(r) if allowed.is_empty() => Err(r),
            _ => Ok(allowed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn deployed() -> AddressPolicy {
        AddressPolicy::default()
    }

    fn refusal(p: &AddressPolicy, s: &str) -> String {
        p.check_ip(ip(s)).unwrap_err().to_string()
    }

    #[test]
    fn every_special_range_is_refused_by_default_and_named() {
        for (addr, range) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.254", "private"),
            ("192.168.0.1", "private"),
            ("192.168.255.255", "private"),
            ("fec0::1", "private"),
            ("64:ff9b:1::a", "private"),
            ("169.254.0.1", "link-local"),
            ("169.254.255.255", "link-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fc00::1", "unique-local"),
            ("fdff:ffff::1", "unique-local"),
            ("100.64.0.1", "shared address space (CGNAT)"),
            ("100.127.255.254", "shared address space (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("192.0.0.8", "reserved"),
            ("240.0.0.1", "reserved"),
            ("100::1", "reserved"),
            ("::7f00:1", "reserved"),
        ] {
            assert_eq!(
                refusal(&deployed(), addr),
                format!("address refused by policy: {addr} is {range}"),
                "{addr}"
            );
        }
    }

    #[test]
    fn public_addresses_are_allowed_including_the_neighbours_of_special_ranges() {
        for addr in [
            "93.184.216.34",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "fbff::1",
            "fe7f::1",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert_eq!(deployed().check_ip(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn the_metadata_addresses_are_named_and_refused_even_when_allowed() {
        assert_eq!(
            refusal(&deployed(), "169.254.169.254"),
            "address refused by policy: 169.254.169.254 is link-local (metadata)"
        );
        assert_eq!(
            refusal(&deployed(), "169.254.170.2"),
            "address refused by policy: 169.254.170.2 is link-local (metadata)"
        );
        assert_eq!(
            refusal(&deployed(), "fd00:ec2::254"),
            "address refused by policy: fd00:ec2::254 is unique-local (metadata)"
        );
        let open = AddressPolicy::new(
            true,
            parse_allow_list("169.254.0.0/16, fd00::/8, 0.0.0.0/0, ::/0").unwrap(),
        );
        assert_eq!(open.check_ip(ip("169.254.1.1")), Ok(()));
        for m in [
            "169.254.169.254",
            "169.254.170.2",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                refusal(&open, m).ends_with("(metadata)"),
                "{m}: {}",
                refusal(&open, m)
            );
        }
    }

    #[test]
    fn ipv4_mapped_nat64_and_6to4_addresses_are_judged_as_their_ipv4_address() {
        assert_eq!(
            refusal(&deployed(), "::ffff:10.0.0.1"),
            "address refused by policy: ::ffff:10.0.0.1 (10.0.0.1) is private"
        );
        assert_eq!(
            refusal(&deployed(), "::ffff:127.0.0.1"),
            "address refused by policy: ::ffff:127.0.0.1 (127.0.0.1) is loopback"
        );
        assert_eq!(
            refusal(&deployed(), "::ffff:169.254.169.254"),
            "address refused by policy: ::ffff:169.254.169.254 (169.254.169.254) is \
             link-local (metadata)"
        );
        assert!(refusal(&deployed(), "64:ff9b::a00:1").contains("(10.0.0.1) is private"));
        assert!(refusal(&deployed(), "2002:a9fe:a9fe::1").contains("(169.254.169.254)"));
        assert_eq!(deployed().check_ip(ip("::ffff:93.184.216.34")), Ok(()));
        // Judged as IPv4 for the allow-list too, and loopback in local mode.
        let allow = AddressPolicy::new(false, parse_allow_list("10.1.0.0/16").unwrap());
        assert_eq!(allow.check_ip(ip("::ffff:10.1.2.3")), Ok(()));
        assert!(allow.check_ip(ip("::ffff:10.2.0.1")).is_err());
        assert_eq!(
            AddressPolicy::new(true, vec![]).check_ip(ip("::ffff:127.0.0.1")),
            Ok(())
        );
    }

    #[test]
    fn the_allow_list_opens_exactly_its_networks() {
        let p = AddressPolicy::new(
            false,
            parse_allow_list("10.1.0.0/16,192.168.5.0/24 fd12:3456::/32\t100.64.1.1").unwrap(),
        );
        for ok in [
            "10.1.0.1",
            "10.1.255.255",
            "192.168.5.77",
            "fd12:3456::9",
            "100.64.1.1",
        ] {
            assert_eq!(p.check_ip(ip(ok)), Ok(()), "{ok}");
        }
        for refused in [
            "10.0.0.1",
            "10.2.0.0",
            "192.168.4.255",
            "192.168.6.0",
            "fd12:3457::1",
            "100.64.1.2",
            "127.0.0.1",
        ] {
            assert!(p.check_ip(ip(refused)).is_err(), "{refused}");
        }
        assert_eq!(p.allow_list().len(), 4);
        assert_eq!(p.allow_list()[0].to_string(), "10.1.0.0/16");
        assert_eq!(p.allow_list()[3].to_string(), "100.64.1.1/32");
        // Loopback may be allowed explicitly (a sidecar), outside local mode.
        let sidecar = AddressPolicy::new(false, parse_allow_list("127.0.0.1").unwrap());
        assert_eq!(sidecar.check_ip(ip("127.0.0.1")), Ok(()));
        assert!(sidecar.check_ip(ip("127.0.0.2")).is_err());
    }

    #[test]
    fn allow_list_entries_are_checked() {
        assert_eq!(parse_allow_list("").unwrap(), vec![]);
        assert_eq!(parse_allow_list(" , ").unwrap(), vec![]);
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "example.com",
            "10.0.0.0-10.0.0.9",
        ] {
            let e = parse_allow_list(&format!("10.1.0.0/16,{bad}")).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        let all = parse_allow_list("0.0.0.0/0").unwrap();
        assert!(all[0].contains(ip("8.8.8.8")));
        assert!(
            !all[0].contains(ip("::1")),
            "an IPv4 network holds no IPv6 address"
        );
    }

    #[test]
    fn loopback_is_allowed_only_in_local_mode() {
        let local = AddressPolicy::for_issuer("http://127.0.0.1:8080", vec![]);
        assert!(local.is_local());
        for issuer in [
            "http://localhost:3000",
            "http://[::1]:8080",
            "http://127.0.0.2",
        ] {
            assert!(
                AddressPolicy::for_issuer(issuer, vec![]).is_local(),
                "{issuer}"
            );
        }
        for issuer in [
            "https://id.example.com",
            "https://10.0.0.1",
            "https://localhost.example.com",
            "not a url",
        ] {
            assert!(
                !AddressPolicy::for_issuer(issuer, vec![]).is_local(),
                "{issuer}"
            );
        }
        for addr in ["127.0.0.1", "127.0.0.53", "::1"] {
            assert_eq!(local.check_ip(ip(addr)), Ok(()), "{addr}");
            assert!(deployed().check_ip(ip(addr)).is_err(), "{addr}");
        }
        // Local mode opens loopback, nothing else.
        for addr in [
            "10.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "fe80::1",
            "192.168.1.1",
        ] {
            assert!(local.check_ip(ip(addr)).is_err(), "{addr}");
        }
    }

    #[test]
    fn https_is_required_outside_local_mode() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let local = AddressPolicy::new(true, vec![]);
        assert_eq!(deployed().check_url(&u("https://rp.example/bc")), Ok(()));
        assert_eq!(
            deployed().check_url(&u("http://rp.example/bc")),
            Err(Refusal::Scheme("http".into()))
        );
        assert_eq!(
            deployed()
                .check_url(&u("http://rp.example/bc"))
                .unwrap_err()
                .to_string(),
            "refused by policy: plain http is allowed only when the issuer is loopback (use https)"
        );
        assert_eq!(local.check_url(&u("http://rp.example/bc")), Ok(()));
        assert_eq!(local.check_url(&u("http://127.0.0.1:9/bc")), Ok(()));
        for s in [
            "ftp://rp.example/x",
            "file:///etc/passwd",
            "data:text/plain,x",
        ] {
            assert!(local.check_url(&u(s)).is_err(), "{s}");
        }
    }

    #[test]
    fn ip_literal_urls_are_judged_by_their_address_in_every_spelling() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        for s in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/bc",
            "https://[::1]:8443/bc",
            "https://[::ffff:a00:1]/bc",
            "https://0x7f.1/bc",
            "https://2130706433/bc",
            "https://0251.0376.0251.0376/bc",
            "https://[fd00:ec2::254]/",
            "https://0.0.0.0:8080/",
        ] {
            assert!(
                matches!(deployed().check_url(&u(s)), Err(Refusal::Address { .. })),
                "{s}"
            );
        }
        assert_eq!(
            deployed()
                .check_url(&u("https://0251.0376.0251.0376/"))
                .unwrap_err()
                .to_string(),
            "address refused by policy: 169.254.169.254 is link-local (metadata)"
        );
        assert_eq!(deployed().check_url(&u("https://93.184.216.34/bc")), Ok(()));
    }

    #[test]
    fn localhost_names_count_as_loopback_before_any_lookup() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        for s in [
            "https://localhost/bc",
            "https://LOCALHOST:8443/bc",
            "https://app.localhost/bc",
            "https://localhost./bc",
        ] {
            let e = deployed().check_url(&u(s)).unwrap_err();
            assert!(e.to_string().ends_with("is loopback"), "{s}: {e}");
        }
        let local = AddressPolicy::new(true, vec![]);
        assert_eq!(local.check_url(&u("http://localhost:9/bc")), Ok(()));
        assert_eq!(
            deployed().check_url(&u("https://localhost.example/bc")),
            Ok(())
        );
        assert!(deployed().allowed_addresses("localhost", &[]).is_err());
    }

    #[test]
    fn resolved_addresses_are_filtered_and_an_all_refused_name_names_the_first() {
        let found = [ip("10.0.0.1"), ip("93.184.216.34"), ip("169.254.169.254")];
        assert_eq!(
            deployed().allowed_addresses("rp.example", &found),
            Ok(vec![ip("93.184.216.34")])
        );
        assert_eq!(
            deployed()
                .allowed_addresses("private.example.test", &[ip("10.0.0.1"), ip("fd00::1")])
                .unwrap_err()
                .to_string(),
            "address refused by policy: 10.0.0.1 is private"
        );
        assert_eq!(deployed().allowed_addresses("rp.example", &[]), Ok(vec![]));
    }

    #[test]
    fn cidrs_contain_what_they_say() {
        let c: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(c.contains(ip("172.16.0.0")));
        assert!(c.contains(ip("172.31.255.255")));
        assert!(!c.contains(ip("172.32.0.0")));
        assert!(
            !c.contains(ip("::ffff:172.16.0.1")),
            "containment is per family"
        );
        let one: Cidr = "fe80::1".parse().unwrap();
        assert!(one.contains(ip("fe80::1")));
        assert!(!one.contains(ip("fe80::2")));
        assert_eq!(Cidr::new(ip("10.0.0.0"), 33), None);
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("ff02::1")));
    }
}
