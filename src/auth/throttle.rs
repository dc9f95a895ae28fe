//! Slows password guessing: failed logins are counted per account and per client address in a
//! sliding window; past the limit the token endpoint answers 429 with `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    window: Duration,
    per_account: usize,
    per_address: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(window: Duration, per_account: usize, per_address: usize) -> LoginThrottle {
        LoginThrottle { window, per_account, per_address, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(seconds)` when the account or the address must wait before trying again.
    pub fn check(&self, account: &str, address: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = 0u64;
        for (key, limit) in [(account_key(account), self.per_account), (address_key(address), self.per_address)] {
            if let Some(times) = map.get_mut(&key) {
                prune(times, now, self.window);
                if times.len() >= limit {
                    let oldest = times[times.len() - limit];
                    let free_at = oldest + self.window;
                    wait = wait.max(free_at.saturating_duration_since(now).as_secs().max(1));
                }
            }
        }
        if wait > 0 {
            Err(wait)
        } else {
            Ok(())
        }
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in [account_key(account), address_key(address)] {
            let times = map.entry(key).or_default();
            prune(times, now, self.window);
            times.push_back(now);
        }
        // Keep memory bounded under a spray of distinct accounts.
        if map.len() > 100_000 {
            map.retain(|_, t| t.back().is_some_and(|last| now.duration_since(*last) < self.window));
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&account_key(account));
    }
}

fn account_key(account: &str) -> String {
    format!("a:{}", account.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("ip:{address}")
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_an_account_after_the_limit() {
        let t = LoginThrottle::new(Duration::from_secs(60), 3, 100);
        for _ in 0..3 {
            assert!(t.check("a@x.ru", "1.1.1.1").is_ok());
            t.record_failure("a@x.ru", "1.1.1.1");
        }
        let wait = t.check("A@x.ru", "2.2.2.2").unwrap_err();
        assert!(wait > 0 && wait <= 60);
        assert!(t.check("b@x.ru", "2.2.2.2").is_ok());
        t.record_success("a@x.ru");
        assert!(t.check("a@x.ru", "2.2.2.2").is_ok());
    }

    #[test]
    fn locks_an_address_spraying_accounts() {
        let t = LoginThrottle::new(Duration::from_secs(60), 100, 2);
        t.record_failure("a@x.ru", "9.9.9.9");
        t.record_failure("b@x.ru", "9.9.9.9");
        assert!(t.check("c@x.ru", "9.9.9.9").is_err());
        assert!(t.check("c@x.ru", "8.8.8.8").is_ok());
    }
}
