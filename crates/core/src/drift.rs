//! Which side moved. flexsync remembers a fingerprint of each value it last wrote; when the
//! target's value no longer matches it, someone changed it by hand in Winningtemp since (drift),
//! and the update that follows overwrites their change. Otherwise the change came from Flex.
//! Fingerprints, not values, are kept, so the store holds no copy of personal data for this.

use std::collections::BTreeMap;

use crate::plan::{Change, Operation, value_text};

/// What flexsync last wrote for one user: attribute name -> fingerprint of the value.
pub type Written = BTreeMap<String, u64>;

/// A stable fingerprint (FNV-1a, 64 bits) of a value as the plan writes it; `None` (no value)
/// has its own.
pub fn fingerprint(value: Option<&str>) -> u64 {
    let bytes = value.map_or(&[0xff_u8][..], str::as_bytes);
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The values a user operation writes, by attribute name, as fingerprints.
pub fn written_by(operation: &Operation) -> Written {
    match operation {
        Operation::CreateUser {
            values, attributes, ..
        } => attributes
            .iter()
            .map(|a| (a.name(), fingerprint(value_text(values, a).as_deref())))
            .collect(),
        Operation::AdoptUser { changes, .. } | Operation::UpdateUser { changes, .. } => {
            changed(changes)
        }
        Operation::ReactivateUser { changes, .. } => with_active(changed(changes), true),
        Operation::DeactivateUser { changes, .. } => with_active(changed(changes), false),
        Operation::SetManager { .. } => Written::new(),
    }
}

fn changed(changes: &[Change]) -> Written {
    changes
        .iter()
        .map(|c| (c.attribute.name(), fingerprint(c.after.as_deref())))
        .collect()
}

fn with_active(mut written: Written, active: bool) -> Written {
    written.insert(ACTIVE.to_string(), fingerprint(Some(&active.to_string())));
    written
}

/// The name `active` is remembered under.
const ACTIVE: &str = "active";

/// When a linked user's `active` flag is to flip back to what flexsync last wrote, someone
/// flipped it by hand in Winningtemp: the reason says so. `None` when Flex moved.
pub fn lifecycle_drift(active: bool, written: Option<&Written>) -> Option<String> {
    let last = written?.get(ACTIVE)?;
    if *last != fingerprint(Some(&active.to_string())) {
        return None;
    }
    Some(if active {
        "paused by hand in Winningtemp since flexsync wrote it (drift: active); employed in \
         Flex, so reactivated"
            .to_string()
    } else {
        "reactivated by hand in Winningtemp since flexsync paused it (drift: active); no \
         employment period covers today, so paused again"
            .to_string()
    })
}

/// Why an update of a linked user is planned: a change in Flex, a value changed by hand in
/// Winningtemp since flexsync wrote it (drift, overwritten), or both.
pub fn update_reason(changes: &[Change], written: Option<&Written>) -> String {
    let mut in_flex = Vec::new();
    let mut by_hand = Vec::new();
    for change in changes {
        let name = change.attribute.name();
        let last = written.and_then(|w| w.get(&name)).copied();
        match last {
            Some(last) if last != fingerprint(change.before.as_deref()) => {
                // The target moved away from what we wrote; did Flex move too?
                if last != fingerprint(change.after.as_deref()) {
                    in_flex.push(name.clone());
                }
                by_hand.push(name);
            }
            _ => in_flex.push(name),
        }
    }
    match (in_flex.is_empty(), by_hand.is_empty()) {
        (_, true) => "changed in Flex".to_string(),
        (true, false) => format!(
            "changed by hand in Winningtemp since flexsync wrote it (drift: {}); overwritten \
             with the Flex value",
            by_hand.join(", ")
        ),
        (false, false) => format!(
            "changed in Flex ({}); also changed by hand in Winningtemp since flexsync wrote it \
             (drift: {}), overwritten",
            in_flex.join(", "),
            by_hand.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::current::Attribute;

    fn change(before: &str, after: &str) -> Change {
        Change {
            attribute: Attribute::FamilyName,
            before: Some(before.into()),
            after: Some(after.into()),
        }
    }

    fn wrote(value: &str) -> Written {
        [("familyName".to_string(), fingerprint(Some(value)))]
            .into_iter()
            .collect()
    }

    #[test]
    fn a_change_in_flex_is_told_from_a_change_by_hand() {
        // Flex moved: Winningtemp still holds what we wrote.
        let reason = update_reason(&[change("Ali", "Lundgren")], Some(&wrote("Ali")));
        assert_eq!(reason, "changed in Flex");
        // Someone renamed the account by hand; Flex still says what we wrote.
        let reason = update_reason(&[change("Alli", "Ali")], Some(&wrote("Ali")));
        assert_eq!(
            reason,
            "changed by hand in Winningtemp since flexsync wrote it (drift: familyName); \
             overwritten with the Flex value"
        );
        // Both moved.
        let reason = update_reason(&[change("Alli", "Lundgren")], Some(&wrote("Ali")));
        assert!(reason.starts_with("changed in Flex (familyName); also changed by hand"));
        // Nothing remembered (written before this was kept): the plan's old word.
        assert_eq!(
            update_reason(&[change("Alli", "Ali")], None),
            "changed in Flex"
        );
    }

    #[test]
    fn a_pause_or_reactivation_by_hand_is_drift() {
        let wrote_active = |active: bool| with_active(Written::new(), active);
        assert!(
            lifecycle_drift(true, Some(&wrote_active(true)))
                .is_some_and(|r| r.starts_with("paused by hand"))
        );
        assert!(
            lifecycle_drift(false, Some(&wrote_active(false)))
                .is_some_and(|r| r.starts_with("reactivated by hand"))
        );
        // Flex moved: flexsync last wrote the other value.
        assert_eq!(lifecycle_drift(true, Some(&wrote_active(false))), None);
        assert_eq!(lifecycle_drift(true, None), None);
    }

    #[test]
    fn no_value_has_its_own_fingerprint() {
        assert_ne!(fingerprint(None), fingerprint(Some("")));
        assert_eq!(fingerprint(Some("a")), fingerprint(Some("a")));
    }
}
