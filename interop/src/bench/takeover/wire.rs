//! What the takeover benchmark reads off the wire and the logs: per neighbour, the capture
//! time of the first TCP segment the router's session address sent after the failure (from a
//! pcap written by tcpdump on the neighbours' side), and the wall-clock time of a `bgpd
//! --log-json` line (tracing's RFC 3339 UTC timestamp).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ribsync::capture::{parse_frame, PcapReader};

use crate::error::{LabError, Result};

/// What one neighbour's capture shows of the router after `after`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfterFailure {
    /// Capture time (since the Unix epoch) of the first segment from the router.
    pub first: Option<Duration>,
    /// Segments from the router.
    pub segments: u64,
    /// Of them, SYN, FIN or RST segments (a connection opened or closed: not a takeover).
    pub syn_fin_rst: u64,
}

/// Per destination address, what the capture `path` shows of the segments sent by `from`
/// at or after `after` (time since the Unix epoch).
///
/// # Errors
/// When the file cannot be read as a pcap.
pub fn after_failure(
    path: &Path,
    from: IpAddr,
    after: Duration,
) -> Result<BTreeMap<IpAddr, AfterFailure>> {
    let file = std::fs::File::open(path).map_err(|e| LabError::io(path, e))?;
    let mut reader =
        PcapReader::new(file).map_err(|e| LabError::parse(path.display().to_string(), e))?;
    let mut out: BTreeMap<IpAddr, AfterFailure> = BTreeMap::new();
    while let Some(frame) = reader
        .next_frame()
        .map_err(|e| LabError::parse(path.display().to_string(), e))?
    {
        if frame.timestamp < after {
            continue;
        }
        // ARP, ICMP and anything that is not readable TCP is skipped.
        let Ok(Some(seg)) = parse_frame(frame.link_type, &frame.data) else {
            continue;
        };
        if seg.src.ip() != from {
            continue;
        }
        let e = out.entry(seg.dst.ip()).or_default();
        e.first.get_or_insert(frame.timestamp);
        e.segments += 1;
        if seg.flags.syn || seg.flags.fin || seg.flags.rst {
            e.syn_fin_rst += 1;
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 UTC timestamp (`2026-11-30T00:01:02.123456Z`, any number of fraction
/// digits, `Z` or `+00:00`) as time since the Unix epoch; None for anything else.
pub fn parse_utc(s: &str) -> Option<Duration> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let h: u64 = t.next()?.parse().ok()?;
    let mi: u64 = t.next()?.parse().ok()?;
    let se: u64 = t.next()?.parse().ok()?;
    if h > 23 || mi > 59 || se > 60 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse().ok()?
    };
    let days = u64::try_from(days_from_civil(y, mo, da)).ok()?;
    Some(Duration::new(
        days * 86_400 + h * 3_600 + mi * 60 + se,
        nanos,
    ))
}

/// The wall-clock time of a tracing JSON log line (its `timestamp` field).
pub fn event_time(event: &serde_json::Value) -> Option<Duration> {
    parse_utc(event.get("timestamp")?.as_str()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_are_read() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        // date -u -d 2026-11-30T00:01:02Z +%s = 1795996862
        assert_eq!(
            parse_utc("2026-11-30T00:01:02.123456Z"),
            Some(Duration::new(1_795_996_862, 123_456_000))
        );
        assert_eq!(
            parse_utc("2000-02-29T12:00:00.5+00:00"),
            Some(Duration::new(951_825_600, 500_000_000))
        );
        assert_eq!(parse_utc("2026-11-30 00:01:02Z"), None);
        assert_eq!(parse_utc("2026-13-30T00:01:02Z"), None);
        assert_eq!(parse_utc("2026-11-30T00:01:02"), None);
    }

    #[test]
    fn log_line_time() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"timestamp":"2026-11-30T00:01:02.000250Z","level":"WARN","fields":{"message":"ha: primary declared failed"}}"#,
        )
        .unwrap();
        assert_eq!(event_time(&v), Some(Duration::new(1_795_996_862, 250_000)));
    }
}
