//! Typed custom fields: definitions of the keys clients, contacts and deals carry in their
//! `custom_fields` object (type, options, required, unique, filterable), the validation every
//! write of those objects goes through, and the value index filters and uniqueness read.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;
pub mod values;

pub use model::{CustomEntity, Definition, FieldTest, FieldTests, FieldType, Predicate};
pub use values::Schema;
