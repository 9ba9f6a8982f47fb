//! Shares of a bounded resource per client address, so that one host cannot take all of it.
//!
//! A server that admits at most N connections (or requests) at once can be filled by a single
//! host opening N of them; then everyone else is turned away. [`PerIp`] adds a second bound,
//! per client address, below the first: a host gets at most `cap` at once, whatever the others
//! do. IPv6 clients are counted per /64 (one host usually holds a whole /64, and could
//! otherwise come from as many addresses as it likes); IPv4-mapped IPv6 addresses count as
//! their IPv4 address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;

/// How many of a resource each client address holds, with a cap per address.
#[derive(Debug)]
pub(crate) struct PerIp {
    held: Mutex<HashMap<IpAddr, usize>>,
    cap: usize,
}

/// One unit of a [`PerIp`] resource held by an address; given back on drop.
#[derive(Debug)]
pub(crate) struct IpPermit {
    owner: Arc<PerIp>,
    key: IpAddr,
}

/// Whether `ip` is this machine's own loopback address (127.0.0.1 or ::1), which the HTTP API
/// does not limit: the node's tools, its web app and the nodes of a local testnet all share it.
/// (The rest of 127.0.0.0/8 counts like any other host, which is how tests play one.)
pub(crate) fn is_this_machine(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// The address a client is counted under.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl PerIp {
    /// At most `cap` units per client address (0: no limit).
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        let cap = if cap == 0 { usize::MAX } else { cap };
        Arc::new(Self {
            held: Mutex::new(HashMap::new()),
            cap,
        })
    }

    /// The most units one address may hold.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Take one unit for `ip`, unless it already holds `cap`.
    pub(crate) fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        let key = key(ip);
        let mut held = self.held.lock();
        let count = held.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(IpPermit {
            owner: self.clone(),
            key,
        })
    }

    /// Addresses holding at least one unit.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.held.lock().len()
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut held = self.owner.held.lock();
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_cap_and_gives_it_back() {
        let limit = PerIp::new(2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = limit.try_take(a).expect("1st");
        let second = limit.try_take(a).expect("2nd");
        assert!(limit.try_take(a).is_none(), "a third for the same address");
        assert!(
            limit.try_take(b).is_some(),
            "another address is not held up"
        );
        drop(first);
        let third = limit.try_take(a).expect("given back");
        drop((second, third));
        assert_eq!(limit.addresses(), 0, "nothing left behind");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limit = PerIp::new(1);
        let one: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let other_64: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let _held = limit.try_take(one).expect("first");
        assert!(limit.try_take(same_64).is_none(), "same /64");
        assert!(limit.try_take(other_64).is_some(), "another /64");
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        let _v4 = limit.try_take(v4).expect("v4");
        assert!(
            limit.try_take(mapped).is_none(),
            "mapped counts as the IPv4 address"
        );
    }
}
