//! One employee record's own values: work email, names, gender, birthday, employment type and
//! extra fields, each judged on its own; and the text forms every value is taken in (trimmed,
//! Unicode NFC).

use jiff::civil::Date;
use std::borrow::Cow;
use std::collections::BTreeMap;
use unicode_normalization::{IsNormalized, UnicodeNormalization};

use crate::desired::Gender;
use crate::mapping::ExtraMapping;

use super::dates::parse_date;

/// `text` in Unicode NFC, so a composed "Göteborg" and a decomposed "Go\u{308}teborg" are one
/// value.
pub fn nfc(text: &str) -> String {
    if is_composed(text) {
        text.to_string()
    } else {
        text.nfc().collect()
    }
}

/// `text.trim()`, answered at once when both ends are ASCII and no space (as they nearly
/// always are): the map trims every value it reads.
pub fn trim(text: &str) -> &str {
    let spaced = |byte: &u8| !byte.is_ascii() || byte.is_ascii_whitespace() || *byte == b'\x0B';
    let bytes = text.as_bytes();
    if bytes.first().is_some_and(spaced) || bytes.last().is_some_and(spaced) {
        text.trim()
    } else {
        text
    }
}

/// A text value as the map step takes it: trimmed and in NFC; blank becomes None.
pub fn clean(value: Option<&str>) -> Option<String> {
    clean_borrowed(value).map(Cow::into_owned)
}

/// [`clean`], borrowing the text where it is already composed (as it nearly always is).
pub fn clean_borrowed(value: Option<&str>) -> Option<Cow<'_, str>> {
    let text = trim(value?);
    if text.is_empty() {
        None
    } else if is_composed(text) {
        Some(Cow::Borrowed(text))
    } else {
        Some(Cow::Owned(text.nfc().collect()))
    }
}

/// Whether `text` is in NFC already, by the quick check. Text below U+0300 (ASCII, Latin-1,
/// the Latin extensions: Swedish names) always is: no combining mark or excluded character is
/// there.
fn is_composed(text: &str) -> bool {
    text.is_ascii()
        || text.chars().all(|c| c < '\u{300}')
        || unicode_normalization::is_nfc_quick(text.chars()) == IsNormalized::Yes
}

/// Like [`clean`], with every inner run of whitespace made one space (names and labels).
pub fn words(value: Option<&str>) -> Option<String> {
    let text = collapse(value?);
    if text.is_empty() {
        None
    } else if is_composed(&text) {
        Some(text)
    } else {
        Some(text.nfc().collect())
    }
}

/// Every run of whitespace made one space, none at either end.
pub fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Why a work email cannot be a user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailProblem {
    Missing,
    NotAnEmail(String),
}

/// The user name from `EmailWork`: trimmed, NFC and lower-cased, with exactly one `@`,
/// something on both sides, and no whitespace.
pub fn user_name(email: Option<&str>) -> Result<String, EmailProblem> {
    let email = clean_borrowed(email).ok_or(EmailProblem::Missing)?;
    let shaped = match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    };
    if !shaped || email.chars().any(char::is_whitespace) {
        return Err(EmailProblem::NotAnEmail(email.into_owned()));
    }
    if email.is_ascii() {
        return Ok(email.to_ascii_lowercase());
    }
    Ok(nfc(&email.to_lowercase()))
}

/// Flex `Gender`: `1`/`2` or a text in English or Swedish. `0`, null and blank are "no gender"
/// (Winningtemp `None`); anything else is not understood (`Err`, quoting the value).
pub fn gender(value: Option<&str>) -> Result<Gender, String> {
    let Some(text) = clean_borrowed(value) else {
        return Ok(Gender::None);
    };
    let is = |names: &[&str]| {
        if text.is_ascii() {
            names.iter().any(|name| name.eq_ignore_ascii_case(&text))
        } else {
            names.contains(&text.to_lowercase().as_str())
        }
    };
    if is(&["0"]) {
        Ok(Gender::None)
    } else if is(&["1", "man", "male"]) {
        Ok(Gender::Male)
    } else if is(&["2", "kvinna", "female", "woman"]) {
        Ok(Gender::Female)
    } else {
        Err(text.into_owned())
    }
}

/// Why a `DateOfBirth` was not taken. The value itself is never quoted: it may be a birthday
/// or a national identity number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthProblem {
    Unparseable,
    InTheFuture,
    Before1900,
}

/// Flex `DateOfBirth`: None when missing; a date no later than `today` and not before 1900.
pub fn birth_date(value: Option<&str>, today: Date) -> Result<Option<Date>, BirthProblem> {
    let Some(text) = clean_borrowed(value) else {
        return Ok(None);
    };
    let date = parse_date(&text).ok_or(BirthProblem::Unparseable)?;
    if date > today {
        return Err(BirthProblem::InTheFuture);
    }
    if date.year() < 1900 {
        return Err(BirthProblem::Before1900);
    }
    Ok(Some(date))
}

/// An employment type reduced to one spelling: `0` and `1` for the two known types whether they
/// came as numbers or as text (English or Swedish), else the text with spaces collapsed, in NFC
/// and lower-cased.
pub fn employment_kind(text: &str) -> String {
    let lower = if text.is_ascii() {
        let mut lower = collapse(text);
        lower.make_ascii_lowercase();
        lower
    } else {
        nfc(&words(Some(text)).unwrap_or_default().to_lowercase())
    };
    if let Ok(number) = lower.parse::<i64>() {
        return number.to_string();
    }
    match lower.as_str() {
        "anställd" | "anstalld" | "employee" => "0".to_string(),
        "extern personal" | "external personnel" => "1".to_string(),
        _ => lower,
    }
}

/// What the employment type says about surveys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmploymentType {
    pub exclude_from_surveys: bool,
    /// The value is neither a known type nor one the settings name.
    pub unknown: bool,
}

/// The configured employment types that exclude from surveys, each reduced to one spelling
/// (see [`employment_kind`]) once, not for every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludedTypes(Vec<String>);

impl ExcludedTypes {
    pub fn new(entries: &[String]) -> ExcludedTypes {
        ExcludedTypes(entries.iter().map(|entry| employment_kind(entry)).collect())
    }
}

/// Judges `Employment.EmploymentType` against the configured exclusions.
pub fn employment_type(value: Option<&str>, exclude: &ExcludedTypes) -> EmploymentType {
    let Some(text) = clean_borrowed(value) else {
        return EmploymentType {
            exclude_from_surveys: false,
            unknown: false,
        };
    };
    let kind = employment_kind(&text);
    let excluded = exclude.0.contains(&kind);
    let known = kind == "0" || kind == "1";
    EmploymentType {
        exclude_from_surveys: excluded,
        unknown: !known && !excluded,
    }
}

/// The configured extra values of a record: each source field that holds a non-blank value
/// (trimmed, NFC), by target attribute. The field is looked up by its exact name, then ignoring
/// ASCII case.
pub fn extra(
    fields: &BTreeMap<String, String>,
    mappings: &[ExtraMapping],
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for mapping in mappings {
        let source = mapping.source_field.trim();
        let value = fields.get(source).or_else(|| {
            fields
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(source))
                .map(|(_, value)| value)
        });
        if let Some(value) = clean(value.map(String::as_str)) {
            values.insert(mapping.target_attribute.trim().to_string(), value);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn user_name_is_the_trimmed_lower_case_email() {
        assert_eq!(
            user_name(Some("  Anna.Berg@Example.SE ")),
            Ok("anna.berg@example.se".to_string())
        );
    }

    #[test]
    fn user_names_differing_only_in_case_spaces_or_normalisation_are_equal() {
        let composed = user_name(Some("\u{c5}sa.\u{d6}berg@Example.se"));
        assert_eq!(composed, Ok("\u{e5}sa.\u{f6}berg@example.se".to_string()));
        for variant in [
            " A\u{30a}sa.O\u{308}berg@example.se ",
            "a\u{30a}sa.o\u{308}berg@EXAMPLE.SE",
            "\t\u{e5}sa.\u{f6}berg@example.se\n",
        ] {
            assert_eq!(user_name(Some(variant)), composed, "{variant:?}");
        }
    }

    #[test]
    fn text_values_are_trimmed_and_composed() {
        assert_eq!(
            clean(Some("  Go\u{308}teborg ")),
            Some("G\u{f6}teborg".to_string())
        );
        assert_eq!(clean(Some(" \t ")), None);
        assert_eq!(clean(None), None);
        assert_eq!(
            words(Some(" Anna  \t Mari\u{308}a ")),
            Some("Anna Mar\u{ef}a".to_string())
        );
        assert_eq!(words(Some("   ")), None);
    }

    #[test]
    fn user_name_rejects_missing_and_misshapen_emails() {
        assert_eq!(user_name(None), Err(EmailProblem::Missing));
        assert_eq!(user_name(Some("   ")), Err(EmailProblem::Missing));
        for bad in [
            "anna",
            "@example.se",
            "anna@",
            "a@b@c",
            "anna berg@example.se",
            "anna@exa\tmple.se",
        ] {
            assert_eq!(
                user_name(Some(bad)),
                Err(EmailProblem::NotAnEmail(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn gender_reads_numbers_and_words_in_any_case() {
        for (text, expected) in [
            ("1", Gender::Male),
            ("2", Gender::Female),
            ("0", Gender::None),
            ("", Gender::None),
            (" MAN ", Gender::Male),
            ("Male", Gender::Male),
            ("kvinna", Gender::Female),
            ("KVINNA", Gender::Female),
            ("Female", Gender::Female),
            ("woman", Gender::Female),
        ] {
            assert_eq!(gender(Some(text)), Ok(expected), "{text:?}");
        }
        assert_eq!(gender(None), Ok(Gender::None));
    }

    #[test]
    fn gender_quotes_what_it_does_not_understand() {
        assert_eq!(gender(Some(" 3 ")), Err("3".to_string()));
        assert_eq!(gender(Some("Annat")), Err("Annat".to_string()));
    }

    #[test]
    fn birth_date_takes_plausible_past_dates_only() {
        let today = date(2025, 6, 1);
        assert_eq!(
            birth_date(Some("1990-03-12T00:00:00"), today),
            Ok(Some(date(1990, 3, 12)))
        );
        assert_eq!(birth_date(Some("2025-06-01"), today), Ok(Some(today)));
        assert_eq!(
            birth_date(Some("1900-01-01"), today),
            Ok(Some(date(1900, 1, 1)))
        );
        assert_eq!(birth_date(None, today), Ok(None));
        assert_eq!(birth_date(Some(" "), today), Ok(None));
        assert_eq!(
            birth_date(Some("2025-06-02"), today),
            Err(BirthProblem::InTheFuture)
        );
        assert_eq!(
            birth_date(Some("1899-12-31"), today),
            Err(BirthProblem::Before1900)
        );
        assert_eq!(
            birth_date(Some("19900312-1234"), today),
            Err(BirthProblem::Unparseable)
        );
    }

    #[test]
    fn employment_kind_folds_numbers_and_both_languages() {
        assert_eq!(employment_kind(" 1 "), "1");
        assert_eq!(employment_kind("01"), "1");
        assert_eq!(employment_kind("EXTERN PERSONAL"), "1");
        assert_eq!(employment_kind("External personnel"), "1");
        assert_eq!(employment_kind("Anställd"), "0");
        assert_eq!(employment_kind("ANSTÄLLD"), "0");
        assert_eq!(employment_kind("Employee"), "0");
        assert_eq!(employment_kind("Konsult"), "konsult");
        assert_eq!(employment_kind("Ansta\u{308}lld"), "0");
        assert_eq!(employment_kind(" Extern \t personal "), "1");
        assert_eq!(
            employment_kind("Timanst\u{e4}lld"),
            employment_kind(" TIMANSTA\u{308}LLD ")
        );
    }

    #[test]
    fn text_below_u0300_is_composed_already() {
        let below: String = (0u32..0x300).filter_map(char::from_u32).collect();
        assert_eq!(below.nfc().collect::<String>(), below);
        let backwards: String = below.chars().rev().collect();
        assert_eq!(backwards.nfc().collect::<String>(), backwards);
        assert!(is_composed(&below) && !is_composed("Go\u{308}teborg"));
    }

    #[test]
    fn trim_answers_as_str_trim_does() {
        for text in [
            "",
            " ",
            "a",
            " a ",
            "\ta\n",
            "\u{b}a\u{b}",
            "\u{a0}a\u{3000}",
            "Å",
            " Å ",
            "a b",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn employment_type_excludes_what_the_settings_name() {
        let defaults = ExcludedTypes::new(
            &crate::mapping::MappingSettings::default().exclude_employment_types,
        );
        let external = EmploymentType {
            exclude_from_surveys: true,
            unknown: false,
        };
        let employee = EmploymentType {
            exclude_from_surveys: false,
            unknown: false,
        };
        assert_eq!(employment_type(Some("1"), &defaults), external);
        assert_eq!(
            employment_type(Some("extern personal"), &defaults),
            external
        );
        assert_eq!(employment_type(Some("0"), &defaults), employee);
        assert_eq!(employment_type(None, &defaults), employee);
        assert_eq!(
            employment_type(Some("Konsult"), &defaults),
            EmploymentType {
                exclude_from_surveys: false,
                unknown: true
            }
        );
        assert!(employment_type(Some("7"), &defaults).unknown);
        let by_text = ExcludedTypes::new(&["External Personnel".to_string()]);
        assert_eq!(employment_type(Some("1"), &by_text), external);
        let custom = ExcludedTypes::new(&[" konsult ".to_string()]);
        assert_eq!(employment_type(Some("KONSULT"), &custom), external);
        assert_eq!(employment_type(Some("1"), &custom), employee);
    }

    #[test]
    fn extra_copies_non_blank_fields_to_their_targets() {
        let fields: BTreeMap<String, String> = [
            ("City".to_string(), " Uppsala ".to_string()),
            ("Country".to_string(), "  ".to_string()),
        ]
        .into_iter()
        .collect();
        let mappings = [
            ExtraMapping {
                source_field: "City".into(),
                target_attribute: "city".into(),
            },
            ExtraMapping {
                source_field: "country".into(),
                target_attribute: "country".into(),
            },
            ExtraMapping {
                source_field: "Missing".into(),
                target_attribute: "missing".into(),
            },
            ExtraMapping {
                source_field: "city".into(),
                target_attribute: "town".into(),
            },
        ];
        let values = extra(&fields, &mappings);
        let expected: BTreeMap<String, String> = [
            ("city".to_string(), "Uppsala".to_string()),
            ("town".to_string(), "Uppsala".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(values, expected);
    }
}
