//! Renderers: a plan (or apply report) as text for people or JSON for machines. Every word
//! a user reads about a change or an object is made here; renderers only format, they never
//! decide what changes.

pub mod change;
pub mod findings;
pub mod json;
pub mod saved;
pub mod text;
pub mod unmanaged;

/// Output format of `plan` and `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Writes a whole report to stdout. A reader that went away (EPIPE: `| head`) is not an
/// error: it asked for no more, so nothing is said. Rust ignores SIGPIPE, which is what
/// turns a closed pipe into EPIPE here instead of killing the process mid-apply.
pub fn print(text: &str) -> std::io::Result<()> {
    write_report(&mut std::io::stdout().lock(), text)
}

/// [`print`] to any writer.
pub fn write_report(out: &mut dyn std::io::Write, text: &str) -> std::io::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}
