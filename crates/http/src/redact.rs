//! Keeping secrets and server-sent values out of messages: a [`Scrubber`] removes a secret in
//! every form a server can echo it in (raw, JSON-escaped, percent-encoded, base64), and
//! [`without_values`] drops the values serde and toml quote in their errors.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Removes secrets from text a server sent. Scrub before anything cuts the text short, and again
/// after decoding it (a JSON body's escapes), as both the client crates do.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Every form of every secret, longest first.
    forms: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} forms)", self.forms.len())
    }
}

impl Scrubber {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Scrubber {
        let mut forms: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .flat_map(forms_of)
            .filter(|f| !f.is_empty())
            .collect();
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Scrubber { forms }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for form in &self.forms {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), MASK);
            }
        }
        text
    }

    /// A body as text (invalid UTF-8 replaced), scrubbed.
    pub fn scrub_bytes(&self, body: &[u8]) -> Vec<u8> {
        self.scrub(&String::from_utf8_lossy(body)).into_bytes()
    }
}

/// The forms a server may echo `secret` in.
fn forms_of(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    vec![
        secret.to_string(),
        json_escaped(secret, false),
        json_escaped(secret, true),
        unicode_escaped(secret),
        percent(secret, false, true),
        percent(secret, false, false),
        percent(secret, true, true),
        percent(secret, true, false),
        percent(secret, false, true).replace("%20", "+"),
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
    ]
}

/// As a JSON string holds it (without the quotes); `slash` escapes `/` too, as some servers do.
fn json_escaped(secret: &str, slash: bool) -> String {
    let mut out = String::new();
    for c in secret.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Every character as a `\uXXXX` escape (ASCII secrets only; others are left to the decoded scrub).
fn unicode_escaped(secret: &str) -> String {
    if !secret.is_ascii() {
        return String::new();
    }
    secret
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect()
}

/// Percent-encoded: every byte (`all`) or all but the unreserved ones, in upper or lower hex.
fn percent(secret: &str, lower: bool, all: bool) -> String {
    let mut out = String::new();
    for &b in secret.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if unreserved && !all {
            out.push(b as char);
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A serde or toml error message without the values it quotes (`invalid type: string "..."`,
/// ``integer `123` ``, ``unknown variant `x` ``): a value in a field of the wrong type may be a
/// secret, or personal data. Field names are kept.
pub fn without_values(message: &str) -> String {
    const QUOTED: [(&str, char, &str); 6] = [
        ("string \"", '"', "a string"),
        ("integer `", '`', "an integer"),
        ("floating point `", '`', "a number"),
        ("character `", '`', "a character"),
        ("boolean `", '`', "a boolean"),
        ("variant `", '`', "variant"),
    ];
    let mut out = String::new();
    let mut rest = message;
    'scan: while !rest.is_empty() {
        for (prefix, close, replacement) in QUOTED {
            if let Some(after) = rest.strip_prefix(prefix) {
                out.push_str(replacement);
                rest = skip_quoted(after, close);
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// The text after the closing `close` (a `\` escapes the next character).
fn skip_quoted(text: &str, close: char) -> &str {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && close == '"' {
            escaped = true;
        } else if c == close {
            return &text[i + c.len_utf8()..];
        }
    }
    ""
}

/// A URL as typed, with any `user:password@` taken out, for messages about it.
pub fn without_userinfo(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else {
        return match text.split_once('@') {
            Some((_, host)) if !text[..text.find('/').unwrap_or(text.len())].is_empty() => {
                format!("***@{host}")
            }
            _ => text.to_string(),
        };
    };
    let authority_end = text[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| scheme_end + i);
    match text[scheme_end..authority_end].rfind('@') {
        Some(at) => format!(
            "{}***@{}",
            &text[..scheme_end],
            &text[scheme_end + at + 1..]
        ),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cr3t/T0ken+x=y z\"q";

    #[test]
    fn a_secret_is_scrubbed_in_every_form_a_server_echoes_it_in() {
        let scrubber = Scrubber::new([TOKEN]);
        for echo in forms_of(TOKEN) {
            let text = format!("bad token <{echo}> here");
            assert_eq!(scrubber.scrub(&text), "bad token <***> here", "{echo}");
        }
        let json = serde_json::json!({ "detail": TOKEN }).to_string();
        assert!(!scrubber.scrub(&json).contains("T0ken"), "{json}");
        assert_eq!(Scrubber::new([""]).scrub("text"), "text");
    }

    #[test]
    fn serde_and_toml_messages_lose_their_values_but_keep_field_names() {
        let error = serde_json::from_str::<Vec<u32>>(r#"["s3cr3t \"quoted\" T0ken"]"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("T0ken"), "the test is meaningful: {error}");
        let clean = without_values(&error);
        assert!(
            !clean.contains("T0ken") && !clean.contains("quoted"),
            "{clean}"
        );
        assert!(
            clean.starts_with("invalid type: a string, expected u32"),
            "{clean}"
        );
        assert_eq!(
            without_values("invalid type: integer `123456`, expected a string for key `token`"),
            "invalid type: an integer, expected a string for key `token`"
        );
        assert_eq!(
            without_values("unknown variant `hunter2`, expected one of `a`, `b`"),
            "unknown variant, expected one of `a`, `b`"
        );
    }

    #[test]
    fn userinfo_is_taken_out_of_a_url() {
        assert_eq!(
            without_userinfo("https://bob:hunter2@flex.example/api?x=1"),
            "https://***@flex.example/api?x=1"
        );
        assert_eq!(
            without_userinfo("bob:hunter2@flex.example"),
            "***@flex.example"
        );
        assert_eq!(
            without_userinfo("https://flex.example/a@b"),
            "https://flex.example/a@b"
        );
    }
}
