//! Points in time on the command line (`--from-time`, `--to-datetime`): an RFC 3339 date-time
//! (`2026-11-29T10:00:00Z`, `…+01:00`, or without a zone for UTC), milliseconds since the Unix epoch, or
//! a duration meaning "that long ago" (`15m`, `2h`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a point in time into milliseconds since the Unix epoch.
pub fn parse_time_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let now = SystemTime::now();
    let at = if let Some(t) = parse_rfc3339_with_offset(text) {
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

/// RFC 3339 with `Z`, no zone (UTC), or a `±HH:MM` offset, which humantime alone refuses.
fn parse_rfc3339_with_offset(text: &str) -> Option<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return Some(t);
    }
    let (local, offset) = text.split_at(text.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (u64, u64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    let shift = Duration::from_secs(hours * 3600 + minutes * 60);
    let local = humantime::parse_rfc3339_weak(local).ok()?;
    // 10:00+01:00 is 09:00 UTC.
    if sign > 0 { local.checked_sub(shift) } else { local.checked_add(shift) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        assert_eq!(parse_time_ms("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time_ms("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time_ms("2023-11-14T22:13:20"), Ok(1_700_000_000_000));
        assert_eq!(parse_time_ms("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000_000));
        assert_eq!(parse_time_ms("2023-11-14T17:13:20-05:00"), Ok(1_700_000_000_000));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        let hour_ago = parse_time_ms("1h").unwrap();
        assert!((now - 3_600_000 - hour_ago).abs() < 60_000);
        assert!(parse_time_ms("yesterday-ish").is_err());
    }
}
