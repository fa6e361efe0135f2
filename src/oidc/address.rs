//! Which hosts a provider restricted to the public internet may be fetched from: the rule the
//! URL checks (address literals, `localhost` names) and the public-only resolver (every
//! address a name resolves to) share. Special-purpose ranges are refused (RFC 6890 and the
//! IANA special-purpose registries): loopback, private, link-local, shared (100.64/10),
//! documentation, benchmarking, multicast, reserved, unique-local, and IPv6 forms that carry
//! an IPv4 address (mapped, compatible, NAT64, 6to4) by the address they carry. Pure: no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a unicast address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network"
        || a == 10
        || a == 127
        || (a == 100 && b & 0xc0 == 64) // shared address space (CGN)
        || (a == 169 && b == 254)
        || (a == 172 && b & 0xf0 == 16)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && b & 0xfe == 18) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // Forms that carry an IPv4 address are as public as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[..6] == [0; 6] {
        // `::`, `::1` and the deprecated IPv4-compatible `::a.b.c.d`.
        return false;
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(s[6], s[7])); // NAT64 (RFC 6052)
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2])); // 6to4
    }
    let special = (s[0] == 0x64 && s[1] == 0xff9b) // local-use NAT64 (64:ff9b:1::/48)
        || (s[0] == 0x100 && s[1..4] == [0; 3]) // discard-only
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments (Teredo, ORCHID...)
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation (RFC 9637)
        || s[0] & 0xfe00 == 0xfc00 // unique local
        || s[0] & 0xffc0 == 0xfe80 // link-local
        || s[0] & 0xffc0 == 0xfec0 // site-local (deprecated)
        || s[0] & 0xff00 == 0xff00; // multicast
    !special
}

/// Whether a URL's host (as the URL parser wrote it: a lowercase name, dotted IPv4, bracketed
/// IPv6) names this machine or a network that is not the public internet: `localhost` or a
/// name under it (RFC 6761, with or without the final dot), or an address literal `allowed`
/// refuses. Other names are decided when resolved, by the resolver.
pub fn internal_host(host: &str, allowed: fn(IpAddr) -> bool) -> bool {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => !allowed(ip),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.2",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.251",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "3fff::1",
            "fc00::1",
            "fd00::2",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(!is_public(parsed), "{ip} must not count as public");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "140.82.112.3",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(is_public(parsed), "{ip} is public");
        }
    }

    #[test]
    fn localhost_names_and_private_literals_are_internal_other_names_are_resolved_later() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "api.localhost.",
            "127.0.0.1",
            "[::1]",
            "[::ffff:a9fe:a9fe]",
            "10.1.2.3",
        ] {
            assert!(internal_host(host, is_public), "{host}");
        }
        for host in [
            "token.actions.githubusercontent.com",
            "localhost.example.com",
            "8.8.8.8",
            "[2606:4700:4700::1111]",
        ] {
            assert!(!internal_host(host, is_public), "{host}");
        }
    }
}
