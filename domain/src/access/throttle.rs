//! Login throttling: after a few failures, each further attempt for the same account or from
//! the same address must wait a growing, capped delay. Nobody is locked out for good: the wait
//! never exceeds the cap, and the count is forgotten after a quiet hour or a success.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, sea_query::OnConflict};

use crate::Result;
use crate::entities::login_throttle;

/// Failures allowed before any delay.
pub const FREE_FAILURES: i32 = 5;
/// The longest wait between attempts.
pub const MAX_DELAY: Duration = Duration::minutes(5);
/// Failures older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::hours(1);

/// The throttle key of an account.
pub fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

/// The throttle key of a client address.
pub fn address_key(address: &str) -> String {
    format!("address:{address}")
}

/// How long to block further attempts after `failures` consecutive failures: nothing for the
/// first few, then 1 s, 2 s, 4 s … doubling up to [`MAX_DELAY`].
pub fn delay_after(failures: i32) -> Option<Duration> {
    let over = failures - FREE_FAILURES;
    if over <= 0 {
        return None;
    }
    let seconds = 1_i64
        .checked_shl((over - 1).min(30) as u32)
        .unwrap_or(i64::MAX);
    Some(Duration::seconds(seconds).min(MAX_DELAY))
}

/// The wait still required before another attempt under any of `keys`, if any.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn wait_required(
    db: &DatabaseConnection,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Option<Duration>> {
    let mut longest: Option<Duration> = None;
    for key in keys {
        if let Some(row) = login_throttle::Entity::find_by_id(key.clone())
            .one(db)
            .await?
            && let Some(until) = row.blocked_until
            && until > now
        {
            let wait = until - now;
            longest = Some(longest.map_or(wait, |l| l.max(wait)));
        }
    }
    Ok(longest)
}

/// Counts a failed attempt under `key` and sets the next allowed time.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn record_failure(db: &DatabaseConnection, key: &str, now: DateTime<Utc>) -> Result<()> {
    let previous = login_throttle::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?;
    let failures = match previous {
        Some(row) if now - row.last_failure_at < FORGET_AFTER => row.failures.saturating_add(1),
        _ => 1,
    };
    let row = login_throttle::ActiveModel {
        key: Set(key.to_owned()),
        failures: Set(failures),
        last_failure_at: Set(now),
        blocked_until: Set(delay_after(failures).map(|d| now + d)),
    };
    login_throttle::Entity::insert(row)
        .on_conflict(
            OnConflict::column(login_throttle::Column::Key)
                .update_columns([
                    login_throttle::Column::Failures,
                    login_throttle::Column::LastFailureAt,
                    login_throttle::Column::BlockedUntil,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the failures under `key` after a successful sign-in.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn clear(db: &DatabaseConnection, key: &str) -> Result<()> {
    login_throttle::Entity::delete_by_id(key.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_starts_after_the_free_failures_doubles_and_is_capped() {
        assert_eq!(delay_after(0), None);
        assert_eq!(delay_after(FREE_FAILURES), None);
        assert_eq!(delay_after(FREE_FAILURES + 1), Some(Duration::seconds(1)));
        assert_eq!(delay_after(FREE_FAILURES + 2), Some(Duration::seconds(2)));
        assert_eq!(delay_after(FREE_FAILURES + 5), Some(Duration::seconds(16)));
        assert_eq!(delay_after(FREE_FAILURES + 20), Some(MAX_DELAY));
        assert_eq!(
            delay_after(i32::MAX),
            Some(MAX_DELAY),
            "never overflows, never exceeds the cap"
        );
    }

    #[test]
    fn keys_separate_accounts_from_addresses() {
        assert_eq!(account_key(" Ada@Example.com "), "account:ada@example.com");
        assert_eq!(address_key("127.0.0.1"), "address:127.0.0.1");
    }
}
