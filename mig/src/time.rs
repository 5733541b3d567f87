//! Unix milliseconds as UTC calendar text, without a date library (the browser bundle stays small,
//! and the server and the pages print times alike).

/// A UTC time broken into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Millisecond.
    pub milli: u32,
}

impl Utc {
    /// The UTC time `ms` milliseconds after 1970-01-01T00:00:00Z (before it when negative).
    pub fn from_unix_ms(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let narrow = |v: i64| u32::try_from(v).unwrap_or(0);
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month: narrow(month),
            day: narrow(day),
            hour: narrow(rem / 3600),
            minute: narrow(rem % 3600 / 60),
            second: narrow(rem % 60),
            milli: narrow(ms.rem_euclid(1000)),
        }
    }

    /// `2026-11-26T01:02:03.456Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.milli
        )
    }

    /// `2026-11-26 01:02 UTC`.
    pub fn minutes(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }

    /// `2026-11-26 01:02:03 UTC`.
    pub fn seconds(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `01:02:03`.
    pub fn clock(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

#[cfg(test)]
mod tests {
    use super::Utc;

    #[test]
    fn calendar_fields_are_right_across_leap_days_and_the_epoch() {
        assert_eq!(Utc::from_unix_ms(0).rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Utc::from_unix_ms(1_795_656_123_456).rfc3339(),
            "2026-11-26T01:22:03.456Z"
        );
        assert_eq!(
            Utc::from_unix_ms(951_782_400_000).rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(Utc::from_unix_ms(-1).rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            Utc::from_unix_ms(1_795_656_123_456).minutes(),
            "2026-11-26 01:22 UTC"
        );
        assert_eq!(
            Utc::from_unix_ms(1_795_656_123_456).seconds(),
            "2026-11-26 01:22:03 UTC"
        );
        assert_eq!(Utc::from_unix_ms(1_795_656_123_456).clock(), "01:22:03");
    }
}
