//! Slows password guessing: failed logins are counted per account and per client address in a
//! sliding window kept in the database, so the limits hold across replicas and restarts. Past
//! the address's limit, or the account's limit from an address that has failed too, the token
//! endpoint answers 429 with `Retry-After`. A locked account still opens, after a short delay,
//! to the right password from an address with no failures: guessing from elsewhere cannot lock
//! the administrator out, and `clientbase user unlock` clears an account at once.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::schema::login_failures;
use crate::db::{now, DbConn};

/// The delay before answering a login to a locked account from a clean address.
pub const LOCKED_DELAY: Duration = Duration::from_secs(1);

pub struct LoginThrottle {
    window: TimeDelta,
    per_account: usize,
    per_address: usize,
}

/// What a login attempt may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// The account is locked but this address has not failed: the attempt runs after
    /// [`LOCKED_DELAY`] and a success does not clear the account's failures.
    Slowed,
    /// Wait this many seconds.
    Closed(u64),
}

impl LoginThrottle {
    pub fn new(window: Duration, per_account: usize, per_address: usize) -> LoginThrottle {
        let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::minutes(15));
        LoginThrottle { window, per_account, per_address }
    }

    /// The gate for `account` (already normalised by the caller) from `address`.
    pub fn check(&self, conn: &mut DbConn, account: &str, address: &str) -> QueryResult<Gate> {
        let at = now();
        let address_wait = self.wait(conn, &address_key(address), self.per_address, at)?;
        if let Some(wait) = address_wait.filter(|w| *w > 0) {
            return Ok(Gate::Closed(wait));
        }
        let Some(wait) = self.wait(conn, &account_key(account), self.per_account, at)?.filter(|w| *w > 0) else {
            return Ok(Gate::Open);
        };
        Ok(if address_wait.is_none() { Gate::Slowed } else { Gate::Closed(wait) })
    }

    /// `None` when `key` has no failures in the window, else the seconds until it is under
    /// `limit` again (0 when it already is).
    fn wait(&self, conn: &mut DbConn, key: &str, limit: usize, at: NaiveDateTime) -> QueryResult<Option<u64>> {
        let recent: Vec<NaiveDateTime> = login_failures::table
            .filter(login_failures::key.eq(key))
            .filter(login_failures::failed_at.gt(at - self.window))
            .order(login_failures::failed_at.desc())
            .limit(limit as i64)
            .select(login_failures::failed_at)
            .load(conn)?;
        Ok(match recent.last() {
            None => None,
            Some(_) if recent.len() < limit => Some(0),
            Some(oldest) => Some(((*oldest + self.window - at).num_seconds().max(1)) as u64),
        })
    }

    pub fn record_failure(&self, conn: &mut DbConn, account: &str, address: &str) -> QueryResult<()> {
        let at = now();
        diesel::delete(login_failures::table.filter(login_failures::failed_at.le(at - self.window))).execute(conn)?;
        for key in [account_key(account), address_key(address)] {
            diesel::insert_into(login_failures::table)
                .values((login_failures::key.eq(key), login_failures::failed_at.eq(at)))
                .execute(conn)?;
        }
        Ok(())
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, conn: &mut DbConn, account: &str) -> QueryResult<()> {
        unlock(conn, account).map(|_| ())
    }
}

/// Clears the failures of `account`; how many there were.
pub fn unlock(conn: &mut DbConn, account: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::key.eq(account_key(account)))).execute(conn)
}

/// The one form of a login name used by both the throttle and the lookup of its account:
/// surrounding whitespace dropped, lowercase.
pub fn login_name(raw: &str) -> String {
    crate::normalize::email::normalize_email(raw)
}

fn account_key(account: &str) -> String {
    format!("a:{account}")
}

fn address_key(address: &str) -> String {
    format!("ip:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_login_is_one_account() {
        for raw in ["victim@x.ru", " victim@x.ru", "victim@x.ru ", "\tVictim@X.ru\n"] {
            assert_eq!(login_name(raw), "victim@x.ru", "{raw:?}");
        }
    }
}
