//! The exec probe: a command, its exit code the verdict (keepalived's misc_check, and
//! misc_dynamic when it returns a weight).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::{Outcome, Verdict};

/// The command an exec probe runs.
pub(super) struct Command<'a> {
    pub(super) argv: &'a [String],
    pub(super) env: &'a [(String, String)],
    pub(super) dynamic_weight: bool,
}

/// Runs the command with no input or output of its own (its words would garble the agent's
/// log) in a process group of its own, so that when it runs out of time the whole group is
/// killed: a shell script's children too, not just the shell.
pub(super) async fn probe(command: &Command<'_>, timeout: Duration) -> Verdict {
    let Some((program, arguments)) = command.argv.split_first() else {
        return Outcome::Failed("no command to run".to_string()).into();
    };
    let spawned = tokio::process::Command::new(program)
        .args(arguments)
        .envs(command.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return failed(&error).into(),
    };
    let group = GroupKiller(child.id());
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // What the command left running in its group (a `cmd &` in a script) goes
            // with it: probes every few seconds must not pile up processes.
            drop(group);
            verdict_of(status, command.dynamic_weight)
        }
        Ok(Err(error)) => failed(&error).into(),
        Err(_elapsed) => {
            drop(group);
            // Killed and reaped here, not left a zombie for the runtime to find.
            let _ = child.kill().await;
            Outcome::TimedOut.into()
        }
    }
}

fn verdict_of(status: ExitStatus, dynamic_weight: bool) -> Verdict {
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::Passed.into(),
        (Some(code @ 2..=255), _) if dynamic_weight => {
            Verdict { outcome: Outcome::Passed, weight: Some(code as u32 - 2) }
        }
        (Some(code), _) => Outcome::Exit(code).into(),
        (None, Some(signal)) => Outcome::Signal(signal).into(),
        (None, None) => Outcome::Failed(status.to_string()).into(),
    }
}

fn failed(error: &io::Error) -> Outcome {
    Outcome::Failed(error.to_string())
}

/// Kills the command's process group when dropped: after the command ended (what it left
/// in the background), on a timeout, and when the probe itself is dropped (the agent
/// stopping or reloading) while the command still runs. A group already gone (ESRCH) is
/// what a well-behaved command leaves.
struct GroupKiller(Option<u32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        // The command leads its own group (process_group(0)): its pid is the group's id.
        if let Some(leader) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            let _ = killpg(Pid::from_raw(leader), Signal::SIGKILL);
        }
    }
}
