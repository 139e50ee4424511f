//! Human units in the pipeline file: durations (`90s`, `10m`, `1h30m`,
//! `500ms`) and sizes (`512MiB`, `1GiB`, `100MB`, `4096`).

use std::fmt;
use std::time::Duration;

/// Parses `500ms`, `30s`, `10m`, `2h`, `1h30m`, `1.5s`. A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (write e.g. `30s`, `10m`, `1h30m`)".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return secs_to_duration(secs, text);
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("bad duration `{text}` (write e.g. `30s`, `10m`, `1h30m`)"));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("bad duration `{text}`: `{}` is not a number", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            other => {
                return Err(format!("bad duration `{text}`: unknown unit `{other}` (use ms, s, m, h or d)"));
            }
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    secs_to_duration(total, text)
}

fn secs_to_duration(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("bad duration `{text}`: out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `512MiB`, `1GiB`, `64KiB`, `100MB`, `4096` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let num_len = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    if num_len == 0 {
        return Err(format!("bad size `{text}` (write e.g. `512MiB`, `2GiB`)"));
    }
    let value: f64 =
        t[..num_len].parse().map_err(|_| format!("bad size `{text}`: `{}` is not a number", &t[..num_len]))?;
    let scale: f64 = match t[num_len..].trim() {
        "" | "B" => 1.0,
        "K" | "KiB" => 1024.0,
        "M" | "MiB" => 1024.0 * 1024.0,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        other => {
            return Err(format!("bad size `{text}`: unknown unit `{other}` (use B, KiB, MiB, GiB, KB, MB, GB)"));
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("bad size `{text}`: out of range"));
    }
    Ok(bytes as u64)
}

/// Displays a byte count the way a user would write it: `512MiB`, `1GiB`, `1500B`.
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (name, scale) in UNITS {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{}{name}", self.0 / scale);
            }
        }
        for (name, scale) in UNITS {
            if self.0 >= scale {
                return write!(f, "{:.1}{name}", self.0 as f64 / scale as f64);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// Displays a duration the way a user would write it: `10m`, `1h30m`, `2.5s`, `500ms`.
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        if !ms.is_multiple_of(1000) && ms < 60_000 {
            return write!(f, "{:.1}s", self.0.as_secs_f64());
        }
        let secs = self.0.as_secs();
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let mut out = String::new();
        if h > 0 {
            out += &format!("{h}h");
        }
        if m > 0 {
            out += &format!("{m}m");
        }
        if s > 0 || out.is_empty() {
            out += &format!("{s}s");
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("10 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-3s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("100MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12 furlongs").unwrap_err().contains("unknown unit"));
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn display_round_trips() {
        assert_eq!(Size(512 << 20).to_string(), "512MiB");
        assert_eq!(Size(1500).to_string(), "1.5KiB");
        assert_eq!(Human(Duration::from_secs(600)).to_string(), "10m");
        assert_eq!(Human(Duration::from_secs(5400)).to_string(), "1h30m");
        assert_eq!(Human(Duration::from_millis(500)).to_string(), "500ms");
        assert_eq!(Human(Duration::from_millis(2500)).to_string(), "2.5s");
    }
}
