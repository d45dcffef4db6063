//! Groups we created that have become empty, and since when: the retirement grace period
//! counts from that day.

use std::collections::BTreeMap;

use crate::db::params;
use flexsync_core::ids::ExternalId;
use jiff::civil::Date;

use crate::error::StateError;
use crate::store::StateStore;

/// Forgets that a group was empty (see [`StateStore::clear_group_empty`]).
pub(crate) const CLEAR_GROUP_EMPTY: &str = "DELETE FROM empty_groups WHERE external_id = ?1";

impl StateStore {
    /// Notes that a group is empty from `since`, unless it was noted already.
    pub fn mark_group_empty(
        &self,
        external_id: &ExternalId,
        since: Date,
    ) -> Result<(), StateError> {
        self.execute(
            "mark a group empty",
            "INSERT INTO empty_groups (external_id, since) VALUES (?1, ?2)
             ON CONFLICT (external_id) DO NOTHING",
            params![external_id.as_str(), since.to_string()],
        )?;
        Ok(())
    }

    /// Forgets that a group was empty (it has members again, or it was retired).
    pub fn clear_group_empty(&self, external_id: &ExternalId) -> Result<(), StateError> {
        self.execute(
            "clear an empty group",
            CLEAR_GROUP_EMPTY,
            params![external_id.as_str()],
        )?;
        Ok(())
    }

    /// Every group noted empty, with the day it was first seen empty.
    pub fn empty_groups(&self) -> Result<BTreeMap<ExternalId, Date>, StateError> {
        let rows: Vec<(String, String)> = self.rows(
            "read empty groups",
            "SELECT external_id, since FROM empty_groups",
            params![],
        )?;
        rows.into_iter()
            .map(|(external_id, since)| {
                let day = since.parse::<Date>().map_err(|e| StateError::Corrupt {
                    path: self.path().to_path_buf(),
                    table: "empty_groups",
                    row: external_id.clone(),
                    column: "since",
                    detail: e.to_string(),
                })?;
                Ok((ExternalId::from(external_id), day))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::both_backends;
    use jiff::civil::date;

    both_backends! {
        fn an_empty_group_keeps_its_first_day_until_cleared(db) {
            let store = db.open();
            let group = "grp:1".into();
            store.mark_group_empty(&group, date(2026, 11, 1)).unwrap();
            store.mark_group_empty(&group, date(2026, 11, 5)).unwrap();
            assert_eq!(store.empty_groups().unwrap()["grp:1"], date(2026, 11, 1));
            store.clear_group_empty(&group).unwrap();
            assert!(store.empty_groups().unwrap().is_empty());
        }
    }
}
