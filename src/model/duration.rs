//! Human durations in specs: `3600s`, `90m`, `1h30m`, `2d`, or a bare number of seconds.

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
}
