//! Client storage: reads scoped to what the caller may see, writes that keep the tag, contact
//! point and external id indexes in step, and an event for every change.

pub mod contact_points;
pub mod visibility;

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::clients::model::{name_columns, search_key, Client, ClientFields, ClientRow, ClientStatus};
use crate::db::schema::{
    client_status_history, client_tags, clients, contact_points as contact_points_table,
    external_ids as external_ids_table, users,
};
use crate::db::sql::Sql;
use crate::db::{now, Backend, Db, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};
use crate::normalize::phone::reversed;
use crate::pagination::{self, page_from, Cursor, KeyValue, Page, Sort};
use crate::{channels, external_ids, keyset, order_keyset, with_backend};

pub const ENTITY: &str = "client";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSort {
    Name,
    CreatedAt,
    UpdatedAt,
}

pub const CLIENT_SORTS: &[(&str, ClientSort)] =
    &[("name", ClientSort::Name), ("created_at", ClientSort::CreatedAt), ("updated_at", ClientSort::UpdatedAt)];

pub const DEFAULT_SORT: Sort<ClientSort> = Sort { field: ClientSort::UpdatedAt, desc: true };

/// List filters; `owner_only` is the caller's visibility, not a user's choice.
#[derive(Debug, Default, Clone)]
pub struct ClientFilter {
    pub owner_only: Option<i64>,
    pub status: Option<ClientStatus>,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub owner_id: Option<i64>,
    pub tag: Option<String>,
    pub q: Option<Search>,
    pub updated_since: Option<NaiveDateTime>,
    pub role: Option<crate::clients::model::CounterpartyRole>,
    /// Tests of custom field values (`?cf.<key>=`), all of which must pass.
    pub custom: Vec<crate::custom_fields::Predicate>,
}

/// A `q` term in the forms each part of the search compares.
#[derive(Debug, Clone)]
pub struct Search {
    /// The term's search key (`model::search_key`), looked for in the names and INN; empty when
    /// the term has no letters or digits (then it matches no name).
    pub key: String,
    /// The lowercased term, matched against the beginnings of emails.
    pub lowered: String,
    /// Its phone-digit form when it looks like a number.
    pub digits: Option<String>,
}

impl Search {
    pub fn new(term: &str, region: phonenumber::country::Id) -> Search {
        Search {
            key: search_key(term),
            lowered: term.to_lowercase(),
            digits: crate::normalize::phone::phone_search_digits(term, region),
        }
    }
}

type Boxed<'a> = clients::BoxedQuery<'a, Db>;

/// Live (not deleted) clients the caller may see.
fn visible<'a>(owner_only: Option<i64>) -> Boxed<'a> {
    let mut q = clients::table.filter(clients::deleted_at.is_null()).into_boxed();
    q = crate::clients::visibility::clients_of(q, owner_only);
    q
}

/// The live clients the caller may see that match the filter.
pub fn matching<'a>(filter: &ClientFilter, backend: Backend) -> Boxed<'a> {
    apply_filter(visible(filter.owner_only), filter, backend)
}

/// Escapes `%`, `_` and `\` so a search term matches literally inside `LIKE`.
pub fn like_pattern(term: &str) -> String {
    format!("%{}%", escape_like(term))
}

/// `term` with LIKE's wildcards (and the escape character itself) matching literally.
fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Clients whose name, legal name or INN contain the term (word by word: `model::search_key` of
/// the term in the search text of the card, `model::name_columns`), and — through the contact points — those with
/// an email starting with it or, for a phone-like term, a phone ending with its digits (the
/// whole number in any format, or the local number without the code). Phones and emails stay
/// out of the trigram index, which every new card writes to. On PostgreSQL the contact point ids
/// come as an array, so that the planner can OR the index scans (or walk the sort index when the
/// term is common); SQLite takes a plain subquery. The `sql` literal keeps the statement out of
/// the prepared-statement cache on purpose: a cached `LIKE` would after five runs get a generic
/// plan on PostgreSQL, blind to the selectivity of the actual term.
fn search(term: &Search, backend: Backend) -> Box<dyn BoxableExpression<clients::table, Db, SqlType = Bool>> {
    let (contact_arm, contact_pattern) = match &term.digits {
        Some(d) => {
            ("contact_points.kind = 'phone' AND reverse(contact_points.value) LIKE ", format!("{}%", reversed(d)))
        }
        None => {
            ("contact_points.kind = 'email' AND contact_points.value LIKE ", format!("{}%", escape_like(&term.lowered)))
        }
    };
    let (ids_open, ids_close) = crate::db::dialect::in_ids(backend);
    let mut found: Box<dyn BoxableExpression<clients::table, Db, SqlType = Bool>> = Box::new(
        sql::<Bool>("clients.id ")
            .sql(ids_open)
            .sql("SELECT contact_points.client_id FROM contact_points WHERE ")
            .sql(contact_arm)
            .bind::<Text, _>(contact_pattern)
            .sql(" ESCAPE '\\'")
            .sql(ids_close),
    );
    if !term.key.is_empty() {
        found = Box::new(clients::search_text.like(like_pattern(&term.key)).escape('\\').or(found));
    }
    if let Some(d) = &term.digits {
        found = Box::new(clients::search_text.like(like_pattern(d)).escape('\\').or(found));
    }
    found
}

pub fn apply_filter<'a>(mut q: Boxed<'a>, f: &ClientFilter, backend: Backend) -> Boxed<'a> {
    if let Some(status) = f.status {
        q = q.filter(clients::status.eq(status.as_str()));
    }
    if let Some(channel) = &f.channel {
        q = q.filter(clients::channel.eq(channel.clone()));
    }
    if let Some(region) = &f.region {
        q = q.filter(clients::region.eq(region.clone()));
    }
    if let Some(industry) = &f.industry {
        q = q.filter(clients::industry.eq(industry.clone()));
    }
    if let Some(owner) = f.owner_id {
        q = q.filter(clients::owner_id.eq(owner));
    }
    if let Some(tag) = &f.tag {
        let tagged =
            client_tags::table.filter(client_tags::tag.eq(tag.trim().to_lowercase())).select(client_tags::client_id);
        q = q.filter(clients::id.eq_any(tagged));
    }
    if let Some(term) = &f.q {
        q = q.filter(search(term, backend));
    }
    if let Some(since) = f.updated_since {
        q = q.filter(clients::updated_at.ge(since));
    }
    for p in &f.custom {
        q = custom_field_test(q, p);
    }
    match f.role {
        None => {}
        Some(crate::clients::model::CounterpartyRole::Client) => q = q.filter(is_client()),
        // Through the partial index of the cards whose roles are not `client` alone.
        Some(role) => {
            q = q.filter(clients::roles.ne("client")).filter(clients::roles.like(format!("%{}%", role.as_str())))
        }
    }
    q
}

/// Cards whose custom field values pass the test, through the value index: one subquery per
/// part of the test (a field holds one value, so the parts may be checked apart; multiselects
/// have no ranges).
pub fn custom_field_test<'a, ST: 'a>(
    mut q: clients::BoxedQuery<'a, Db, ST>,
    p: &crate::custom_fields::Predicate,
) -> clients::BoxedQuery<'a, Db, ST> {
    use crate::custom_fields::model::Range;
    use crate::db::schema::custom_field_values as v;
    macro_rules! having {
        ($cond:expr) => {
            q = q.filter(
                clients::id.eq_any(
                    v::table
                        .filter(v::entity.eq(ENTITY))
                        .filter(v::field_key.eq(p.key.clone()))
                        .filter($cond)
                        .select(v::record_id),
                ),
            )
        };
    }
    if !p.values.is_empty() {
        having!(v::value.eq_any(p.values.clone()));
    }
    match &p.range {
        Some(Range::Number(low, high)) => {
            if let Some(l) = *low {
                having!(v::number.ge(l));
            }
            if let Some(h) = *high {
                having!(v::number.le(h));
            }
        }
        Some(Range::Text(low, high)) => {
            if let Some(l) = low.clone() {
                having!(v::value.ge(l));
            }
            if let Some(h) = high.clone() {
                having!(v::value.le(h));
            }
        }
        None => {}
    }
    q
}

/// The cards with the client role, which client analytics, campaigns and automations take.
pub fn is_client() -> diesel::dsl::Like<clients::roles, &'static str> {
    clients::roles.like("%client%")
}

/// [`is_client`] in SQL, on the clients alias `c`.
pub const IS_CLIENT_SQL: &str = " AND c.roles LIKE '%client%'";

pub fn get_row(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<ClientRow, ApiError> {
    Ok(visible(owner_only).filter(clients::id.eq(id)).first(conn)?)
}

/// Turns rows into API clients with two queries in all, whatever the number of rows.
pub fn to_clients(conn: &mut DbConn, rows: Vec<ClientRow>) -> QueryResult<Vec<Client>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut ext = external_ids::of(conn, ENTITY, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let e = ext.remove(&r.id).unwrap_or_default();
            Client::from_row(r, e)
        })
        .collect())
}

/// A card's columns and its external ids as JSON.
type WithExternalIds = (diesel::dsl::AsSelect<ClientRow, Db>, external_ids::JsonColumn);

/// Cards of `q` with their external ids, in one statement.
fn with_external_ids(q: Boxed<'_>, backend: Backend) -> diesel::dsl::Select<Boxed<'_>, WithExternalIds> {
    q.select((ClientRow::as_select(), external_ids::json_column(backend, ENTITY, "clients.id")))
}

/// The next `limit` matching cards after id `last`, in id order, with their external ids, in
/// one statement (the pages of an export).
pub fn after_id(conn: &mut DbConn, filter: &ClientFilter, last: i64, limit: i64) -> QueryResult<Vec<Client>> {
    let backend = conn.backend();
    let q = matching(filter, backend).filter(clients::id.gt(last)).order(clients::id.asc()).limit(limit);
    let rows = with_external_ids(q, backend).load::<(ClientRow, Option<String>)>(conn)?;
    Ok(rows.into_iter().map(|(r, ids)| Client::from_row(r, external_ids::from_json(ids))).collect())
}

pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Client, ApiError> {
    let q = visible(owner_only).filter(clients::id.eq(id));
    let (row, ids) = with_external_ids(q, conn.backend()).first::<(ClientRow, Option<String>)>(conn)?;
    Ok(Client::from_row(row, external_ids::from_json(ids)))
}

pub fn list(
    conn: &mut DbConn,
    filter: &ClientFilter,
    sort: Sort<ClientSort>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Client>, ApiError> {
    let tag = sort.tag(CLIENT_SORTS);
    let mut q = matching(filter, conn.backend());
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, &tag)?;
        q = match sort.field {
            ClientSort::Name => keyset!(q, clients::name, clients::id, c.text()?.to_string(), c.id, sort.desc),
            ClientSort::CreatedAt => keyset!(q, clients::created_at, clients::id, c.timestamp()?, c.id, sort.desc),
            ClientSort::UpdatedAt => keyset!(q, clients::updated_at, clients::id, c.timestamp()?, c.id, sort.desc),
        };
    }
    q = match sort.field {
        ClientSort::Name => order_keyset!(q, clients::name, clients::id, sort.desc),
        ClientSort::CreatedAt => order_keyset!(q, clients::created_at, clients::id, sort.desc),
        ClientSort::UpdatedAt => order_keyset!(q, clients::updated_at, clients::id, sort.desc),
    };
    let rows: Vec<(ClientRow, Option<String>)> = with_external_ids(q.limit(limit + 1), conn.backend()).load(conn)?;
    let page = page_from(rows, limit, |(r, _)| Cursor {
        sort: tag.clone(),
        key: match sort.field {
            ClientSort::Name => KeyValue::Text(r.name.clone()),
            ClientSort::CreatedAt => pagination::ts_key(r.created_at),
            ClientSort::UpdatedAt => pagination::ts_key(r.updated_at),
        },
        id: r.id,
    });
    let items = page.items.into_iter().map(|(r, ids)| Client::from_row(r, external_ids::from_json(ids))).collect();
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// The channels and owners cards may name: the active ones, read in two queries for a whole
/// batch. The one home of the rule "a card names an active channel and an active owner".
pub struct ActiveReferences {
    channels: HashSet<String>,
    users: HashSet<i64>,
    /// The client custom field definitions the cards' `custom_fields` are checked against.
    pub fields: crate::custom_fields::Schema,
    region: phonenumber::country::Id,
}

impl ActiveReferences {
    /// Every active channel (a short reference list), those of `owners` that are active users,
    /// and the client custom fields (phone values read in `region`).
    pub fn load(conn: &mut DbConn, owners: &[i64], region: phonenumber::country::Id) -> QueryResult<ActiveReferences> {
        let channels = channels::active_codes(conn)?.into_iter().collect();
        let users = users::table
            .filter(users::active.eq(true))
            .filter(users::id.eq_any(owners))
            .select(users::id)
            .load::<i64>(conn)?
            .into_iter()
            .collect();
        let fields = crate::custom_fields::repo::schema(conn, crate::custom_fields::CustomEntity::Client)?;
        Ok(ActiveReferences { channels, users, fields, region })
    }

    /// Only what changed from `previous` is checked: a card whose owner was deactivated, or
    /// whose channel was retired, or that holds values of a field since archived, stays
    /// editable. The custom fields are normalised in place.
    pub fn check(&self, fields: &mut ClientFields, previous: Option<&ClientFields>, errors: &mut FieldErrors) {
        self.fields.check(&mut fields.custom_fields, previous.map(|p| &p.custom_fields), self.region, errors);
        let fields = &*fields;
        let changed = |same: fn(&ClientFields, &ClientFields) -> bool| previous.is_none_or(|p| !same(p, fields));
        if let Some(channel) = fields.channel.as_ref().filter(|_| changed(|a, b| a.channel == b.channel)) {
            errors.check(
                self.channels.contains(channel),
                "channel",
                format_args!("'{channel}' is not an active channel (see /channels)"),
            );
        }
        if let Some(owner) = fields.owner_id.filter(|_| changed(|a, b| a.owner_id == b.owner_id)) {
            errors.check(self.users.contains(&owner), "owner_id", "is not an active user");
        }
    }

    /// The cards of a write (`(id, fields)`, no id for a new card) whose unique custom field
    /// values another card holds, or an earlier card of the write: `(position, field, message)`.
    pub fn unique_conflicts(
        &self,
        conn: &mut DbConn,
        cards: &[(Option<i64>, &ClientFields)],
    ) -> QueryResult<Vec<(usize, String, String)>> {
        let maps: Vec<_> = cards.iter().map(|(id, f)| (*id, &f.custom_fields)).collect();
        crate::custom_fields::service::unique_conflicts(conn, &self.fields, &maps)
    }
}

/// Checks what only the database can tell: the channel and owner are active (what changed of
/// them), the custom fields are defined and their unique values free, external ids are not
/// taken by another client.
pub fn check_references(
    conn: &mut DbConn,
    fields: &mut ClientFields,
    previous: Option<(i64, &ClientFields)>,
    region: phonenumber::country::Id,
    errors: &mut FieldErrors,
) -> QueryResult<()> {
    let id = previous.map(|(id, _)| id);
    let owners: Vec<i64> = fields.owner_id.into_iter().collect();
    let references = ActiveReferences::load(conn, &owners, region)?;
    references.check(fields, previous.map(|(_, p)| p), errors);
    for (_, field, message) in references.unique_conflicts(conn, &[(id, &*fields)])? {
        errors.add(field, message);
    }
    for (source, external) in &fields.external_ids {
        let holder = external_ids::holders(conn, ENTITY, source, &[external.as_str()])?.get(external).copied();
        if let Some(other) = holder.filter(|h| Some(*h) != id) {
            errors.add(format!("external_ids.{source}"), format!("is already used by client {other}"));
        }
    }
    Ok(())
}

/// A card as stored: inserted whole (every column given, so that PostgreSQL can COPY it) and
/// written over an earlier version (the id is the key and is not set).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ClientWrite {
    pub id: i64,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub kind: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub inn: Option<String>,
    pub status: String,
    pub lost_reason: Option<String>,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub source: Option<String>,
    pub owner_id: Option<i64>,
    pub tags: String,
    pub notes: Option<String>,
    pub custom_fields: String,
    pub phones: String,
    pub emails: String,
    pub addresses: String,
    pub mailing_consent: bool,
    pub estimated_potential: Option<i64>,
    pub search_text: String,
    pub name_key: Option<String>,
    pub roles: String,
    pub updated_at: NaiveDateTime,
}

impl ClientWrite {
    /// Version `version` of card `id` with `fields`, written at `at`.
    pub fn from_fields(
        id: i64,
        version: i64,
        created_at: NaiveDateTime,
        f: &ClientFields,
        at: NaiveDateTime,
    ) -> ClientWrite {
        let (name_key, search_text) = name_columns(&f.name, f.legal_name.as_deref(), f.inn.as_deref());
        ClientWrite {
            id,
            version,
            created_at,
            kind: f.kind.as_str().into(),
            name: f.name.clone(),
            legal_name: f.legal_name.clone(),
            inn: f.inn.clone(),
            status: f.status.as_str().into(),
            lost_reason: f.lost_reason.clone(),
            channel: f.channel.clone(),
            region: f.region.clone(),
            industry: f.industry.clone(),
            source: f.source.clone(),
            owner_id: f.owner_id,
            tags: json(&f.tags),
            notes: f.notes.clone(),
            custom_fields: json(&f.custom_fields),
            phones: json(&f.phones),
            emails: json(&f.emails),
            addresses: json(&f.addresses),
            mailing_consent: f.mailing_consent,
            estimated_potential: f.estimated_potential,
            search_text,
            name_key: Some(name_key),
            roles: crate::clients::model::roles_text(&f.roles),
            updated_at: at,
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Writes the derived index rows of many clients — tags, contact points of the card, custom
/// field values, external ids — with a fixed number of statements; `replace` first removes the rows they had.
pub fn write_indexes(conn: &mut DbConn, cards: &[(i64, &ClientFields)], replace: bool) -> QueryResult<()> {
    let ids: Vec<i64> = if replace { cards.iter().map(|(id, _)| *id).collect() } else { Vec::new() };
    for chunk in ids.chunks(1000) {
        diesel::delete(client_tags::table.filter(client_tags::client_id.eq_any(chunk))).execute(conn)?;
        diesel::delete(
            contact_points_table::table
                .filter(contact_points_table::client_id.eq_any(chunk))
                .filter(contact_points_table::contact_id.is_null()),
        )
        .execute(conn)?;
        diesel::delete(
            external_ids_table::table
                .filter(external_ids_table::entity_type.eq(ENTITY))
                .filter(external_ids_table::entity_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    let tags: Vec<_> = cards
        .iter()
        .flat_map(|(id, f)| {
            f.tags.iter().map(move |t| (client_tags::client_id.eq(*id), client_tags::tag.eq(t.as_str())))
        })
        .collect();
    for chunk in tags.chunks(10_000) {
        with_backend!(conn, |c| diesel::insert_into(client_tags::table).values(chunk).execute(c))?;
    }
    let points: Vec<(i64, &str, String)> = cards
        .iter()
        .flat_map(|(id, f)| {
            f.phone_numbers()
                .into_iter()
                .map(move |p| (*id, crate::clients::contact_points::PHONE, p))
                .chain(f.email_addresses().into_iter().map(move |e| (*id, crate::clients::contact_points::EMAIL, e)))
        })
        .collect();
    crate::clients::contact_points::insert(conn, &points)?;
    let maps: Vec<_> = cards.iter().map(|(id, f)| (*id, &f.custom_fields)).collect();
    crate::custom_fields::repo::index_records(conn, crate::custom_fields::CustomEntity::Client, &maps, replace)?;
    let ext: Vec<(i64, &str, &str)> = cards
        .iter()
        .flat_map(|(id, f)| f.external_ids.iter().map(move |(s, e)| (*id, s.as_str(), e.as_str())))
        .collect();
    external_ids::insert(conn, ENTITY, &ext)
}

/// Records changes of status, for the movement report.
pub fn record_statuses(
    conn: &mut DbConn,
    changes: &[(i64, Option<ClientStatus>, ClientStatus)],
    origin: &Origin,
) -> QueryResult<()> {
    let at = now();
    let rows: Vec<_> = changes
        .iter()
        .map(|(id, from, to)| {
            (
                client_status_history::client_id.eq(*id),
                client_status_history::from_status.eq(from.map(|s| s.as_str())),
                client_status_history::to_status.eq(to.as_str()),
                client_status_history::changed_by.eq(origin.actor.as_deref()),
                client_status_history::changed_at.eq(at),
            )
        })
        .collect();
    for chunk in rows.chunks(5000) {
        with_backend!(conn, |c| diesel::insert_into(client_status_history::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// Emits one event per card.
fn emit(conn: &mut DbConn, event_type: &str, cards: &[Client], origin: &Origin) -> QueryResult<()> {
    let list = cards
        .iter()
        .map(|c| NewEvent { event_type, entity_type: ENTITY, entity_id: c.id, payload: events::payload(c) })
        .collect();
    events::record_many(conn, origin, list)
}

/// Inserts validated cards — with their indexes and `client.created` events — in a fixed
/// number of statements whatever their number.
pub fn create_many(conn: &mut DbConn, cards: &[ClientFields], origin: &Origin) -> Result<Vec<Client>, ApiError> {
    if cards.is_empty() {
        return Ok(Vec::new());
    }
    let at = now();
    let ids = crate::db::allocate_ids(conn, "clients", cards.len())?;
    let rows: Vec<ClientWrite> =
        ids.iter().zip(cards).map(|(id, f)| ClientWrite::from_fields(*id, 1, at, f, at)).collect();
    for chunk in rows.chunks(1000) {
        crate::insert_rows!(conn, clients::table, chunk)?;
    }
    let pairs: Vec<(i64, &ClientFields)> = ids.iter().copied().zip(cards).collect();
    write_indexes(conn, &pairs, false)?;
    // New cards are what was just written: no need to read them back.
    let created: Vec<Client> = pairs.iter().map(|(id, f)| Client::new_card(*id, f, at)).collect();
    emit(conn, "client.created", &created, origin)?;
    Ok(created)
}

/// Recomputes the name key and search text of the cards that have no name key: those written
/// before these columns were computed the current way (a migration that changes the rules
/// clears the keys; their Unicode rules cannot be applied in SQL on both backends). Purged cards
/// (empty search text) stay empty. Runs at start, after the migrations; returns the cards fixed.
pub fn refresh_search_keys(conn: &mut DbConn) -> QueryResult<usize> {
    let (mut after, mut done) = (0i64, 0usize);
    loop {
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = clients::table
            .filter(clients::id.gt(after))
            .filter(clients::name_key.is_null())
            .filter(clients::search_text.ne(""))
            .order(clients::id)
            .limit(1000)
            .select((clients::id, clients::name, clients::legal_name, clients::inn))
            .load(conn)?;
        let Some(last) = rows.last() else { return Ok(done) };
        after = last.0;
        // One statement per thousand: `UPDATE … FROM (VALUES …)` reads the same on both backends.
        let mut sql = Sql::new("UPDATE clients SET name_key = v.column2, search_text = v.column3 FROM (VALUES ");
        for (i, (id, name, legal_name, inn)) in rows.iter().enumerate() {
            let (key, text) = name_columns(name, legal_name.as_deref(), inn.as_deref());
            sql.push(if i == 0 { "(" } else { ", (" }).int(*id).push(", ").text(&key).push(", ").text(&text).push(")");
        }
        // Still stale: another server sharing the base may have rewritten the card meanwhile.
        sql.push(") AS v WHERE clients.id = v.column1 AND clients.name_key IS NULL").query().execute(conn)?;
        done += rows.len();
    }
}

/// Live or not, in the order of `ids`, with their external ids (two queries per 1000).
/// The cards of `ids`, in that order.
pub fn load(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Client>> {
    let mut rows: Vec<ClientRow> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        rows.extend(clients::table.filter(clients::id.eq_any(chunk)).load::<ClientRow>(conn)?);
    }
    let order: std::collections::HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    rows.sort_by_key(|r| order.get(&r.id).copied().unwrap_or(usize::MAX));
    to_clients(conn, rows)
}

pub fn create(conn: &mut DbConn, fields: &ClientFields, origin: &Origin) -> Result<Client, ApiError> {
    create_many(conn, std::slice::from_ref(fields), origin)?
        .pop()
        .ok_or_else(|| ApiError::internal("client not created"))
}

/// Writes changed cards over their current versions (each conditional on the version read),
/// then their indexes, status changes and `client.updated` events in bulk.
pub fn update_many(
    conn: &mut DbConn,
    changes: &[(&Client, &ClientFields)],
    origin: &Origin,
) -> Result<Vec<Client>, ApiError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let at = now();
    for (current, fields) in changes {
        let n = diesel::update(
            clients::table.filter(clients::id.eq(current.id)).filter(clients::version.eq(current.version)),
        )
        .set(ClientWrite::from_fields(current.id, current.version + 1, current.created_at.naive_utc(), fields, at))
        .execute(conn)?;
        if n == 0 {
            // Someone else changed the card between our read and this write.
            return Err(ApiError::PreconditionFailed);
        }
    }
    let pairs: Vec<(i64, &ClientFields)> = changes.iter().map(|(c, f)| (c.id, *f)).collect();
    write_indexes(conn, &pairs, true)?;
    let statuses: Vec<_> =
        changes.iter().filter(|(c, f)| c.status != f.status).map(|(c, f)| (c.id, Some(c.status), f.status)).collect();
    record_statuses(conn, &statuses, origin)?;
    let ids: Vec<i64> = changes.iter().map(|(c, _)| c.id).collect();
    let updated = load(conn, &ids)?;
    emit(conn, "client.updated", &updated, origin)?;
    // A change of status is an event of its own, with the status it left.
    let moved: Vec<NewEvent<'_>> = changes
        .iter()
        .zip(&updated)
        .filter(|((c, f), _)| c.status != f.status)
        .map(|((c, _), card)| NewEvent {
            event_type: "client.status_changed",
            entity_type: ENTITY,
            entity_id: card.id,
            payload: events::payload_with(card, serde_json::json!({ "from_status": c.status })),
        })
        .collect();
    events::record_many(conn, origin, moved)?;
    Ok(updated)
}

/// Writes `fields` over `current` if anything changed (an unchanged card keeps its version
/// and `updated_at`, and emits nothing). Returns the card and whether it changed.
pub fn update(
    conn: &mut DbConn,
    current: &Client,
    fields: &ClientFields,
    origin: &Origin,
) -> Result<(Client, bool), ApiError> {
    if *fields == ClientFields::from_client(current) {
        return Ok((current.clone(), false));
    }
    let updated = update_many(conn, &[(current, fields)], origin)?
        .pop()
        .ok_or_else(|| ApiError::internal("client not updated"))?;
    Ok((updated, true))
}

/// Soft-deletes a visible client; it disappears from lists and reads until restored.
pub fn soft_delete(
    conn: &mut DbConn,
    id: i64,
    owner_only: Option<i64>,
    expected_version: Option<i64>,
    origin: &Origin,
) -> Result<(), ApiError> {
    let row = get_row(conn, id, owner_only)?;
    crate::versioning::expect(expected_version, row.version)?;
    let at = now();
    diesel::update(clients::table.filter(clients::id.eq(id)).filter(clients::version.eq(row.version)))
        .set((clients::deleted_at.eq(Some(at)), clients::updated_at.eq(at), clients::version.eq(row.version + 1)))
        .execute(conn)?;
    crate::custom_fields::repo::remove_values(conn, crate::custom_fields::CustomEntity::Client, &[id])?;
    events::record(
        conn,
        origin,
        NewEvent {
            event_type: "client.deleted",
            entity_type: ENTITY,
            entity_id: id,
            payload: serde_json::json!({ "id": id, "deleted_at": at.and_utc() }).to_string(),
        },
    )?;
    Ok(())
}

/// Soft-deletes the live cards among `ids` in bulk (one statement and one batch of events per
/// thousand); returns how many were deleted.
pub fn soft_delete_many(conn: &mut DbConn, ids: &[i64], origin: &Origin) -> QueryResult<usize> {
    let at = now();
    let mut deleted = 0;
    for chunk in ids.chunks(1000) {
        let gone: Vec<i64> =
            diesel::update(clients::table.filter(clients::id.eq_any(chunk)).filter(clients::deleted_at.is_null()))
                .set((
                    clients::deleted_at.eq(Some(at)),
                    clients::updated_at.eq(at),
                    clients::version.eq(clients::version + 1),
                ))
                .returning(clients::id)
                .get_results(conn)?;
        deleted += gone.len();
        crate::custom_fields::repo::remove_values(conn, crate::custom_fields::CustomEntity::Client, &gone)?;
        let list = gone
            .iter()
            .map(|id| NewEvent {
                event_type: "client.deleted",
                entity_type: ENTITY,
                entity_id: *id,
                payload: serde_json::json!({ "id": id, "deleted_at": at.and_utc() }).to_string(),
            })
            .collect();
        events::record_many(conn, origin, list)?;
    }
    Ok(deleted)
}

/// Brings a soft-deleted client back; restoring a live client changes nothing.
pub fn restore(conn: &mut DbConn, id: i64, owner_only: Option<i64>, origin: &Origin) -> Result<Client, ApiError> {
    let mut q = clients::table.filter(clients::id.eq(id)).into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let row: ClientRow = q.select(clients::all_columns).first(conn)?;
    if row.deleted_at.is_none() {
        return Ok(to_clients(conn, vec![row])?.remove(0));
    }
    let row: ClientRow = diesel::update(clients::table.find(id))
        .set((
            clients::deleted_at.eq(None::<NaiveDateTime>),
            clients::updated_at.eq(now()),
            clients::version.eq(row.version + 1),
        ))
        .returning(clients::all_columns)
        .get_result(conn)?;
    let client = to_clients(conn, vec![row])?.remove(0);
    // Its values count again; a unique one another card took meanwhile refuses the restore.
    let values = [(id, &client.custom_fields)];
    crate::custom_fields::repo::index_records(conn, crate::custom_fields::CustomEntity::Client, &values, true)?;
    events::record(
        conn,
        origin,
        NewEvent {
            event_type: "client.restored",
            entity_type: ENTITY,
            entity_id: id,
            payload: events::payload(&client),
        },
    )?;
    Ok(client)
}

/// Recomputes the purchase figures of these clients from their sales, in one statement.
pub fn refresh_figures(conn: &mut DbConn, client_ids: &[i64]) -> QueryResult<()> {
    if client_ids.is_empty() {
        return Ok(());
    }
    // Ids are integers, so listing them in the statement is safe. One grouped pass over the
    // sales of these clients, then a reset for clients left without any.
    let list = client_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    // Concurrent batches touch overlapping clients.
    crate::db::dialect::lock_in_id_order(conn, "clients", &list)?;
    diesel::sql_query(format!(
        "UPDATE clients SET first_purchase_on = f.first_on, last_purchase_on = f.last_on, \
         purchase_count = f.n, purchase_days = f.days, revenue_total = f.revenue, margin_total = f.margin \
         FROM (SELECT client_id, MIN(sold_on) AS first_on, MAX(sold_on) AS last_on, COUNT(*) AS n, \
         COUNT(DISTINCT sold_on) AS days, COALESCE(SUM(amount), 0) AS revenue, COALESCE(SUM(margin), 0) AS margin \
         FROM sales WHERE client_id IN ({list}) GROUP BY client_id) AS f WHERE clients.id = f.client_id"
    ))
    .execute(conn)?;
    diesel::sql_query(format!(
        "UPDATE clients SET first_purchase_on = NULL, last_purchase_on = NULL, purchase_count = 0, \
         purchase_days = 0, revenue_total = 0, margin_total = 0 \
         WHERE id IN ({list}) AND purchase_count <> 0 AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.client_id = clients.id)"
    ))
    .execute(conn)?;
    Ok(())
}
