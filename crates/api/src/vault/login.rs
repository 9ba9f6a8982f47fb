//! A growing wait between password attempts on one keystore account.
//!
//! `POST /v1/session` unlocks an account of the node's keystore with its password, and the API
//! answers any web page (its CORS policy lets wallets and dapps in): without a limit, any site a
//! node's user visits could guess passwords against the node on `127.0.0.1` as fast as the
//! keystore's KDF allows, and keep the node's cores busy doing it. So each account may be tried
//! once at a time, and after its k-th wrong password in a row only once 2^(k-1) s have passed
//! (1 s, 2 s, 4 s, ... at most [`MAX_WAIT`]); the right password clears the count. Accounts the
//! keystore does not hold are treated the same way (the answers do not tell them apart), but
//! when the table is full they are the first to be forgotten: a stream of made-up accounts
//! cannot push a real account's count out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use parking_lot::Mutex;

/// The longest wait between two attempts on one account.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(300);
/// How long an attempt in progress holds the account (it ends sooner: success or failure).
const IN_FLIGHT: Duration = Duration::from_secs(1);
/// Most accounts remembered.
const CAPACITY: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Backoff {
    /// Wrong passwords in a row.
    failures: u32,
    /// No attempt before this.
    until: Instant,
    /// Whether the keystore holds the account.
    known: bool,
}

/// Wrong-password counts per account.
#[derive(Debug, Default)]
pub(crate) struct LoginGuard {
    accounts: Mutex<HashMap<Address, Backoff>>,
}

/// The wait after `failures` wrong passwords in a row.
fn wait_after(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(16);
    Duration::from_secs(secs).min(MAX_WAIT)
}

impl LoginGuard {
    /// Start an attempt on `account` at `now`, or say how long to wait first. An attempt holds
    /// the account until [`LoginGuard::failed`] or [`LoginGuard::succeeded`] (or [`IN_FLIGHT`]).
    pub(crate) fn begin(&self, account: Address, now: Instant) -> Result<(), Duration> {
        let mut accounts = self.accounts.lock();
        if let Some(entry) = accounts.get_mut(&account) {
            if now < entry.until {
                return Err(entry.until - now);
            }
            entry.until = now + IN_FLIGHT;
            return Ok(());
        }
        if accounts.len() >= CAPACITY {
            Self::make_room(&mut accounts, now);
        }
        accounts.insert(
            account,
            Backoff {
                failures: 0,
                until: now + IN_FLIGHT,
                known: false,
            },
        );
        Ok(())
    }

    /// The attempt on `account` gave a wrong password (`known`: the keystore holds it).
    pub(crate) fn failed(&self, account: Address, known: bool, now: Instant) {
        let mut accounts = self.accounts.lock();
        let entry = accounts.entry(account).or_insert(Backoff {
            failures: 0,
            until: now,
            known,
        });
        entry.failures = entry.failures.saturating_add(1);
        entry.until = now + wait_after(entry.failures);
        entry.known |= known;
    }

    /// The attempt on `account` gave the right password.
    pub(crate) fn succeeded(&self, account: Address) {
        self.accounts.lock().remove(&account);
    }

    /// The attempt on `account` ended without checking a password (the keystore could not be
    /// read): the account is free again, and its count of wrong passwords stays as it was.
    pub(crate) fn abandoned(&self, account: Address, now: Instant) {
        if let Some(entry) = self.accounts.lock().get_mut(&account) {
            entry.until = entry.until.min(now);
        }
    }

    /// Forget accounts whose wait is long over; if none, the made-up account (else any) whose
    /// wait ends first.
    fn make_room(accounts: &mut HashMap<Address, Backoff>, now: Instant) {
        accounts.retain(|_, b| now < b.until + MAX_WAIT);
        if accounts.len() < CAPACITY {
            return;
        }
        let victim = accounts
            .iter()
            .min_by_key(|(_, b)| (b.known, b.until))
            .map(|(a, _)| *a);
        if let Some(victim) = victim {
            accounts.remove(&victim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wrong_password_doubles_the_wait_and_the_right_one_clears_it() {
        let guard = LoginGuard::default();
        let alice = Address::repeat_byte(1);
        let t0 = Instant::now();
        assert_eq!(guard.begin(alice, t0), Ok(()));
        // One attempt at a time.
        assert_eq!(guard.begin(alice, t0), Err(IN_FLIGHT));
        let mut now = t0;
        for (k, wait) in [1, 2, 4, 8].into_iter().enumerate() {
            guard.failed(alice, true, now);
            let wait = Duration::from_secs(wait);
            assert_eq!(
                guard.begin(alice, now + wait - Duration::from_millis(1)),
                Err(Duration::from_millis(1)),
                "after {} failures",
                k + 1
            );
            now += wait;
            assert_eq!(guard.begin(alice, now), Ok(()));
        }
        // Other accounts are not held up.
        assert_eq!(guard.begin(Address::repeat_byte(2), now), Ok(()));
        guard.succeeded(alice);
        assert_eq!(guard.begin(alice, now), Ok(()));
        guard.failed(alice, true, now);
        assert_eq!(
            guard.begin(alice, now),
            Err(Duration::from_secs(1)),
            "counting starts over"
        );
    }

    #[test]
    fn an_attempt_that_checked_no_password_keeps_the_count() {
        let guard = LoginGuard::default();
        let alice = Address::repeat_byte(1);
        let t0 = Instant::now();
        for k in 0..3 {
            let now = t0 + Duration::from_secs(10 * k);
            guard.begin(alice, now).expect("attempt");
            guard.failed(alice, true, now);
        }
        let now = t0 + Duration::from_secs(30);
        guard.begin(alice, now).expect("after the wait");
        guard.abandoned(alice, now);
        assert_eq!(guard.begin(alice, now), Ok(()), "free again at once");
        guard.failed(alice, true, now);
        assert_eq!(
            guard.begin(alice, now),
            Err(Duration::from_secs(8)),
            "the fourth wrong password in a row"
        );
    }

    #[test]
    fn the_wait_stops_growing() {
        assert_eq!(wait_after(1), Duration::from_secs(1));
        assert_eq!(wait_after(9), Duration::from_secs(256));
        assert_eq!(wait_after(10), MAX_WAIT);
        assert_eq!(wait_after(u32::MAX), MAX_WAIT);
    }

    #[test]
    fn made_up_accounts_cannot_push_out_a_real_ones_count() {
        let guard = LoginGuard::default();
        let alice = Address::repeat_byte(0xaa);
        let now = Instant::now();
        guard.begin(alice, now).expect("first attempt");
        guard.failed(alice, true, now);
        for i in 0..(2 * CAPACITY as u32) {
            let mut bytes = [0u8; 20];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            let made_up = Address::from(bytes);
            guard.begin(made_up, now).expect("a new account");
            guard.failed(made_up, false, now);
        }
        assert!(guard.accounts.lock().len() <= CAPACITY);
        assert_eq!(guard.begin(alice, now), Err(Duration::from_secs(1)));
    }
}
