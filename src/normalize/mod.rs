//! How phones, emails and tax ids are read and stored: validation and normal forms, pure
//! functions below every domain (the database's SQLite `reverse` and the settings use them too).

pub mod email;
pub mod inn;
pub mod numbering;
pub mod phone;
