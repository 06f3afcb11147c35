//! The boot unit: a oneshot service that runs `lvs-converge apply` from the spec once the
//! network is up. It restores everything the spec manages (what the rendered distro files
//! cover and more: named tunnels' state, VIPs on interfaces other files configure), and
//! verifies it. lvs-converge writes the file; enabling it (`systemctl enable`) is the
//! user's step.

use std::path::Path;

use super::BootUnit;

pub fn render(unit: &BootUnit) -> String {
    let mut command = format!("{} apply -f {}", quote(&unit.binary), quote(&unit.spec_path));
    if let Some(node) = &unit.node {
        command.push_str(&format!(" --node {node}"));
    }
    format!(
        "[Unit]\n\
         Description=Converge this host to its LVS spec (lvs-converge apply)\n\
         Wants=network-online.target\n\
         After=network-online.target systemd-modules-load.service systemd-sysctl.service\n\
         ConditionPathExists={spec}\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart={command}\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        spec = unit.spec_path.display()
    )
}

/// systemd's command line quoting, for paths with spaces.
fn quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains(char::is_whitespace) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}
