//! Human durations in specs: `3600s`, `90m`, `1h30m`, `2d`, or a bare number of seconds; for
//! health checks, milliseconds too (`500ms`).

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole number of seconds, written the way people write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seconds(pub u32);

impl Seconds {
    pub fn parse(text: &str) -> Result<Seconds, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        if let Ok(plain) = text.parse::<u64>() {
            return Self::checked(plain, text);
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let unit = match ch {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => {
                    return Err(format!(
                        "`{text}` is not a duration: unknown unit `{ch}` (use s, m, h or d, e.g. `90s`, `15m`, `1h`)"
                    ))
                }
            };
            let value: u64 =
                digits.parse().map_err(|_| format!("`{text}` is not a duration: a number must come before `{ch}`"))?;
            total = total.saturating_add(value.saturating_mul(unit));
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(format!("`{text}` is not a duration: `{digits}` has no unit (e.g. `{digits}s`)"));
        }
        Self::checked(total, text)
    }

    fn checked(total: u64, text: &str) -> Result<Seconds, String> {
        u32::try_from(total)
            .map(Seconds)
            .map_err(|_| format!("duration `{text}` is too long (at most {} seconds)", u32::MAX))
    }
}

impl fmt::Display for Seconds {
    /// The shortest exact form: `1h`, `90s`, `1h30m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;
        impl Visitor<'_> for SecondsVisitor {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `300s`, `15m`, `1h` or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Seconds, E> {
                Seconds::checked(value, &value.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Seconds, E> {
                u64::try_from(value)
                    .map_err(|_| E::custom(format!("duration {value} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Seconds, E> {
                Seconds::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SecondsVisitor)
    }
}

/// What [`Seconds::parse`] reads: a plain number, or numbers each followed by a unit.
const DURATION_PATTERN: &str = r"^\s*([0-9]+|([0-9]+[smhd])+)\s*$";

impl JsonSchema for Seconds {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // One schema for both types (`minimum` binds numbers only, `pattern` strings only):
        // editors then report the broken rule instead of "no alternative matched".
        json_schema!({
            "description": "A duration: seconds (`300`), or numbers with units s, m, h, d (`90s`, `15m`, `1h30m`, `2d`).",
            "type": ["integer", "string"],
            "minimum": 0,
            "maximum": u32::MAX,
            "pattern": DURATION_PATTERN,
            "patternErrorMessage": "a duration such as `300s`, `15m`, `1h` or a number of seconds",
            "examples": ["300s", "15m", "1h"]
        })
    }
}

/// A duration in milliseconds: `500ms`, or any [`Seconds`] form (`2s`, `1m`, a bare number of
/// seconds). Health checks run at sub-second intervals; everything else in a spec counts
/// whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u32);

impl Millis {
    pub fn parse(text: &str) -> Result<Millis, String> {
        let trimmed = text.trim();
        let total = match trimmed.strip_suffix("ms") {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse::<u64>().unwrap_or(u64::MAX)
            }
            _ => Seconds::parse(trimmed)
                .map(|seconds| u64::from(seconds.0) * 1000)
                .map_err(|_| format!("`{trimmed}` is not a duration such as `500ms`, `2s` or `1m`"))?,
        };
        u32::try_from(total)
            .map(Millis)
            .map_err(|_| format!("duration `{trimmed}` is too long (at most {} milliseconds)", u32::MAX))
    }
}

impl fmt::Display for Millis {
    /// `500ms`, `2s`, `1m30s`, `1500ms`: whole seconds as [`Seconds`] writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            Seconds(self.0 / 1000).fmt(f)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MillisVisitor;
        impl Visitor<'_> for MillisVisitor {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `500ms`, `2s`, `1m` or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Millis, E> {
                Millis::parse(&value.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Millis, E> {
                u64::try_from(value)
                    .map_err(|_| E::custom(format!("duration {value} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Millis, E> {
                Millis::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(MillisVisitor)
    }
}

/// What [`Millis::parse`] reads: milliseconds, or what [`Seconds::parse`] reads.
const MILLIS_PATTERN: &str = r"^\s*([0-9]+ms|[0-9]+|([0-9]+[smhd])+)\s*$";

impl JsonSchema for Millis {
    fn schema_name() -> Cow<'static, str> {
        "ShortDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: milliseconds (`500ms`), seconds (`2`), or numbers with units s, m, h, d (`2s`, `1m`).",
            "type": ["integer", "string"],
            "minimum": 0,
            "maximum": u32::MAX / 1000,
            "pattern": MILLIS_PATTERN,
            "patternErrorMessage": "a duration such as `500ms`, `2s` or `1m`",
            "examples": ["500ms", "2s", "1m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_forms() {
        assert_eq!(Seconds::parse("3600s"), Ok(Seconds(3600)));
        assert_eq!(Seconds::parse("1h"), Ok(Seconds(3600)));
        assert_eq!(Seconds::parse("1h30m"), Ok(Seconds(5400)));
        assert_eq!(Seconds::parse("2d"), Ok(Seconds(172_800)));
        assert_eq!(Seconds::parse("45"), Ok(Seconds(45)));
        assert!(Seconds::parse("10x").unwrap_err().contains("unknown unit"));
        assert!(Seconds::parse("10").is_ok());
        assert!(Seconds::parse("5m10").unwrap_err().contains("no unit"));
        assert!(Seconds::parse("999999999999s").unwrap_err().contains("too long"));
    }

    #[test]
    fn prints_shortest_exact_form() {
        assert_eq!(Seconds(3600).to_string(), "1h");
        assert_eq!(Seconds(5400).to_string(), "1h30m");
        assert_eq!(Seconds(90).to_string(), "1m30s");
        assert_eq!(Seconds(0).to_string(), "0s");
        for n in [1, 59, 61, 3599, 86_401, 1_000_000] {
            assert_eq!(Seconds::parse(&Seconds(n).to_string()), Ok(Seconds(n)));
        }
    }

    #[test]
    fn millis_read_milliseconds_and_every_seconds_form() {
        assert_eq!(Millis::parse("500ms"), Ok(Millis(500)));
        assert_eq!(Millis::parse("2s"), Ok(Millis(2000)));
        assert_eq!(Millis::parse("1m"), Ok(Millis(60_000)));
        assert_eq!(Millis::parse("3"), Ok(Millis(3000)));
        assert!(Millis::parse("5x").unwrap_err().contains("`500ms`"));
        assert!(Millis::parse("ms").is_err());
        assert!(Millis::parse("50d").unwrap_err().contains("too long"));
        let read = |yaml: &str| serde_yaml::from_str::<Millis>(yaml).map_err(|e| e.to_string());
        assert_eq!(read("250ms"), Ok(Millis(250)));
        assert_eq!(read("4"), Ok(Millis(4000)));
        assert_eq!(Millis(1500).to_string(), "1500ms");
        assert_eq!(Millis(90_000).to_string(), "1m30s");
    }
}
