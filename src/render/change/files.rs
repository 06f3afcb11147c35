//! Persistence files: their content as JSON, and a unified diff for people.

use std::path::Path;

use super::ChangeView;
use crate::model::files::FileContent;
use crate::model::persistence::{DEBIAN_IPVSADM_DEFAULTS, DEFAULT_IPVS_PATH, RHEL_IPVSADM_DROP_IN};
use crate::model::Subsystem;
use crate::plan::FileChange;

pub fn describe(change: &FileChange) -> ChangeView {
    let (before, after) = change.contents();
    let before = before.map(|content| match change {
        FileChange::Update { owned, .. } => serde_json::json!({ "content": content, "owned": owned }),
        _ => serde_json::json!({ "content": content }),
    });
    ChangeView {
        subsystem: Subsystem::Files,
        action: change.action(),
        kind: "file",
        id: change.path().display().to_string(),
        fields: vec![],
        before,
        after: after.map(|content| match change {
            // Machines tell a one-setting edit of a file lvs-converge does not own (no
            // `--take-over` needed) from a rewrite by this field, not by the diff's prose.
            FileChange::SetValue { name, value, .. } => {
                serde_json::json!({ "content": content, "setting": { "name": name, "value": value } })
            }
            _ => serde_json::json!({ "content": content }),
        }),
    }
}

/// A unified diff from the file on the host to the rendered one, preceded by a warning
/// when the file is not lvs-converge's. Content that is not UTF-8 is not shown as text.
pub fn diff(change: &FileChange) -> String {
    let (before, after) = change.contents();
    let path = change.path().display().to_string();
    let old = if before.is_none() { "/dev/null".to_string() } else { path.clone() };
    let new = if after.is_none() { "/dev/null".to_string() } else { path };
    let mut text = String::new();
    if change.overwrites_foreign_file() {
        text.push_str("not owned (no lvs-converge header): apply will refuse without --take-over\n");
    }
    if change.path() == Path::new(RHEL_IPVSADM_DROP_IN) && after.is_some() {
        text.push_str(
            "systemd reads this drop-in after `systemctl daemon-reload`: until then ipvsadm.service's stop still saves the live table over the rules\n",
        );
    }
    if let FileChange::SetValue { name, value, .. } = change {
        text.push_str(&format!(
            "sets {name}=\"{value}\" only: the rest of the file is not lvs-converge's and stays as it is\n"
        ));
        let path = change.path();
        if path == Path::new(DEBIAN_IPVSADM_DEFAULTS) {
            text.push_str(&format!(
                "(Debian's ipvsadm init script restores {DEFAULT_IPVS_PATH} at boot only with {name}=\"{value}\")\n"
            ));
        }
    }
    fn as_text(content: Option<&FileContent>) -> Option<&str> {
        content.map_or(Some(""), FileContent::as_text)
    }
    match (as_text(before), as_text(after)) {
        (Some(before), Some(after)) => {
            let diff = similar::TextDiff::from_lines(before, after);
            text.push_str(&diff.unified_diff().context_radius(3).header(&old, &new).to_string());
        }
        _ => {
            let size = |content: Option<&FileContent>| content.map_or(0, FileContent::len);
            text.push_str(&format!(
                "binary file (not UTF-8 text) {old} ({} bytes) and {new} ({} bytes) differ\n",
                size(before),
                size(after)
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "# Managed by lvs-converge from /s.yaml: changes here are overwritten.\na = 1\n";

    #[test]
    fn detail_is_a_unified_diff_of_exactly_the_edit() {
        let change = FileChange::Update {
            path: "/etc/x.conf".into(),
            before: format!("{OURS}b = 2\n").into(),
            after: format!("{OURS}b = 3\n").into(),
            owned: true,
        };
        assert_eq!(
            diff(&change),
            "--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1,3 +1,3 @@\n # Managed by lvs-converge from /s.yaml: changes here are overwritten.\n a = 1\n-b = 2\n+b = 3\n"
        );
    }

    #[test]
    fn the_rhel_drop_in_says_systemd_must_reload() {
        let change = FileChange::Create { path: RHEL_IPVSADM_DROP_IN.into(), after: "[Service]\n".into() };
        assert!(
            diff(&change).starts_with("systemd reads this drop-in after `systemctl daemon-reload`"),
            "{}",
            diff(&change)
        );
    }

    #[test]
    fn a_setting_change_names_the_setting_in_json() {
        let change = FileChange::SetValue {
            path: "/etc/default/ipvsadm".into(),
            name: "AUTO".into(),
            value: "true".into(),
            before: "AUTO=\"false\"\n".into(),
            after: "AUTO=\"true\"\n".into(),
        };
        let view = describe(&change);
        assert_eq!(
            view.after,
            Some(serde_json::json!({ "content": "AUTO=\"true\"\n", "setting": { "name": "AUTO", "value": "true" } }))
        );
        assert_eq!(view.before, Some(serde_json::json!({ "content": "AUTO=\"false\"\n" })));
    }

    #[test]
    fn content_that_is_not_utf8_is_a_binary_file_in_the_diff_and_exact_in_json() {
        let change = FileChange::Update {
            path: "/etc/ipvsadm.rules".into(),
            before: b"caf\xe9\n".to_vec().into(),
            after: OURS.into(),
            owned: false,
        };
        assert_eq!(
            diff(&change),
            "not owned (no lvs-converge header): apply will refuse without --take-over\n\
             binary file (not UTF-8 text) /etc/ipvsadm.rules (5 bytes) and /etc/ipvsadm.rules (76 bytes) differ\n"
        );
        let view = describe(&change);
        assert_eq!(view.before, Some(serde_json::json!({ "content": { "hex": "636166e90a" }, "owned": false })));
        assert_eq!(view.after, Some(serde_json::json!({ "content": OURS })));
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(serde_json::from_str::<FileChange>(&json).unwrap(), change);
    }
}
