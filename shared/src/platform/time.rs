//! Clock helpers: every timestamp in Warden is UTC epoch seconds or milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Now as epoch seconds.
pub fn now_s() -> i64 {
    now_ms() / 1000
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM UTC`, for hosted pages (no time-zone database:
/// the proleptic Gregorian calendar from days since the epoch, Howard Hinnant's algorithm).
pub fn utc_minute(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_minute;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        // 2024-02-29 12:34:56 UTC (a leap day).
        assert_eq!(utc_minute(1_709_210_096_000), "2024-02-29 12:34 UTC");
        // 2026-12-03 18:14 UTC.
        assert_eq!(utc_minute(1_796_321_640_000), "2026-12-03 18:14 UTC");
    }
}
