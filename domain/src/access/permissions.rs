//! The permission list and the built-in roles that group them (DESIGN.md §1).

use std::fmt;
use std::str::FromStr;

/// One thing a user may be allowed to do; stored and sent as `resource.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    DestinationsView,
    DestinationsManage,
    DestinationsActivate,
    DestinationsActivateWithoutMapping,
    SegmentsView,
    SegmentsManage,
    ProfilesView,
    ProfilesImport,
    UsersManage,
    AuditView,
}

impl Permission {
    /// Every permission, in the order the role editor lists them.
    pub const ALL: [Permission; 10] = [
        Self::DestinationsView,
        Self::DestinationsManage,
        Self::DestinationsActivate,
        Self::DestinationsActivateWithoutMapping,
        Self::SegmentsView,
        Self::SegmentsManage,
        Self::ProfilesView,
        Self::ProfilesImport,
        Self::UsersManage,
        Self::AuditView,
    ];

    /// The stored name, such as `destinations.view`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DestinationsView => "destinations.view",
            Self::DestinationsManage => "destinations.manage",
            Self::DestinationsActivate => "destinations.activate",
            Self::DestinationsActivateWithoutMapping => "destinations.activate_without_mapping",
            Self::SegmentsView => "segments.view",
            Self::SegmentsManage => "segments.manage",
            Self::ProfilesView => "profiles.view",
            Self::ProfilesImport => "profiles.import",
            Self::UsersManage => "users.manage",
            Self::AuditView => "audit.view",
        }
    }

    /// What the permission allows, for the role editor.
    pub fn description(self) -> &'static str {
        match self {
            Self::DestinationsView => {
                "See the catalog, dataflows, runs and accounts (never secrets)"
            }
            Self::DestinationsManage => {
                "Connect destinations; create, edit and delete accounts and dataflows"
            }
            Self::DestinationsActivate => {
                "Activate segments to existing connections, including mapping"
            }
            Self::DestinationsActivateWithoutMapping => {
                "Add and remove segments and schedules, without changing mapped fields"
            }
            Self::SegmentsView => "See segments",
            Self::SegmentsManage => "Define and edit segments",
            Self::ProfilesView => "See profile samples",
            Self::ProfilesImport => "Import profiles",
            Self::UsersManage => "Administer users, roles and role permissions",
            Self::AuditView => "Read the audit log",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| crate::Error::Invalid(format!("unknown permission {s:?}")))
    }
}

/// A role that ships with Ferry; its permissions are fixed by the code and restored at start-up.
pub struct BuiltInRole {
    pub name: &'static str,
    pub description: &'static str,
    pub permissions: &'static [Permission],
}

/// The name of the role that holds every permission.
pub const ADMINISTRATOR: &str = "Administrator";

/// The built-in roles.
pub const BUILT_IN_ROLES: [BuiltInRole; 4] = [
    BuiltInRole {
        name: ADMINISTRATOR,
        description: "Everything, including users, roles and the audit log",
        permissions: &Permission::ALL,
    },
    BuiltInRole {
        name: "Destination manager",
        description: "Connects destinations, manages accounts and dataflows, activates segments",
        permissions: &[
            Permission::DestinationsView,
            Permission::DestinationsManage,
            Permission::DestinationsActivate,
            Permission::SegmentsView,
            Permission::ProfilesView,
        ],
    },
    BuiltInRole {
        name: "Activator",
        description: "A marketer: activates segments to existing connections",
        permissions: &[
            Permission::DestinationsView,
            Permission::DestinationsActivate,
            Permission::SegmentsView,
            Permission::ProfilesView,
        ],
    },
    BuiltInRole {
        name: "Viewer",
        description: "Sees destinations, dataflows and segments; changes nothing",
        permissions: &[Permission::DestinationsView, Permission::SegmentsView],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for permission in Permission::ALL {
            assert_eq!(
                permission.as_str().parse::<Permission>().unwrap(),
                permission
            );
        }
        assert!("users.delete_everything".parse::<Permission>().is_err());
    }

    #[test]
    fn the_administrator_holds_every_permission_and_the_viewer_changes_nothing() {
        let admin = BUILT_IN_ROLES
            .iter()
            .find(|r| r.name == ADMINISTRATOR)
            .unwrap();
        assert_eq!(admin.permissions.len(), Permission::ALL.len());
        let viewer = BUILT_IN_ROLES.iter().find(|r| r.name == "Viewer").unwrap();
        assert!(
            viewer
                .permissions
                .iter()
                .all(|p| p.as_str().ends_with(".view"))
        );
    }
}
