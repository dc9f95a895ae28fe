//! The one visibility rule. A manager sees the clients they own, and what hangs off a client
//! (contacts, deals, activities, tasks, sales, campaign recipients, the timeline, analytics)
//! when they may see its client; the other roles and integrations see the whole base. Every
//! query of those goes through one of these two helpers, with the caller's
//! [`own_clients_only`](crate::auth::Caller::own_clients_only).

use diesel::dsl;
use diesel::prelude::*;

use crate::db::schema::clients;

/// The ids of the clients `me` owns, as a subquery: `x.client_id.eq_any(owned_by(me))`.
pub type OwnedBy = dsl::Select<dsl::Filter<clients::table, dsl::Eq<clients::owner_id, i64>>, clients::id>;

pub fn owned_by(me: i64) -> OwnedBy {
    clients::table.filter(owns(me)).select(clients::id)
}

/// "The client is `me`'s", for rules that widen it (a manager also sees the deals they hold and
/// the activities they wrote on others' clients).
pub fn owns(me: i64) -> dsl::Eq<clients::owner_id, i64> {
    clients::owner_id.eq(me)
}

/// Limits a query that reads `clients` (alone or joined) to the clients the caller may see.
pub fn clients_of<Q>(q: Q, owner_only: Option<i64>) -> Q
where
    Q: diesel::query_dsl::methods::FilterDsl<dsl::Eq<clients::owner_id, i64>, Output = Q>,
{
    match owner_only {
        Some(me) => diesel::query_dsl::methods::FilterDsl::filter(q, owns(me)),
        None => q,
    }
}
