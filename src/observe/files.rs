//! Persistence files as they are on disk: exactly the paths the spec renders or owns, and
//! lvs-converge's files in the network directory. Absent files are simply not in the map.
//! Also the host's own systemd-networkd files, as facts: which one configures an interface.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::ObserveError;
use crate::model::files::FileState;
use crate::model::persistence::{
    type_needs_mac_address, HostNetworkFile, HostNetworkd, InterfaceMatch, NETWORKD_DIRECTORIES, NETWORK_DROP_IN_NAME,
    NETWORK_FILE_PREFIX,
};
use crate::target_root::{under_root, TargetRoot};

/// Which files to read.
#[derive(Debug, Clone, Default)]
pub struct FileInterest {
    pub paths: BTreeSet<PathBuf>,
    /// Directory → file name prefix (network configuration).
    pub directories: BTreeMap<PathBuf, String>,
    /// `--root DIR`: every path is read under it.
    pub root: Option<PathBuf>,
}

/// Backups and temporary files of the writer are not configuration.
pub fn is_scratch(name: &str) -> bool {
    name.ends_with(".lvs-converge.bak") || name.ends_with(".lvs-converge.tmp")
}

/// Reads every file of interest beneath the root, never through a symbolic link (see
/// [`crate::target_root`]): a link there is an error, not a file.
pub fn read(interest: &FileInterest) -> Result<BTreeMap<PathBuf, FileState>, ObserveError> {
    let root = interest.root.as_deref();
    let failed = |path: &Path| {
        let shown = under_root(root, path);
        move |source| ObserveError::Proc { path: shown, source }
    };
    let Some(target) = TargetRoot::open(root, false).map_err(failed(Path::new("/")))? else {
        return Ok(BTreeMap::new());
    };
    let mut paths = interest.paths.clone();
    for (directory, prefix) in &interest.directories {
        let Some(opened) = target.directory(directory, false).map_err(failed(directory))? else {
            continue;
        };
        for name in opened.names().map_err(failed(directory))? {
            // Names lvs-converge renders are UTF-8; no other name can be one of them.
            let Some(name) = name.to_str() else { continue };
            let config = name.ends_with(".network") || name.ends_with(".netdev");
            if name.starts_with(prefix.as_str()) && config && !is_scratch(name) {
                paths.insert(directory.join(name));
            }
            // lvs-converge's drop-in for a host file, wherever that file is.
            let real_directory = |path: PathBuf| std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir());
            if name.ends_with(".network.d") && real_directory(under_root(root, &directory.join(name))) {
                paths.insert(directory.join(name).join(NETWORK_DROP_IN_NAME));
            }
        }
    }
    let mut files = BTreeMap::new();
    for path in paths {
        if let Some(bytes) = target.read(&path).map_err(failed(&path))? {
            files.insert(path, FileState { content: bytes.into() });
        }
    }
    Ok(files)
}

/// The host's own `.network` files (not lvs-converge's) in networkd's directories under
/// `root`, masked and ordered as networkd does. A symbolic link is not followed: as a file it
/// masks its name (the `-> /dev/null` idiom) and configures nothing known; as a directory
/// (`/lib` on a merged-/usr system) it is the same files again, already read.
pub fn read_host_networkd(root: Option<&Path>) -> Result<HostNetworkd, ObserveError> {
    let failed = |path: &Path| {
        let shown = under_root(root, path);
        move |source| ObserveError::Proc { path: shown, source }
    };
    let Some(target) = TargetRoot::open(root, false).map_err(failed(Path::new("/")))? else {
        return Ok(HostNetworkd::default());
    };
    let mut seen = BTreeSet::new();
    let mut files = BTreeMap::new();
    for directory in NETWORKD_DIRECTORIES.map(Path::new) {
        if passes_a_link(root, directory) {
            continue;
        }
        let Some(opened) = target.directory(directory, false).map_err(failed(directory))? else {
            continue;
        };
        for name in opened.names().map_err(failed(directory))? {
            let Some(name) = name.to_str() else { continue };
            if !name.ends_with(".network") || name.starts_with(NETWORK_FILE_PREFIX) || !seen.insert(name.to_string()) {
                continue;
            }
            let path = directory.join(name);
            let on_disk = under_root(root, &path);
            if std::fs::symlink_metadata(&on_disk).is_ok_and(|meta| !meta.file_type().is_file()) {
                continue;
            }
            let Some(bytes) = target.read(&path).map_err(failed(&path))? else { continue };
            // An empty file masks like a link to /dev/null.
            if !bytes.is_empty() {
                let matches = interface_match(&String::from_utf8_lossy(&bytes));
                files.insert(name.to_string(), HostNetworkFile { path, matches });
            }
        }
    }
    Ok(HostNetworkd { files: files.into_values().collect() })
}

/// Whether some directory on the way to `directory` (under `root`) is a symbolic link.
fn passes_a_link(root: Option<&Path>, directory: &Path) -> bool {
    directory.ancestors().filter(|a| a.parent().is_some()).any(|ancestor| {
        std::fs::symlink_metadata(under_root(root, ancestor)).is_ok_and(|meta| meta.file_type().is_symlink())
    })
}

/// The interface names a `.network` file's `[Match]` sections accept, and whether other
/// conditions (MAC address, driver …), which no name can tell, stand beside them.
fn interface_match(text: &str) -> InterfaceMatch {
    let mut section = String::new();
    let (mut patterns, mut inverted, mut named) = (Vec::new(), false, false);
    let (mut mac_conditions, mut other_conditions, mut needs_mac_address) = (false, false, false);
    let mut logical = String::new();
    for raw in text.lines() {
        // A line ending in a backslash continues on the next one.
        if let Some(start) = raw.strip_suffix('\\') {
            logical.push_str(start);
            logical.push(' ');
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        if section != "Match" {
            continue;
        }
        let value = value.trim();
        match key.trim() {
            "Name" if value.is_empty() => (patterns, inverted, named) = (Vec::new(), false, false),
            "Name" => {
                named = true;
                let value = match value.strip_prefix('!') {
                    Some(rest) => {
                        inverted = true;
                        rest
                    }
                    None => value,
                };
                patterns.extend(value.split_whitespace().map(|word| word.trim_matches('"').to_string()));
            }
            "MACAddress" | "PermanentMACAddress" if !value.is_empty() => mac_conditions = true,
            "WLANInterfaceType" | "SSID" | "BSSID" if !value.is_empty() => {
                (other_conditions, needs_mac_address) = (true, true);
            }
            "Type" if !value.is_empty() => {
                other_conditions = true;
                needs_mac_address |= type_needs_mac_address(value);
            }
            _ if !value.is_empty() => other_conditions = true,
            _ => {}
        }
    }
    match (named, mac_conditions || other_conditions) {
        (true, _) => InterfaceMatch::Names { patterns, inverted, conditional: other_conditions },
        (false, false) => InterfaceMatch::Every,
        // networkd needs every condition: one only hardware meets keeps lo and tunnels out
        (false, true) => InterfaceMatch::OtherConditions { mac_only: mac_conditions || needs_mac_address },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        crate::test_support::scratch_dir("observe-files", name)
    }

    fn interest(root: &Path, paths: &[&str], directory: Option<&str>) -> FileInterest {
        FileInterest {
            paths: paths.iter().map(PathBuf::from).collect(),
            directories: directory.map(|d| (PathBuf::from(d), "90-lvs-converge-".to_string())).into_iter().collect(),
            root: Some(root.to_path_buf()),
        }
    }

    /// Finding 6: the reader turned a Latin-1 file into lossy UTF-8 (U+FFFD).
    #[test]
    fn files_are_read_byte_for_byte() {
        let root = scratch("bytes");
        std::fs::create_dir_all(root.join("etc/net")).unwrap();
        std::fs::write(root.join("etc/ipvsadm.rules"), b"# caf\xe9\n").unwrap();
        std::fs::write(root.join("etc/net/90-lvs-converge-tun1.netdev"), "x\n").unwrap();
        std::fs::write(root.join("etc/net/90-lvs-converge-tun1.netdev.lvs-converge.bak"), "x\n").unwrap();
        let files = read(&interest(&root, &["/etc/ipvsadm.rules", "/etc/absent"], Some("/etc/net"))).unwrap();
        let contents: Vec<_> =
            files.iter().map(|(path, file)| (path.display().to_string(), file.content.as_bytes())).collect();
        assert_eq!(
            contents,
            [
                ("/etc/ipvsadm.rules".to_string(), &b"# caf\xe9\n"[..]),
                ("/etc/net/90-lvs-converge-tun1.netdev".to_string(), &b"x\n"[..])
            ]
        );
        assert!(read(&interest(&root.join("absent"), &["/etc/ipvsadm.rules"], None)).unwrap().is_empty());
    }

    /// Finding 4: `plan` read (and showed) files outside the root through a link in it.
    #[test]
    fn links_in_the_root_are_errors_not_files() {
        let base = scratch("links");
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("90-lvs-converge-x.network"), "secret\n").unwrap();
        symlink(&outside, root.join("etc/network")).unwrap();
        symlink(outside.join("90-lvs-converge-x.network"), root.join("etc/sysctl.conf")).unwrap();
        for interest in [interest(&root, &["/etc/sysctl.conf"], None), interest(&root, &[], Some("/etc/network"))] {
            let error = read(&interest).unwrap_err().to_string();
            assert!(error.contains("symbolic link"), "{error}");
        }
    }

    /// Issue 18: lvs-converge's `.network` file competed with the host's own for the same
    /// interface; which host file networkd uses for it is read as networkd reads it.
    #[test]
    fn the_host_s_networkd_files_are_masked_and_ordered_as_networkd_does() {
        let root = scratch("networkd");
        for directory in ["etc/systemd/network", "run/systemd/network", "usr/lib/systemd/network"] {
            std::fs::create_dir_all(root.join(directory)).unwrap();
        }
        let write = |path: &str, text: &str| std::fs::write(root.join(path), text).unwrap();
        write("usr/lib/systemd/network/99-wired.network", "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n");
        write("usr/lib/systemd/network/20-eth1.network", "[Match]\nName=eth1\n");
        // Masked by the same name in /etc (an empty file) and in /run (a link to /dev/null).
        write("etc/systemd/network/20-eth1.network", "");
        write("usr/lib/systemd/network/30-eth2.network", "[Match]\nName=eth2\n");
        symlink("/dev/null", root.join("run/systemd/network/30-eth2.network")).unwrap();
        write("run/systemd/network/10-netplan-eth0.network", "# netplan\n[Match]\nName=eth0\n");
        write("etc/systemd/network/50-by-mac.network", "[Match]\nMACAddress=52:54:00:12:34:56\n");
        write("etc/systemd/network/60-not-these.network", "[Match]\nName=!eth* \\\n  lo tunl0 en*\n");
        write("etc/systemd/network/90-lvs-converge-eth0.network", "[Match]\nName=eth0\n");
        write("etc/systemd/network/40-eth0.network.example", "[Match]\nName=eth0\n");
        std::fs::create_dir_all(root.join("lib")).unwrap();
        symlink("../usr/lib/systemd", root.join("lib/systemd")).unwrap();
        let host = read_host_networkd(Some(&root)).unwrap();
        let paths: Vec<_> = host.files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/run/systemd/network/10-netplan-eth0.network",
                "/etc/systemd/network/50-by-mac.network",
                "/etc/systemd/network/60-not-these.network",
                "/usr/lib/systemd/network/99-wired.network"
            ]
        );
        let configuring =
            |name: &str| host.configuring(name, name.starts_with("eth")).map(|file| file.path.display().to_string());
        assert_eq!(configuring("eth0").as_deref(), Some("/run/systemd/network/10-netplan-eth0.network"));
        // A file matched by MAC address may be eth1's: it sorts before the catch-all.
        assert_eq!(configuring("eth1").as_deref(), Some("/etc/systemd/network/50-by-mac.network"));
        assert_eq!(configuring("tun-dir").as_deref(), Some("/etc/systemd/network/60-not-these.network"));
        assert_eq!(configuring("tunl0"), None);
        assert_eq!(configuring("lo"), None);
        assert!(read_host_networkd(Some(&root.join("absent"))).unwrap().files.is_empty());
    }

    #[test]
    fn a_match_section_without_conditions_matches_every_interface() {
        assert_eq!(interface_match("[Network]\nDHCP=yes\n"), InterfaceMatch::Every);
        assert_eq!(
            interface_match("[Match]\nName=eth0\nName=\nName=\"eth1\" eth2\n[Link]\nName=x\n"),
            InterfaceMatch::Names { patterns: vec!["eth1".into(), "eth2".into()], inverted: false, conditional: false }
        );
    }

    /// Review of issue 18: a host file matched by MAC address (netplan's `match: macaddress`)
    /// or driver may be the file networkd applies to any interface. A file of lvs-converge's
    /// own would lose to it at boot, a drop-in might attach to a file that does not apply:
    /// neither may be written as if the file were not there.
    #[test]
    fn a_host_file_matched_by_other_conditions_may_configure_any_interface() {
        let by_mac = interface_match("[Match]\nMACAddress=52:54:00:12:34:56\n\n[Network]\nDHCP=yes\n");
        assert_eq!(by_mac, InterfaceMatch::OtherConditions { mac_only: true });
        assert!(by_mac.accepts("eth0", true) && !by_mac.accepts("tun-dir", false) && !by_mac.only("eth0"));
        // A type or kind can match a tunnel or lo too.
        let by_kind = interface_match("[Match]\nKind=ipip\n");
        assert_eq!(by_kind, InterfaceMatch::OtherConditions { mac_only: false });
        assert!(by_kind.accepts("tun-dir", false) && by_kind.accepts("lo", false));
        let named_and_typed = interface_match("[Match]\nName=eth0\nType=ether\n");
        assert!(named_and_typed.accepts("eth0", true) && !named_and_typed.only("eth0"));
        assert!(!named_and_typed.accepts("eth1", true));
        // netplan's `match: macaddress` with `set-name: eth0`: that one name alone, a drop-in.
        let named_by_mac = interface_match("[Match]\nPermanentMACAddress=52:54:00:12:34:56\nName=eth0\n");
        assert!(named_by_mac.accepts("eth0", true) && named_by_mac.only("eth0"));
        let root = scratch("by-mac");
        std::fs::create_dir_all(root.join("run/systemd/network")).unwrap();
        std::fs::write(
            root.join("run/systemd/network/10-netplan-eth0.network"),
            "[Match]\nMACAddress=52:54:00:12:34:56\n",
        )
        .unwrap();
        let host = read_host_networkd(Some(&root)).unwrap();
        let file = host.configuring("eth0", true).expect("the MAC-matched file counts");
        assert_eq!(file.path, Path::new("/run/systemd/network/10-netplan-eth0.network"));
        assert!(!file.matches.only("eth0"));
        assert_eq!(host.configuring("lo", false), None, "lo has no MAC address to match");
    }

    /// Found by the real-OS lab (tests/lab/os): Debian's systemd ships
    /// /usr/lib/systemd/network/80-wifi-adhoc.network (`Type=wlan`, `WLANInterfaceType=`),
    /// which was taken for a file that may configure lo and tunl0: a real server's VIP on
    /// lo and tunl0's state were never persisted for networkd on a stock Debian.
    #[test]
    fn a_file_only_wifi_or_ethernet_meets_is_not_los_or_a_tunnels() {
        let adhoc =
            interface_match("[Match]\nType=wlan\nWLANInterfaceType=ad-hoc\n\n[Network]\nLinkLocalAddressing=yes\n");
        assert!(adhoc.accepts("wlan0", true), "{adhoc:?}");
        assert!(!adhoc.accepts("lo", false) && !adhoc.accepts("tunl0", false), "{adhoc:?}");
        let ether = interface_match("[Match]\nType=ether wlan\n");
        assert!(!ether.accepts("lo", false) && ether.accepts("eth0", true), "{ether:?}");
        // Types lo and the tunnels have, globs reaching them, and inverted lists may match.
        for may_match_lo_or_a_tunnel in ["Type=tunnel", "Type=loop*", "Type=!wlan", "Type=ether sit", "SSID="] {
            let matches = interface_match(&format!("[Match]\n{may_match_lo_or_a_tunnel}\nDriver=x\n"));
            assert!(matches.accepts("lo", false), "{may_match_lo_or_a_tunnel}: {matches:?}");
        }
    }

    /// Issue 18: a drop-in lvs-converge wrote for a host file must go when it is no longer
    /// wanted (the interface left the spec, the host file went), like its own files do.
    #[test]
    fn drop_ins_in_the_network_directory_are_read_and_stale_ones_removed() {
        let root = scratch("drop-ins");
        std::fs::create_dir_all(root.join("etc/net/10-eth0.network.d")).unwrap();
        std::fs::create_dir_all(root.join("etc/net/20-eth1.network.d")).unwrap();
        let ours = "# Managed by lvs-converge: changes here are overwritten.\n[Address]\nAddress=203.0.113.100/32\n";
        std::fs::write(root.join("etc/net/10-eth0.network.d/90-lvs-converge.conf"), ours).unwrap();
        std::fs::write(root.join("etc/net/10-eth0.network.d/50-mtu.conf"), "[Link]\nMTUBytes=9000\n").unwrap();
        std::fs::write(root.join("etc/net/20-eth1.network.d/90-lvs-converge.conf"), "[Link]\nMTUBytes=1400\n").unwrap();
        let files = read(&interest(&root, &[], Some("/etc/net"))).unwrap();
        let paths: Vec<_> = files.keys().map(|path| path.display().to_string()).collect();
        assert_eq!(
            paths,
            ["/etc/net/10-eth0.network.d/90-lvs-converge.conf", "/etc/net/20-eth1.network.d/90-lvs-converge.conf"]
        );
        let ownership = crate::model::ownership::FileOwnership {
            directories: [(PathBuf::from("/etc/net"), "90-lvs-converge-".to_string())].into(),
            ..Default::default()
        };
        let (changes, foreign) = crate::plan::files::diff(&BTreeMap::new(), &files, &ownership);
        let deleted: Vec<_> = changes.iter().map(|change| change.path().display().to_string()).collect();
        assert_eq!(deleted, ["/etc/net/10-eth0.network.d/90-lvs-converge.conf"]);
        // Not ours (no header): left alone, and said.
        assert_eq!(foreign, [PathBuf::from("/etc/net/20-eth1.network.d/90-lvs-converge.conf")]);
    }
}
