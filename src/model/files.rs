//! Files lvs-converge writes so that the host comes back converged after a reboot: a
//! sysctl.d drop-in, a modules-load.d list, IPVS rules for `ipvsadm-restore`, network
//! configuration and the boot unit. They are host state like any other: desired from the
//! spec, observed from the disk, diffed and applied.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The first line of every file lvs-converge owns starts with this (but the IPVS rules, see
/// [`IPVS_RULES_MARKER`]). A file without it was written by someone else and is never
/// overwritten unless the user says `--take-over`.
pub const HEADER_PREFIX: &str = "# Managed by lvs-converge";

/// The first line of the IPVS rules file lvs-converge writes, in place of the header:
/// plain `ipvsadm -R` reads no comment (it stops at a `#` line, only the distro wrappers
/// strip them), so ownership needs a line it accepts. `--set 0 0 0` leaves every
/// connection timeout as it is (the kernel reads 0 as "unchanged"), and `ipvsadm-save`
/// never writes `--set`: a rules file someone saved by hand never starts with it.
pub const IPVS_RULES_MARKER: &str = "--set 0 0 0\n";

/// Files the distros' ipvsadm packages put at the rules path before anything was saved
/// (exact contents): they hold no rule, so replacing one loses nothing and needs no
/// `--take-over`. Debian ships the first (typo included) as a conffile of the package;
/// its init script writes the second when the rules file is missing.
pub const IPVSADM_PACKAGE_STUBS: [&str; 2] = ["# emtpy rules file for ipvsadm\n", "# ipvsadm.rules\n"];

/// One regular file, by content (mode and owner are kept as found; new files get 0644 root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileState {
    pub content: FileContent,
}

impl FileState {
    /// True when lvs-converge may rewrite this file without `--take-over`.
    pub fn is_owned(&self) -> bool {
        self.content.is_owned()
    }
}

/// A file's exact bytes: a foreign file taken over and later restored must come back byte
/// for byte, whatever its encoding. In JSON a string when the bytes are UTF-8 (every file
/// lvs-converge renders, so plans stay readable), otherwise `{"hex": "…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileContent(Vec<u8>);

impl FileContent {
    /// True when lvs-converge may rewrite these bytes without `--take-over`: it wrote them,
    /// or they are an ipvsadm package's empty stub.
    pub fn is_owned(&self) -> bool {
        self.written_by_lvs_converge() || self.is_package_stub()
    }

    /// True when lvs-converge wrote these bytes (the first line is its header, or the IPVS
    /// rules marker): only such a file is ever removed.
    pub fn written_by_lvs_converge(&self) -> bool {
        self.as_bytes().starts_with(HEADER_PREFIX.as_bytes())
            || self.as_bytes().starts_with(IPVS_RULES_MARKER.as_bytes())
    }

    /// True when these bytes are exactly a stub an ipvsadm package ships or creates.
    pub fn is_package_stub(&self) -> bool {
        IPVSADM_PACKAGE_STUBS.iter().any(|stub| self.as_bytes() == stub.as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The content as text, when it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for FileContent {
    fn from(bytes: Vec<u8>) -> Self {
        FileContent(bytes)
    }
}

impl From<String> for FileContent {
    fn from(text: String) -> Self {
        FileContent(text.into_bytes())
    }
}

impl From<&str> for FileContent {
    fn from(text: &str) -> Self {
        FileContent(text.as_bytes().to_vec())
    }
}

impl Serialize for FileContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.as_text() {
            Some(text) => serializer.serialize_str(text),
            None => {
                use serde::ser::SerializeMap;
                let hex: String = self.0.iter().map(|byte| format!("{byte:02x}")).collect();
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("hex", &hex)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for FileContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = FileContent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the file's text, or {\"hex\": \"…\"} for content that is not UTF-8")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<FileContent, E> {
                Ok(FileContent::from(text))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileContent, A::Error> {
                let Some((key, hex)) = map.next_entry::<String, String>()? else {
                    return Err(de::Error::missing_field("hex"));
                };
                if key != "hex" {
                    return Err(de::Error::unknown_field(&key, &["hex"]));
                }
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom("file content: only `hex` is allowed"));
                }
                decode_hex(&hex)
                    .map(FileContent)
                    .ok_or_else(|| de::Error::custom("file content: `hex` is not hex digits"))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Findings 18.2 and 18.4: the rules file carries no `#` header (plain `ipvsadm -R`
    /// rejects it) and Debian's package stub was "not owned".
    #[test]
    fn ownership_is_the_header_the_rules_marker_or_a_package_stub() {
        let ours = FileContent::from("--set 0 0 0\n-A -t 203.0.113.100:80 -s wlc\n");
        assert!(ours.is_owned() && ours.written_by_lvs_converge());
        let debian = FileContent::from("# emtpy rules file for ipvsadm\n");
        assert!(debian.is_owned() && debian.is_package_stub() && !debian.written_by_lvs_converge());
        assert!(FileContent::from("# ipvsadm.rules\n").is_owned());
        for foreign in [
            "-A -t 203.0.113.100:80 -s wlc\n",
            "# ipvsadm.rules\n-A -t 203.0.113.100:80 -s wlc\n",
            "# emtpy rules file for ipvsadm\n-A -t 203.0.113.100:80 -s wlc\n",
            "--set 900 120 300\n",
        ] {
            assert!(!FileContent::from(foreign).is_owned(), "{foreign}");
        }
    }

    #[test]
    fn text_is_a_json_string_and_other_bytes_round_trip_exactly() {
        let text = FileContent::from("a = 1\n");
        assert_eq!(serde_json::to_string(&text).unwrap(), r#""a = 1\n""#);
        let latin1 = FileContent::from(b"caf\xe9 = 1\n".to_vec());
        let json = serde_json::to_string(&latin1).unwrap();
        assert_eq!(json, r#"{"hex":"636166e9203d20310a"}"#);
        assert_eq!(serde_json::from_str::<FileContent>(&json).unwrap(), latin1);
        assert_eq!(serde_json::from_str::<FileContent>(r#""a = 1\n""#).unwrap(), text);
        for bad in [r#"{"hex":"6"}"#, r#"{"hex":"zz"}"#, r#"{"base64":"AA=="}"#, r#"{"hex":"61","x":"1"}"#] {
            assert!(serde_json::from_str::<FileContent>(bad).is_err(), "{bad}");
        }
    }
}
