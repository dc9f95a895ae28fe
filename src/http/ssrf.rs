//! The SSRF guard: webhooks may only reach public addresses over http(s), unless
//! `CLIENTBASE_WEBHOOK_ALLOWED_HOSTS` lets a host or network through. The check runs when an
//! endpoint is saved and again inside the HTTP client's resolver at every delivery, so a name
//! that later resolves to a private address is still refused.

use std::net::{IpAddr, SocketAddr};
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

/// Loopback, private, link-local (cloud metadata included), shared, multicast and other
/// non-public addresses.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8
        }
    }
}

fn address_ok(ip: IpAddr, allow: &AllowList) -> bool {
    !forbidden(ip) || allow.allows_ip(ip)
}

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
            "resolves to {}, a private, loopback or link-local address (see CLIENTBASE_WEBHOOK_ALLOWED_HOSTS)",
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
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2a00:1450:4010:c05::64"] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
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
