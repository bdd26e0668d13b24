//! Points in time on the command line (`--from-time`, `--to-datetime`): an RFC 3339 date-time
//! (`2026-11-29T10:00:00Z`, or without a zone for UTC), milliseconds since the Unix epoch, or
//! a duration meaning "that long ago" (`15m`, `2h`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a point in time into milliseconds since the Unix epoch.
pub fn parse_time_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let now = SystemTime::now();
    let at = if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        t
    } else if let Ok(ago) = humantime::parse_duration(text) {
        now.checked_sub(ago).unwrap_or(UNIX_EPOCH)
    } else {
        return Err(format!(
            "`{text}` is not a time; write an RFC 3339 date-time (2026-11-29T10:00:00Z), \
             milliseconds since the epoch, or a duration ago (15m, 2h)"
        ));
    };
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).map_err(|_| format!("`{text}` is too far in the future"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        assert_eq!(parse_time_ms("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time_ms("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time_ms("2023-11-14T22:13:20"), Ok(1_700_000_000_000));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        let hour_ago = parse_time_ms("1h").unwrap();
        assert!((now - 3_600_000 - hour_ago).abs() < 60_000);
        assert!(parse_time_ms("yesterday-ish").is_err());
    }
}
