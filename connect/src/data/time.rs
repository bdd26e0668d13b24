//! Calendar arithmetic for Connect's and Debezium's time types, which count days, milliseconds
//! or microseconds from 1970-01-01 UTC (negative before it): to and from the ISO 8601 text
//! PostgreSQL reads and writes. Days and civil dates convert by Howard Hinnant's
//! `days_from_civil` / `civil_from_days` (proleptic Gregorian calendar).

/// Days since 1970-01-01 as (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// (year, month, day) as days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` for days since the epoch.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS.ffffff` for microseconds since midnight.
pub fn format_time_micros(micros: i64) -> String {
    let micros = micros.rem_euclid(86_400_000_000);
    let secs = micros / 1_000_000;
    format!("{:02}:{:02}:{:02}.{:06}", secs / 3600, secs / 60 % 60, secs % 60, micros % 1_000_000)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for microseconds since the epoch.
pub fn format_timestamp_micros(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    format!("{}T{}Z", format_date(days), format_time_micros(micros.rem_euclid(86_400_000_000)))
}

/// Days since the epoch from `YYYY-MM-DD` (a year may have more digits, or a minus sign).
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut parts = body.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(if negative { -year } else { year }, month, day))
}

/// Microseconds since midnight from `HH:MM:SS[.ffffff]`.
pub fn parse_time_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let (clock, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut parts = clock.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next().unwrap_or("0").parse().ok()?;
    let digits: String = fraction.chars().take_while(char::is_ascii_digit).take(6).collect();
    let micros: i64 = if digits.is_empty() { 0 } else { format!("{digits:0<6}").parse().ok()? };
    Some(((h * 60 + m) * 60 + s) * 1_000_000 + micros)
}

/// Microseconds since the epoch from PostgreSQL's `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]`
/// (the offset, when there is one, is applied: the result is UTC).
pub fn parse_timestamp_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once([' ', 'T'])?;
    let days = parse_date(date)?;
    // A trailing zone: Z, +HH, +HH:MM or -HH...
    let (clock, offset_secs) = match rest.rfind(['+', '-']) {
        Some(at) if at > 0 => {
            let zone = &rest[at + 1..];
            let sign = if rest.as_bytes()[at] == b'-' { -1 } else { 1 };
            let mut z = zone.split(':');
            let h: i64 = z.next()?.parse().ok()?;
            let m: i64 = z.next().unwrap_or("0").parse().ok()?;
            (&rest[..at], sign * (h * 3600 + m * 60))
        }
        _ => (rest.trim_end_matches('Z'), 0),
    };
    let in_day = parse_time_micros(clock)?;
    Some(days * 86_400_000_000 + in_day - offset_secs * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_before_and_after_the_epoch() {
        for days in [-719_528, -1, 0, 1, 20_422, 2_932_896] {
            assert_eq!(parse_date(&format_date(days)), Some(days), "{days}");
        }
        assert_eq!(format_date(20_422), "2025-11-30");
        assert_eq!(format_date(-1), "1969-12-31");
    }

    #[test]
    fn timestamps_parse_with_zones_and_fractions() {
        let t = parse_timestamp_micros("2026-11-30 09:05:07.123456").expect("timestamp");
        assert_eq!(format_timestamp_micros(t), "2026-11-30T09:05:07.123456Z");
        assert_eq!(parse_timestamp_micros("2026-11-30 11:05:07.123456+02"), Some(t));
        assert_eq!(parse_timestamp_micros("1969-12-31 23:59:59"), Some(-1_000_000));
        assert_eq!(parse_time_micros("13:01:02.5"), Some(((13 * 60 + 1) * 60 + 2) * 1_000_000 + 500_000));
    }
}
