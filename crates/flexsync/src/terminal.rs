//! Text on its way to a terminal: names and messages from Flex or a server may hold escape
//! sequences, bells or carriage returns that would recolour, rewrite or hide lines; all control
//! characters but line feed and tab are dropped.

/// `text` without control characters other than `\n` and `\t`.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
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
