//! Writing a command's output to stdout: a reader that goes away (`flexsync history | head`)
//! ends the output quietly instead of a panic.

use std::io::Write as _;

/// Writes `text` to stdout. When stdout is closed, the rest is dropped and the process exits 0.
pub fn show(text: &str) {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to stdout: {error}");
            std::process::exit(2);
        }
    }
}
