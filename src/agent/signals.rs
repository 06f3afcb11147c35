//! The signals the agent obeys, turned into commands its loop reads between steps: SIGHUP
//! reloads the spec, SIGTERM and SIGINT stop the loop once the current run has finished
//! (never halfway through an apply: the IPVS table is left as the last run made it).

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Read the spec again; keep the old one if the new one is invalid.
    Reload,
    /// Stop after the current step; the name of the signal that asked.
    Stop(&'static str),
}

/// Listens for SIGHUP, SIGTERM and SIGINT (from now on they no longer end the process) and
/// sends what each asks on the returned channel. Call inside the agent's runtime.
pub fn listen() -> std::io::Result<mpsc::UnboundedReceiver<Command>> {
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let command = tokio::select! {
                Some(()) = hangup.recv() => Command::Reload,
                Some(()) = terminate.recv() => Command::Stop("SIGTERM"),
                Some(()) = interrupt.recv() => Command::Stop("SIGINT"),
                else => break,
            };
            if sender.send(command).is_err() {
                break;
            }
        }
    });
    Ok(receiver)
}
