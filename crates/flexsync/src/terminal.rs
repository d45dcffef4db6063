//! Text on its way to a terminal. Names and messages from Flex or a server may hold escape
//! sequences, bells or carriage returns that would recolour, rewrite or hide lines: all control
//! characters but line feed and tab are dropped. A reader that goes away (`flexsync history |
//! head`) ends the output quietly instead of a panic.

use std::io::Write as _;

/// `text` without control characters other than `\n` and `\t`.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

/// Writes `text`, made printable, to stdout. When stdout is closed, the rest is dropped and the
/// process exits 0.
pub fn show(text: &str) {
    let mut out = std::io::stdout().lock();
    match out
        .write_all(printable(text).as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to stdout: {error}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_bells_and_carriage_returns_are_dropped() {
        assert_eq!(
            printable("Anna \u{1b}[2J\u{1b}]0;title\u{7}Berg\rX\u{9b}\nnext\tline"),
            "Anna [2J]0;titleBergX\nnext\tline"
        );
    }
}
