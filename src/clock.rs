//! Time is a parameter: production code asks a [`Clock`], tests freeze and
//! advance a [`FixedClock`] instead of sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Now as a UTC `NaiveDateTime` truncated to microseconds, the precision
    /// both SQLite and PostgreSQL store, so values compare equal after a round trip.
    fn now_naive(&self) -> NaiveDateTime {
        truncate_micros(self.now().naive_utc())
    }

    fn unix(&self) -> i64 {
        self.now().timestamp()
    }
}

pub fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.and_utc().timestamp_micros();
    DateTime::from_timestamp_micros(micros)
        .map(|d| d.naive_utc())
        .unwrap_or(t)
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// A frozen clock at the real current time (so tokens verify with other libraries).
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
