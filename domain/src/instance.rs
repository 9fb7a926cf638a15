//! Facts about this Ferry installation that outlive restarts: its id and when it was created.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};

use crate::entities::setting;
use crate::{Error, Result};

const INSTANCE_ID: &str = "instance.id";
const INSTANCE_CREATED_AT: &str = "instance.created_at";

/// The identity of this installation, written once on the first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub created_at: DateTime<Utc>,
}

/// Returns the installation's identity, recording a new one on the very first call.
///
/// Safe when several processes start at once: inserts never overwrite an existing value,
/// and the stored value is read back afterwards.
///
/// # Errors
/// [`Error::Database`] when the settings cannot be read or written, [`Error::Corrupt`] when a
/// stored timestamp does not parse.
pub async fn ensure(db: &DatabaseConnection) -> Result<Instance> {
    let now = Utc::now();
    let fresh = [
        (INSTANCE_ID, uuid::Uuid::new_v4().to_string()),
        (INSTANCE_CREATED_AT, now.to_rfc3339()),
    ];
    for (key, value) in fresh {
        setting::Entity::insert(setting::ActiveModel {
            key: Set(key.to_owned()),
            value: Set(value),
            updated_at: Set(now),
        })
        .on_conflict_do_nothing()
        .exec(db)
        .await?;
    }
    load(db)
        .await?
        .ok_or_else(|| Error::Corrupt("instance settings vanished".into()))
}

/// Reads the installation's identity, if it was recorded.
///
/// # Errors
/// As for [`ensure`].
pub async fn load(db: &DatabaseConnection) -> Result<Option<Instance>> {
    let id = setting::Entity::find_by_id(INSTANCE_ID).one(db).await?;
    let created = setting::Entity::find_by_id(INSTANCE_CREATED_AT)
        .one(db)
        .await?;
    let (Some(id), Some(created)) = (id, created) else {
        return Ok(None);
    };
    let created_at = DateTime::parse_from_rfc3339(&created.value)
        .map_err(|e| Error::Corrupt(format!("{INSTANCE_CREATED_AT}: {e}")))?
        .with_timezone(&Utc);
    Ok(Some(Instance {
        id: id.value,
        created_at,
    }))
}
