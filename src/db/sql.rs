//! Hand-written SQL for the aggregate queries the query builder cannot express portably, with
//! bind parameters numbered as they are appended (`$1`, `$2`… in order of first use, which both
//! PostgreSQL and SQLite accept), and the few expressions that differ between the backends.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Date, Double, Text, Timestamp};

use super::Db;

#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Float(f64),
    Text(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
}

/// A statement under construction and its bind values.
#[derive(Debug, Default)]
pub struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_string(), binds: Vec::new() }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, b: Bind) -> &mut Sql {
        self.binds.push(b);
        let n = self.binds.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Sql {
        self.bind(Bind::Int(v))
    }

    pub fn float(&mut self, v: f64) -> &mut Sql {
        self.bind(Bind::Float(v))
    }

    pub fn text(&mut self, v: &str) -> &mut Sql {
        self.bind(Bind::Text(v.to_string()))
    }

    pub fn date(&mut self, v: NaiveDate) -> &mut Sql {
        self.bind(Bind::Date(v))
    }

    pub fn timestamp(&mut self, v: NaiveDateTime) -> &mut Sql {
        self.bind(Bind::Timestamp(v))
    }

    /// The statement, ready to execute or to load into a `QueryableByName` type.
    pub fn query(&self) -> BoxedSqlQuery<'static, Db, diesel::query_builder::SqlQuery> {
        let mut q = diesel::sql_query(self.text.clone()).into_boxed::<Db>();
        for b in &self.binds {
            q = match b.clone() {
                Bind::Int(v) => q.bind::<BigInt, _>(v),
                Bind::Float(v) => q.bind::<Double, _>(v),
                Bind::Text(v) => q.bind::<Text, _>(v),
                Bind::Date(v) => q.bind::<Date, _>(v),
                Bind::Timestamp(v) => q.bind::<Timestamp, _>(v),
            };
        }
        q
    }
}

pub use super::dialect::seconds_between;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_numbered_in_order() {
        let mut s = Sql::new("SELECT 1 WHERE a = ");
        s.int(1).push(" AND b = ").text("x").push(" AND c = ").int(2);
        assert_eq!(s.text, "SELECT 1 WHERE a = $1 AND b = $2 AND c = $3");
        assert_eq!(s.binds.len(), 3);
    }
}
