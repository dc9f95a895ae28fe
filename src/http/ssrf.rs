//! The SSRF guard: webhooks may only reach public addresses over http(s) (no address of the IANA
//! special-purpose registries, nor an IPv6 form of a forbidden IPv4 address), unless
//! `CLIENTBASE_WEBHOOK_ALLOWED_HOSTS` lets a host or network through. The check runs when an
//! endpoint is saved and again inside the HTTP client's resolver at every delivery, so a name
//! that later resolves to a private address is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// Hosts (exact names) and networks (CIDRs or single addresses) exempt from the guard.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    pub fn parse(s: &str) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                list.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                list.nets.push(IpNet::from(ip));
            } else if entry.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                list.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(format!("'{entry}' is neither a host name, an address nor a CIDR"));
            }
        }
        Ok(list)
    }

    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// The IANA IPv4 Special-Purpose Address Registry (every entry, globally reachable or not),
/// plus multicast.
const SPECIAL_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
];

/// The IANA IPv6 Special-Purpose Address Registry, plus the deprecated IPv4-compatible and
/// site-local ranges and multicast.
const SPECIAL_V6: &[&str] = &[
    "::/96",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "2620:4f:8000::/48",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

fn special() -> &'static [IpNet] {
    static NETS: std::sync::OnceLock<Vec<IpNet>> = std::sync::OnceLock::new();
    NETS.get_or_init(|| {
        SPECIAL_V4.iter().chain(SPECIAL_V6).map(|n| n.parse().expect("a special-purpose network")).collect()
    })
}

/// The IPv4 address an IPv6 address carries: mapped and compatible forms, NAT64 (RFC 6052 at
/// /96), 6to4, Teredo's client and ISATAP's interface identifier.
pub fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff) {
        return Some(tail);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(Ipv4Addr::from(!u32::from(tail)));
    }
    if s[4] & 0xfdff == 0 && s[5] == 0x5efe {
        return Some(tail);
    }
    None
}

/// Every special-purpose address of the IANA registries (loopback, private, link-local and
/// cloud metadata, shared, benchmarking, documentation, translation and tunnel prefixes…), and
/// every IPv6 address that embeds a forbidden IPv4 one.
pub fn forbidden(ip: IpAddr) -> bool {
    if special().iter().any(|n| n.contains(&ip)) {
        return true;
    }
    match ip {
        IpAddr::V4(_) => false,
        IpAddr::V6(v6) => embedded_v4(v6).is_some_and(|v4| forbidden(IpAddr::V4(v4))),
    }
}

fn address_ok(ip: IpAddr, allow: &AllowList) -> bool {
    !forbidden(ip) || allow.allows_ip(ip)
}

/// The outbound URLs the contract declares, each of which [`check_url`] parses: http(s), a host
/// name (its last label not all digits, which would make it an IPv4 address) or a dotted IPv4
/// address, a port below 60000, a path and a query. The server accepts any URL the WHATWG
/// parser does (IPv6 hosts, escapes…); the pattern is the part a generator or a form can rely on.
pub const URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(([A-Za-z0-9-]+\.)*[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*",
    r"|((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9]))",
    r"(:[1-5]?[0-9]{1,4})?",
    r"(/[A-Za-z0-9._~/-]*)?",
    r"(\?[A-Za-z0-9._~=&-]*)?$",
);

/// Checks a URL an endpoint is to be saved with: http(s), no credentials, and every address
/// its host resolves to permitted.
pub async fn check_url(url: &str, allow: &AllowList) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "is not a valid URL".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = parsed.host_str().ok_or("has no host")?.trim_matches(|c| c == '[' || c == ']').to_string();
    if allow.allows_host(&host) {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| format!("host '{host}' does not resolve"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("host '{host}' does not resolve"));
    }
    match addrs.iter().find(|a| !address_ok(a.ip(), allow)) {
        Some(bad) => Err(format!(
            "resolves to {}, a special-purpose address (private, loopback, link-local, tunnel…) webhooks may not reach (see CLIENTBASE_WEBHOOK_ALLOWED_HOSTS)",
            bad.ip()
        )),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: resolves, then drops every address the guard forbids, so a
/// delivery cannot be steered to an internal service by DNS.
pub struct GuardedResolver {
    pub allow: Arc<AllowList>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> =
                all.into_iter().filter(|a| allow.allows_host(&host) || address_ok(a.ip(), &allow)).collect();
            if permitted.is_empty() {
                return Err(format!("{host} resolves only to addresses webhooks may not reach").into());
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// For URLs with an IP literal (which skip the resolver): whether the address is permitted.
pub fn literal_ok(url: &reqwest::Url, allow: &AllowList) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => address_ok(IpAddr::V4(ip), allow),
        Some(url::Host::Ipv6(ip)) => address_ok(IpAddr::V6(ip), allow),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_pattern_holds_only_http_urls_that_parse() {
        let pattern = regex::Regex::new(URL_PATTERN).unwrap();
        for url in [
            "http://a",
            "https://1c.ru/hooks/crm?x=1&y=2",
            "http://-.a-:0/",
            "http://255.255.255.255:59999/~a.b_c",
            "https://hooks.example.ru?",
        ] {
            assert!(pattern.is_match(url), "{url}");
            let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(matches!(parsed.scheme(), "http" | "https"), "{url}");
        }
        for url in ["", "ftp://a", "http://", "http://1.2", "http://999999999999", "http://256.1.1.1", "http://a:65536"]
        {
            assert!(!pattern.is_match(url), "{url}");
        }
    }

    #[test]
    fn private_and_metadata_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fec0::1",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.9",
            "192.88.99.1",
            "3fff::1",
            "5f00::1",
            "100::1",
            "ff02::1",
            "2a00:1450:4010:c05:0:5efe:7f00:1",
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "198.20.0.1", "2a00:1450:4010:c05::64", "2606:4700::1111"] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_unwrapped() {
        for (v6, v4) in [
            ("::ffff:10.0.0.1", "10.0.0.1"),
            ("::127.0.0.1", "127.0.0.1"),
            ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
            ("2002:c0a8:101::1", "192.168.1.1"),
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
            ("fe80::5efe:a00:1", "10.0.0.1"),
        ] {
            assert_eq!(embedded_v4(v6.parse().unwrap()), Some(v4.parse().unwrap()), "{v6}");
        }
        assert_eq!(embedded_v4("2a00:1450:4010:c05::64".parse().unwrap()), None);
    }

    #[test]
    fn the_allow_list_takes_hosts_addresses_and_networks() {
        let a = AllowList::parse("127.0.0.1, 10.0.0.0/8, receiver.internal").unwrap();
        assert!(a.allows_ip("127.0.0.1".parse().unwrap()));
        assert!(a.allows_ip("10.9.9.9".parse().unwrap()));
        assert!(!a.allows_ip("192.168.0.1".parse().unwrap()));
        assert!(a.allows_host("Receiver.Internal"));
        assert!(AllowList::parse("bad host!").is_err());
    }

    #[tokio::test]
    async fn the_delivery_resolver_keeps_only_permitted_addresses() {
        use reqwest::dns::Resolve;
        let resolve = |allow: &str| {
            let resolver = GuardedResolver { allow: Arc::new(AllowList::parse(allow).unwrap()) };
            resolver.resolve("localhost".parse().unwrap())
        };
        assert!(resolve("").await.is_err(), "a name of loopback addresses only is refused");
        let kept: Vec<SocketAddr> = resolve("127.0.0.1").await.unwrap().collect();
        assert!(!kept.is_empty() && kept.iter().all(|a| a.ip() == IpAddr::from([127, 0, 0, 1])), "{kept:?}");
    }

    #[tokio::test]
    async fn urls_are_checked_before_they_are_saved() {
        let none = AllowList::default();
        assert!(check_url("ftp://example.com/x", &none).await.is_err());
        assert!(check_url("http://user:pw@93.184.216.34/x", &none).await.is_err());
        assert!(check_url("http://127.0.0.1:9000/hook", &none).await.unwrap_err().contains("127.0.0.1"));
        assert!(check_url("http://169.254.169.254/latest/meta-data", &none).await.is_err());
        assert!(check_url("http://[::1]:8080/", &none).await.is_err());
        assert!(check_url("http://localhost:9000/", &none).await.is_err());
        assert!(check_url("https://93.184.216.34/hook", &none).await.is_ok());
        let local = AllowList::parse("127.0.0.1").unwrap();
        assert!(check_url("http://127.0.0.1:9000/hook", &local).await.is_ok());
    }
}
