//! What a delivery of the users file does to each person, named as the report and `history`
//! name SCIM changes: rows added, changed, paused, reactivated or gone since the last delivery,
//! each with its columns before and after (birth dates never quoted) and the reason.

use std::collections::{BTreeMap, BTreeSet};

use flexsync_core::desired::{Desired, Skipped};
use flexsync_core::ids::ExternalId;
use flexsync_core::kind::OperationKind;

use super::csv::{UserColumns, keyed_rows};
use crate::changes::{AttributeChange, ChangeResult, NamedChange};

type Row = BTreeMap<String, String>;

/// The named changes from `previous` (the last delivered users file, if any) to `current`, all
/// with `result` (planned, done, or failed with the delivery's error).
pub fn named_file_changes(
    previous: Option<&str>,
    current: &str,
    columns: &UserColumns,
    desired: &Desired,
    result: &ChangeResult,
) -> Vec<NamedChange> {
    let before = previous.map(keyed_rows).unwrap_or_default();
    let after = keyed_rows(current);
    let order = header(current);
    let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut changes = Vec::new();
    for id in ids {
        let (old, new) = (before.get(id), after.get(id));
        let active = |row: &Row| {
            row.get(&columns.active)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        let action = match (old, new) {
            (None, Some(_)) => OperationKind::Create,
            (Some(old), Some(new)) if active(old) && !active(new) => OperationKind::Pause,
            (Some(old), Some(new)) if !active(old) && active(new) => OperationKind::Reactivate,
            (Some(old), Some(new)) if old != new => OperationKind::Update,
            (Some(old), None) if active(old) => OperationKind::Pause,
            _ => continue,
        };
        let external_id = ExternalId::from(id.as_str());
        let shown = new.or(old).cloned().unwrap_or_default();
        let name = format!(
            "{} {}",
            value(&shown, &columns.first_name),
            value(&shown, &columns.last_name)
        );
        let email = [&columns.email, &columns.username]
            .into_iter()
            .map(|column| value(&shown, column))
            .find(|v| !v.is_empty());
        changes.push(NamedChange {
            name: match name.trim() {
                "" => id.clone(),
                name => name.to_string(),
            },
            email,
            action,
            attributes: match new {
                Some(_) => attributes(old, new, &order, &columns.birthday),
                // A row that is gone is told by its active column alone.
                None => attributes(old, new, std::slice::from_ref(&columns.active), ""),
            },
            reason: reason(action, new.is_none(), &external_id, desired),
            result: result.clone(),
            external_id,
        });
    }
    changes
}

fn value(row: &Row, column: &str) -> String {
    row.get(column).cloned().unwrap_or_default()
}

/// The column names of a rendered file, in file order.
fn header(content: &str) -> Vec<String> {
    super::csv::parse(content)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// Each of `order`'s columns whose value differs (columns the new file dropped are not
/// changes of the person); a birth date is said to be set, never quoted.
fn attributes(
    old: Option<&Row>,
    new: Option<&Row>,
    order: &[String],
    birthday: &str,
) -> Vec<AttributeChange> {
    let empty = Row::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let columns = order.iter();
    columns
        .filter(|column| old.get(*column) != new.get(*column))
        .map(|column| {
            let shown = |row: &Row| {
                row.get(column).map(|v| {
                    if column == birthday {
                        "(set)".to_string()
                    } else {
                        v.clone()
                    }
                })
            };
            AttributeChange {
                before: shown(old),
                after: shown(new),
                attribute: column.clone(),
            }
        })
        .collect()
}

/// Why the row changes, in the words the SCIM plan uses for the same change.
fn reason(action: OperationKind, gone: bool, id: &ExternalId, desired: &Desired) -> String {
    match action {
        OperationKind::Create => "not in the last delivery".to_string(),
        OperationKind::Reactivate => "employed and in scope in Flex again".to_string(),
        OperationKind::Pause if gone => "no longer in Flex".to_string(),
        OperationKind::Pause => match (desired.out_of_scope.get(id), desired.skipped.get(id)) {
            (Some(scoped), _) => format!("out of scope: {}", scoped.rule),
            (None, Some(Skipped::NotEmployed)) => {
                "no employment period covers today (its Flex record has findings)".to_string()
            }
            _ => "no employment period covers today".to_string(),
        },
        _ => "changed in Flex".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::desired::ScopedOut;

    const BEFORE: &str = "ExternalId;FirstName;LastName;Email;Birthday;Active;GroupExternalId\n\
                          1;Åsa;Öberg;asa@example.se;1980-02-29;true;g1\n\
                          2;Bo;Ek;bo@example.se;;true;g1\n\
                          3;Cia;Lind;cia@example.se;;false;\n\
                          4;Dan;Berg;dan@example.se;;true;g2\n\
                          5;Eva;Sjö;eva@example.se;;true;g2\n";
    const AFTER: &str = "ExternalId;FirstName;LastName;Email;Birthday;Active;GroupExternalId\n\
                         1;Åsa;Öberg;asa@example.se;1980-03-01;true;g2\n\
                         2;Bo;Ek;bo@example.se;;false;\n\
                         3;Cia;Lind;cia@example.se;;true;g1\n\
                         5;Eva;Sjö;eva@example.se;;true;g2\n\
                         6;Fia;Ny;fia@example.se;;true;g1\n";

    #[test]
    fn every_row_that_changes_is_named_with_its_action_columns_and_reason() {
        let mut desired = Desired::default();
        desired.out_of_scope.insert(
            "2".into(),
            ScopedOut {
                rule: "scope.exclude[1]".into(),
                ..ScopedOut::default()
            },
        );
        let changes = named_file_changes(
            Some(BEFORE),
            AFTER,
            &UserColumns::default(),
            &desired,
            &ChangeResult::Ok,
        );
        let summary: Vec<String> = changes
            .iter()
            .map(|c| {
                let lines = c.attribute_lines().join(", ");
                format!(
                    "{} {} <{}> [{}] {lines}",
                    c.action.as_str(),
                    c.name,
                    c.email.as_deref().unwrap_or(""),
                    c.reason
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                "update Åsa Öberg <asa@example.se> [changed in Flex] Birthday: (set) -> (set), \
                 GroupExternalId: g1 -> g2",
                "pause Bo Ek <bo@example.se> [out of scope: scope.exclude[1]] Active: true -> \
                 false, GroupExternalId: g1 -> (none)",
                "reactivate Cia Lind <cia@example.se> [employed and in scope in Flex again] \
                 Active: false -> true, GroupExternalId: (none) -> g1",
                "pause Dan Berg <dan@example.se> [no longer in Flex] Active: true -> (none)",
                "create Fia Ny <fia@example.se> [not in the last delivery] ExternalId: 6, \
                 FirstName: Fia, LastName: Ny, Email: fia@example.se, Active: true, \
                 GroupExternalId: g1",
            ]
        );
        assert!(changes.iter().all(|c| c.result == ChangeResult::Ok));
    }

    #[test]
    fn a_first_delivery_creates_everyone() {
        let changes = named_file_changes(
            None,
            AFTER,
            &UserColumns::default(),
            &Desired::default(),
            &ChangeResult::Planned,
        );
        assert_eq!(changes.len(), 5);
        assert!(
            changes
                .iter()
                .all(|c| c.action == OperationKind::Create && c.result == ChangeResult::Planned)
        );
    }
}
