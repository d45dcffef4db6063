//! The kinds of operation a plan holds, named as reports, the journal and metrics name them.

use serde::{Deserialize, Serialize};

/// What one step of a user or group plan does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Create,
    Adopt,
    Update,
    /// Winningtemp's word for deactivating a user.
    Pause,
    Reactivate,
    SetManager,
    CreateGroup,
    RenameGroup,
    MoveGroup,
    AddMembers,
    RemoveMembers,
    SetGroupManagers,
    RetireGroup,
}

impl OperationKind {
    pub const ALL: [OperationKind; 13] = [
        OperationKind::Create,
        OperationKind::Adopt,
        OperationKind::Update,
        OperationKind::Pause,
        OperationKind::Reactivate,
        OperationKind::SetManager,
        OperationKind::CreateGroup,
        OperationKind::RenameGroup,
        OperationKind::MoveGroup,
        OperationKind::AddMembers,
        OperationKind::RemoveMembers,
        OperationKind::SetGroupManagers,
        OperationKind::RetireGroup,
    ];

    /// The name used in reports, the journal and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Create => "create",
            OperationKind::Adopt => "adopt",
            OperationKind::Update => "update",
            OperationKind::Pause => "pause",
            OperationKind::Reactivate => "reactivate",
            OperationKind::SetManager => "set_manager",
            OperationKind::CreateGroup => "create_group",
            OperationKind::RenameGroup => "rename_group",
            OperationKind::MoveGroup => "move_group",
            OperationKind::AddMembers => "add_members",
            OperationKind::RemoveMembers => "remove_members",
            OperationKind::SetGroupManagers => "set_group_managers",
            OperationKind::RetireGroup => "retire_group",
        }
    }

    /// The kind a name stands for.
    pub fn parse(name: &str) -> Option<OperationKind> {
        OperationKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the step works on a group rather than a user.
    pub fn is_group(self) -> bool {
        matches!(
            self,
            OperationKind::CreateGroup
                | OperationKind::RenameGroup
                | OperationKind::MoveGroup
                | OperationKind::AddMembers
                | OperationKind::RemoveMembers
                | OperationKind::SetGroupManagers
                | OperationKind::RetireGroup
        )
    }
}

impl std::fmt::Display for OperationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for OperationKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_serialize_as_themselves() {
        for kind in OperationKind::ALL {
            assert_eq!(OperationKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::String(kind.as_str().into()))
            );
        }
        assert_eq!(OperationKind::parse("delete"), None);
    }
}
