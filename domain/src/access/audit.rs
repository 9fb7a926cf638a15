//! The audit log: an append-only record of who did what to which object, when, from which
//! address, and whether it was allowed.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::Result;
use crate::entities::audit_event;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Permitted and done.
    Allowed,
    /// Refused for lack of a session or permission.
    Denied,
    /// Permitted but not done (a wrong password, a rule broken).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// Who acted and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i32>,
    /// The email of the signed-in user, or the email someone tried to sign in as, or "".
    pub email: String,
    pub client_addr: String,
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub actor: &'a Actor,
    /// Dotted name such as `auth.login` or `users.disable`.
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

/// Appends an event to the audit log.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn record(db: &impl ConnectionTrait, event: Event<'_>) -> Result<()> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        occurred_at: Set(Utc::now()),
        actor_user_id: Set(event.actor.user_id),
        actor_email: Set(event.actor.email.clone()),
        action: Set(event.action.to_owned()),
        object_type: Set(event.object_type.to_owned()),
        object_id: Set(event.object_id.to_owned()),
        outcome: Set(event.outcome.as_str().to_owned()),
        client_addr: Set(event.actor.client_addr.clone()),
        details: Set(event.details.to_string()),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Which events to list; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of the actor's email.
    pub actor: Option<String>,
    /// An action name, or a prefix ending in `.` such as `users.`.
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this id (for paging backwards).
    pub before_id: Option<i64>,
    pub limit: u64,
}

/// The newest events matching `filter`, newest first.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn list(db: &DatabaseConnection, filter: &Filter) -> Result<Vec<audit_event::Model>> {
    let mut query = audit_event::Entity::find();
    if let Some(actor) = filter
        .actor
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        query = query.filter(audit_event::Column::ActorEmail.contains(actor.to_lowercase()));
    }
    if let Some(action) = filter
        .action
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        query = if action.ends_with('.') {
            query.filter(audit_event::Column::Action.starts_with(action))
        } else {
            query.filter(audit_event::Column::Action.eq(action))
        };
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_event::Column::OccurredAt.gte(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_event::Column::OccurredAt.lt(until));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_event::Column::Id.lt(before));
    }
    let limit = if filter.limit == 0 {
        100
    } else {
        filter.limit.min(1000)
    };
    Ok(query
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
