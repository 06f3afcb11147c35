//! The boot unit: a oneshot service that runs `lvs-converge apply` from the spec once the
//! network is up. It restores everything the spec manages (what the rendered distro files
//! cover and more: named tunnels' state, VIPs on interfaces other files configure), and
//! verifies it. lvs-converge writes the file; enabling it (`systemctl enable`) is the
//! user's step.
//!
//! Every value comes from the spec (paths, the node name), so each is escaped for the place
//! it lands in (systemd.syntax(7), systemd.service(5) "Command lines"): a value must stay
//! one value, never become a second line, a second command or a specifier.

use std::path::Path;

use crate::model::persistence::BootUnit;

pub fn render(unit: &BootUnit) -> String {
    let command = if unit.agent { "agent" } else { "apply" };
    let mut arguments = vec![unit.binary.display().to_string(), command.into(), "-f".into()];
    arguments.push(unit.spec_path.display().to_string());
    if let Some(node) = &unit.node {
        arguments.extend(["--node".to_string(), node.clone()]);
    }
    let command = arguments.iter().map(|argument| command_argument(argument)).collect::<Vec<_>>().join(" ");
    let (description, service) = if unit.agent {
        (
            "Keep this host converged to its LVS spec and health-check real servers (lvs-converge agent)",
            agent_service(&command),
        )
    } else {
        ("Converge this host to its LVS spec (lvs-converge apply)", oneshot_service(&command))
    };
    let spec = path_value(&unit.spec_path);
    // After the distro's IPVS restore too: Debian's init script (sysv-generated
    // ipvsadm.service, ordered only after network-online.target, like this unit) and RHEL's
    // ipvsadm.service flush the table before loading their rules file. Unordered, a restore
    // that ran second wiped what this unit had converged and verified (the real-OS lab,
    // tests/lab/os, saw it run second). Ordering against a unit that does not exist is a no-op.
    format!(
        "[Unit]\n\
         Description={description}\n\
         Wants=network-online.target\n\
         After=network-online.target systemd-modules-load.service systemd-sysctl.service ipvsadm.service\n\
         ConditionPathExists={spec}\n\
         \n\
         [Service]\n\
         {service}\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// `apply` once per boot, kept "active" afterwards so that `systemctl status` shows it ran.
fn oneshot_service(command: &str) -> String {
    format!("Type=oneshot\nRemainAfterExit=yes\nExecStart={command}\n")
}

/// The agent: started like the oneshot (its first run converges the host, and only then
/// does it tell systemd it is ready), kept alive by the watchdog, reloaded by SIGHUP.
/// examples/systemd/lvs-converge-agent.service is the same unit with comments.
fn agent_service(command: &str) -> String {
    format!(
        "Type=notify\n\
         NotifyAccess=main\n\
         ExecStart={command}\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         TimeoutStartSec=5min\n\
         WatchdogSec=30s\n\
         Restart=on-failure\n\
         RestartSec=5s\n"
    )
}

/// One argument of `ExecStart=`: `%` and `$` doubled (no specifier, no variable), quoted
/// with C escapes unless it is made only of characters that mean nothing to systemd.
fn command_argument(argument: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._+,:=@-".contains(c);
    if !argument.is_empty() && argument.chars().all(plain) {
        return argument.to_string();
    }
    let mut quoted = String::from("\"");
    for c in argument.chars() {
        match c {
            '%' => quoted.push_str("%%"),
            '$' => quoted.push_str("$$"),
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            c if c.is_control() => quoted.push_str(&format!("\\x{:02x}", u32::from(c) & 0xff)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A path as the whole value of a setting such as `ConditionPathExists=`: only specifiers
/// are expanded there, so only `%` needs escaping (validation keeps out what cannot be
/// written at all; should one slip through, it is written visibly, never as a new line).
fn path_value(path: &Path) -> String {
    let mut value = String::new();
    for c in path.display().to_string().chars() {
        match c {
            '%' => value.push_str("%%"),
            c if c.is_control() => value.push_str(&format!("\\x{:02x}", u32::from(c) & 0xff)),
            c => value.push(c),
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(spec_path: &str, node: Option<&str>) -> BootUnit {
        BootUnit {
            path: "/etc/systemd/system/lvs-converge.service".into(),
            spec_path: spec_path.into(),
            binary: "/usr/bin/lvs-converge".into(),
            node: node.map(str::to_string),
            agent: false,
        }
    }

    #[test]
    fn an_agent_unit_runs_the_agent_with_notify_watchdog_and_reload() {
        let text = render(&BootUnit { agent: true, ..unit("/etc/lvs/cluster.yaml", Some("lb1")) });
        assert_eq!(
            lines_starting(&text, "ExecStart="),
            ["ExecStart=/usr/bin/lvs-converge agent -f /etc/lvs/cluster.yaml --node lb1"]
        );
        for line in ["Type=notify", "WatchdogSec=30s", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID"] {
            assert_eq!(lines_starting(&text, line), [line], "{text}");
        }
        assert!(lines_starting(&text, "RemainAfterExit").is_empty(), "not a oneshot: {text}");
        // The example shipped for installing by hand is this unit, with comments and metrics.
        let example = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/systemd/lvs-converge-agent.service"
        ))
        .unwrap();
        let settings = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| {
                    !l.starts_with('#') && !l.starts_with("ExecStart=") && !l.starts_with("ConditionPathExists=")
                })
                .map(str::to_string)
                .collect()
        };
        assert_eq!(settings(&example), settings(&text));
    }

    fn lines_starting(text: &str, prefix: &str) -> Vec<String> {
        text.lines().filter(|line| line.starts_with(prefix)).map(str::to_string).collect()
    }

    #[test]
    fn a_newline_in_a_value_never_becomes_a_unit_line() {
        let text = render(&unit("/etc/lvs/x.yaml\nExecStartPre=/bin/sh -c 'touch /pwned'", Some("rs1\nUser=nobody")));
        assert_eq!(text.lines().count(), 13, "{text}");
        assert!(lines_starting(&text, "ExecStartPre").is_empty(), "{text}");
        assert!(lines_starting(&text, "User=").is_empty(), "{text}");
        assert_eq!(
            lines_starting(&text, "ExecStart="),
            [
                r#"ExecStart=/usr/bin/lvs-converge apply -f "/etc/lvs/x.yaml\x0aExecStartPre=/bin/sh -c 'touch /pwned'" --node "rs1\x0aUser=nobody""#
            ]
        );
    }

    #[test]
    fn specifiers_variables_spaces_and_quotes_stay_literal() {
        let text = render(&unit(r#"/etc/lvs/50% "$HOME" a\b.yaml"#, Some("rs 1;$X")));
        assert_eq!(
            lines_starting(&text, "ExecStart="),
            [r#"ExecStart=/usr/bin/lvs-converge apply -f "/etc/lvs/50%% \"$$HOME\" a\\b.yaml" --node "rs 1;$$X""#]
        );
        assert_eq!(
            lines_starting(&text, "ConditionPathExists="),
            [r#"ConditionPathExists=/etc/lvs/50%% "$HOME" a\b.yaml"#]
        );
        // A lone `;` would separate a second command.
        let text = render(&unit("/etc/lvs/x.yaml", Some(";")));
        assert_eq!(
            lines_starting(&text, "ExecStart="),
            [r#"ExecStart=/usr/bin/lvs-converge apply -f /etc/lvs/x.yaml --node ";""#]
        );
    }

    #[test]
    fn the_unit_runs_after_the_distros_ipvs_restore_which_flushes_the_table() {
        let text = render(&unit("/etc/lvs/cluster.yaml", None));
        let after = lines_starting(&text, "After=");
        assert_eq!(after.len(), 1, "{text}");
        let units: Vec<&str> = after[0]["After=".len()..].split(' ').collect();
        for wanted in
            ["network-online.target", "systemd-modules-load.service", "systemd-sysctl.service", "ipvsadm.service"]
        {
            assert!(units.contains(&wanted), "After= lacks {wanted}: {text}");
        }
    }

    #[test]
    fn plain_values_are_written_as_they_are() {
        let text = render(&unit("/etc/lvs/cluster.yaml", Some("rs-2.dc1")));
        assert_eq!(
            lines_starting(&text, "ExecStart="),
            ["ExecStart=/usr/bin/lvs-converge apply -f /etc/lvs/cluster.yaml --node rs-2.dc1"]
        );
    }

    /// systemd's own parser, where it is installed, accepts the escapes (an unknown escape or
    /// an unbalanced quote is reported against the unit file).
    #[test]
    fn systemd_analyze_verify_accepts_the_escaped_unit() {
        let Ok(output) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
            eprintln!("skipped: systemd-analyze is not installed");
            return;
        };
        if !output.status.success() {
            eprintln!("skipped: systemd-analyze does not run here");
            return;
        }
        let dir = std::env::temp_dir().join(format!("lvs-converge-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join(r#"50%Z "$HOME" a\b;c.yaml"#);
        std::fs::write(&spec, "").unwrap();
        let file = dir.join("lvs-converge-test.service");
        let text = render(&BootUnit {
            path: file.clone(),
            spec_path: spec.clone(),
            binary: "/bin/true".into(),
            node: Some("rs 1;$X".into()),
            agent: false,
        });
        std::fs::write(&file, &text).unwrap();
        let output = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(&file)
            .output()
            .expect("systemd-analyze runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("lvs-converge-test.service:"), "systemd complains about the unit:\n{stderr}\n{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
