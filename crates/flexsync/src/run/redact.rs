//! What the journal keeps of a step: enough to see what a run meant to do and to recover, and
//! no birth date (its value is only said to be set, as in every report).

use serde_json::Value;

use flexsync_core::plan::Step;

/// A step as the journal records it, birth dates masked.
pub(super) fn journal_detail(step: &Step) -> Value {
    let mut detail = serde_json::to_value(step).unwrap_or_default();
    mask_birth_dates(&mut detail);
    detail
}

const BIRTH_DATE: &str = "birth_date";
const MASK: &str = "(set)";

fn mask_birth_dates(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(date) = map.get_mut(BIRTH_DATE).filter(|d| !d.is_null()) {
                *date = Value::from(MASK);
            }
            // A change of the birth date: `{"attribute": "birth_date", "before": .., "after": ..}`.
            if map.get("attribute").and_then(Value::as_str) == Some(BIRTH_DATE) {
                for side in ["before", "after"] {
                    if let Some(date) = map.get_mut(side).filter(|d| !d.is_null()) {
                        *date = Value::from(MASK);
                    }
                }
            }
            map.values_mut().for_each(mask_birth_dates);
        }
        Value::Array(items) => items.iter_mut().for_each(mask_birth_dates),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::current::Attribute;
    use flexsync_core::desired::UserValues;
    use flexsync_core::plan::{Change, Operation};

    #[test]
    fn the_journal_keeps_no_birth_date() {
        let values = UserValues {
            birth_date: Some(jiff::civil::date(1968, 2, 1)),
            user_name: "filip@example.se".into(),
            ..UserValues::default()
        };
        let step = Step {
            operation: Operation::UpdateUser {
                target_id: "t1".into(),
                external_id: "e1".into(),
                values,
                changes: vec![Change {
                    attribute: Attribute::BirthDate,
                    before: Some("1968-01-02".into()),
                    after: Some("1968-02-01".into()),
                }],
            },
            reason: "changed in Flex".into(),
        };
        let text = journal_detail(&step).to_string();
        assert!(!text.contains("1968"), "{text}");
        assert!(text.contains("filip@example.se"), "{text}");
        assert_eq!(text.matches("(set)").count(), 3, "{text}");
    }
}
