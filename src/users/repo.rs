//! User queries: create with a hashed password, find, list, change.

use diesel::prelude::*;

use super::model::{NewUser, NewUserRow, UserPatch, UserRow};
use crate::auth::password;
use crate::auth::scopes::Role;
use crate::db::schema::users;
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{self, page_from, Cursor, KeyValue, Page, Sort};
use crate::versioning::AtReadVersion;
use crate::{keyset, order_keyset};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    CreatedAt,
    Name,
}

pub const USER_SORTS: &[(&str, UserSort)] = &[("created_at", UserSort::CreatedAt), ("name", UserSort::Name)];

#[derive(Debug, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

fn email_taken() -> ApiError {
    ApiError::Conflict("a user with this email or phone extension already exists".into())
}

pub fn create(conn: &mut DbConn, input: &NewUser) -> Result<UserRow, ApiError> {
    let hash = password::hash(&input.password).map_err(ApiError::internal)?;
    let at = now();
    diesel::insert_into(users::table)
        .values(&NewUserRow {
            email: input.email.trim().to_lowercase(),
            name: input.name.trim().to_string(),
            role: input.role.as_str().to_string(),
            password_hash: hash,
            active: true,
            version: 1,
            created_at: at,
            updated_at: at,
            phone_extension: input.phone_extension.as_ref().map(|e| e.trim().to_string()),
        })
        .returning(users::all_columns)
        .get_result(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => email_taken(),
            other => other,
        })
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<UserRow, ApiError> {
    Ok(users::table.find(id).select(users::all_columns).first(conn)?)
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::email.eq(email.trim().to_lowercase())).select(users::all_columns).first(conn).optional()
}

/// Which of `ids` are active users.
pub fn active_among(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    users::table.filter(users::id.eq_any(ids)).filter(users::active.eq(true)).select(users::id).load(conn)
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

fn active_admins(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.filter(users::role.eq(Role::Admin.as_str())).filter(users::active.eq(true)).count().get_result(conn)
}

pub fn list(
    conn: &mut DbConn,
    filter: &UserFilter,
    sort: Sort<UserSort>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<UserRow>, ApiError> {
    let tag = sort.tag(USER_SORTS);
    let mut q = users::table.select(users::all_columns).into_boxed::<Db>();
    if let Some(role) = filter.role {
        q = q.filter(users::role.eq(role.as_str()));
    }
    if let Some(active) = filter.active {
        q = q.filter(users::active.eq(active));
    }
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, &tag)?;
        q = match sort.field {
            UserSort::CreatedAt => keyset!(q, users::created_at, users::id, c.timestamp()?, c.id, sort.desc),
            UserSort::Name => keyset!(q, users::name, users::id, c.text()?.to_string(), c.id, sort.desc),
        };
    }
    q = match sort.field {
        UserSort::CreatedAt => order_keyset!(q, users::created_at, users::id, sort.desc),
        UserSort::Name => order_keyset!(q, users::name, users::id, sort.desc),
    };
    let rows: Vec<UserRow> = q.limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor {
        sort: tag.clone(),
        key: match sort.field {
            UserSort::CreatedAt => pagination::ts_key(r.created_at),
            UserSort::Name => KeyValue::Text(r.name.clone()),
        },
        id: r.id,
    }))
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
struct UserChanges {
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
    password_hash: Option<String>,
    active: Option<bool>,
    deactivated_at: Option<Option<chrono::NaiveDateTime>>,
    phone_extension: Option<Option<String>>,
}

/// Applies `patch`; `expected_version` (from `If-Match`) makes it conditional.
pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: &UserPatch,
    expected_version: Option<i64>,
) -> Result<UserRow, ApiError> {
    let current = get(conn, id)?;
    crate::versioning::expect(expected_version, current.version)?;
    if current.role == Role::Admin.as_str()
        && patch.role.is_some_and(|r| r != Role::Admin)
        && current.active
        && active_admins(conn)? <= 1
    {
        return Err(ApiError::Conflict("the last active administrator cannot be demoted".into()));
    }
    let changes = UserChanges {
        email: patch.email.as_ref().map(|e| e.trim().to_lowercase()),
        name: patch.name.as_ref().map(|n| n.trim().to_string()),
        role: patch.role.map(|r| r.as_str().to_string()),
        password_hash: match &patch.password {
            Some(p) => Some(password::hash(p).map_err(ApiError::internal)?),
            None => None,
        },
        phone_extension: patch.phone_extension.clone().map(|e| e.map(|e| e.trim().to_string())),
        ..Default::default()
    };
    apply(conn, &current, changes)
}

pub fn deactivate(conn: &mut DbConn, id: i64, by_user: Option<i64>) -> Result<UserRow, ApiError> {
    let current = get(conn, id)?;
    if by_user == Some(id) {
        return Err(ApiError::Conflict("you cannot deactivate your own account".into()));
    }
    if !current.active {
        return Ok(current);
    }
    if current.role == Role::Admin.as_str() && active_admins(conn)? <= 1 {
        return Err(ApiError::Conflict("the last active administrator cannot be deactivated".into()));
    }
    let changes = UserChanges { active: Some(false), deactivated_at: Some(Some(now())), ..Default::default() };
    apply(conn, &current, changes)
}

fn apply(conn: &mut DbConn, current: &UserRow, changes: UserChanges) -> Result<UserRow, ApiError> {
    diesel::update(users::table.filter(users::id.eq(current.id)).filter(users::version.eq(current.version)))
        .set((changes, users::version.eq(current.version + 1), users::updated_at.eq(now())))
        .returning(users::all_columns)
        .get_result(conn)
        .at_read_version()
        .map_err(|e| match e {
            ApiError::Conflict(_) => email_taken(),
            other => other,
        })
}
