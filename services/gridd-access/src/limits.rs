//! In-process limits and caches: how long account and key state is trusted, how failed
//! sign-ins are slowed and then refused, and the intake rate per identity. Each is per
//! process; a deployment of several gateways multiplies the allowance by their number.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::AccessError;

/// Entries a map may hold before stale ones are dropped, so that a flood of made-up names
/// cannot grow it without end.
const MAX_ENTRIES: usize = 10_000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Values (or their absence) trusted for a while.
pub struct TtlCache<T> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<T>)>>,
}

impl<T: Clone> TtlCache<T> {
    /// A cache whose entries are trusted for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The value for `key` if it was read less than `ttl` ago.
    pub fn get(&self, key: &str) -> Option<Option<T>> {
        let entries = lock(&self.entries);
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// Remembers what `key` is now.
    pub fn put(&self, key: &str, value: Option<T>) {
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (Instant::now(), value));
    }
}

/// Failed sign-ins after which each further attempt waits.
const SLOW_AFTER: u32 = 3;
/// Failed sign-ins of one account after which it is refused for [`LOCK_FOR`].
const LOCK_ACCOUNT_AFTER: u32 = 10;
/// Failed sign-ins from one address (any account) after which it is refused for [`LOCK_FOR`].
const LOCK_ADDRESS_AFTER: u32 = 30;
/// How long a lock lasts, and how long failures are remembered.
pub const LOCK_FOR: Duration = Duration::from_secs(15 * 60);
/// Longest wait before an attempt is checked.
const MAX_DELAY: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed sign-ins per account and per address.
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<Subject, Failures>>,
}

fn subjects(username: &str, address: Option<IpAddr>) -> Vec<(Subject, u32)> {
    let mut s = vec![(Subject::Account(username.to_owned()), LOCK_ACCOUNT_AFTER)];
    s.extend(address.map(|a| (Subject::Address(a), LOCK_ADDRESS_AFTER)));
    s
}

impl SignInThrottle {
    /// How long an attempt must wait, or the refusal while the account or address is locked.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<Duration, AccessError> {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        failures.retain(|_, f| now.duration_since(f.last) < LOCK_FOR || f.locked_until.is_some_and(|u| u > now));
        let mut delay = Duration::ZERO;
        for (subject, _) in subjects(username, address) {
            let Some(f) = failures.get(&subject) else { continue };
            if let Some(until) = f.locked_until.filter(|u| *u > now) {
                let what = match subject {
                    Subject::Account(_) => "this account",
                    Subject::Address(_) => "this address",
                };
                return Err(AccessError::TooMany { reason: format!("too many failed sign-ins for {what}"), retry_after: until - now });
            }
            // Only an account's own failures slow it: colleagues behind one address (a
            // centre's NAT) must not wait for each other's typos; the address lock remains.
            if matches!(subject, Subject::Account(_)) && f.count >= SLOW_AFTER {
                delay = delay.max((Duration::from_millis(500) * (f.count - SLOW_AFTER + 1)).min(MAX_DELAY));
            }
        }
        Ok(delay)
    }

    /// Counts a failure; true if it locked the account or the address.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        let mut locked = false;
        for (subject, lock_after) in subjects(username, address) {
            if failures.len() >= MAX_ENTRIES && !failures.contains_key(&subject) {
                continue;
            }
            let f = failures.entry(subject).or_insert(Failures { count: 0, last: now, locked_until: None });
            f.count += 1;
            f.last = now;
            if f.count >= lock_after {
                f.locked_until = Some(now + LOCK_FOR);
                f.count = 0;
                locked = true;
                metrics::counter!("gridd_sign_in_lockouts_total").increment(1);
            }
        }
        locked
    }

    /// Forgets an account's failures after it signed in.
    pub fn succeeded(&self, username: &str) {
        lock(&self.failures).remove(&Subject::Account(username.to_owned()));
    }

    /// How long the account stays locked.
    #[cfg(test)]
    pub fn locked_for(&self, username: &str, now: Instant) -> Option<Duration> {
        lock(&self.failures).get(&Subject::Account(username.to_owned())).and_then(|f| f.locked_until).filter(|u| *u > now).map(|u| u - now)
    }
}

/// A token bucket per identity.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` after a burst of `burst`.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self { per_second: f64::from(per_second.max(1)), burst: f64::from(burst.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// The sustained rate.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Takes one request of `who`; the wait until the next one is allowed if none is left.
    pub fn take(&self, who: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= MAX_ENTRIES && !buckets.contains_key(who) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(who.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second).max(Duration::from_millis(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_then_lock_the_account_and_success_forgets_them() {
        let t = SignInThrottle::default();
        let addr: Option<IpAddr> = "10.0.0.7".parse().ok();
        assert_eq!(t.check("wang", addr).expect("open"), Duration::ZERO);
        for _ in 0..SLOW_AFTER {
            assert!(!t.failed("wang", addr));
        }
        assert_eq!(t.check("wang", addr).expect("slowed"), Duration::from_millis(500));
        t.succeeded("wang");
        assert_eq!(t.check("wang", None).expect("forgotten"), Duration::ZERO);
        for i in 1..=LOCK_ACCOUNT_AFTER {
            assert_eq!(t.failed("wang", addr), i == LOCK_ACCOUNT_AFTER);
        }
        let e = t.check("wang", None).expect_err("locked");
        assert!(e.to_string().starts_with("too many failed sign-ins for this account; retry in"), "{e}");
        assert!(t.locked_for("wang", Instant::now()).is_some_and(|d| d > Duration::from_secs(14 * 60)));
        assert!(t.check("li", None).is_ok(), "other accounts are not locked");
    }

    #[test]
    fn one_address_trying_many_accounts_is_locked() {
        let t = SignInThrottle::default();
        let addr: Option<IpAddr> = "10.0.0.8".parse().ok();
        for i in 0..LOCK_ADDRESS_AFTER {
            t.failed(&format!("user{i}"), addr);
        }
        assert!(t.check("someone-else", addr).is_err());
        assert!(t.check("someone-else", "10.0.0.9".parse().ok()).is_ok());
    }

    #[test]
    fn the_rate_limiter_allows_the_burst_then_hints_when_to_retry() {
        let r = RateLimiter::new(10, 3);
        for _ in 0..3 {
            r.take("cam-gw").expect("within the burst");
        }
        let wait = r.take("cam-gw").expect_err("burst spent");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        r.take("other").expect("per identity");
    }

    #[test]
    fn the_cache_forgets_after_its_ttl() {
        let c = TtlCache::new(Duration::from_millis(30));
        c.put("a", Some(1));
        assert_eq!(c.get("a"), Some(Some(1)));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get("a"), None);
    }
}
