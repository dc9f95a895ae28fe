//! Imports of spreadsheets of clients, their contact persons or their purchases: a CSV or XLSX
//! file is uploaded, its columns mapped to fields (guessed from Russian and English headers), previewed row by row, run in the background in
//! batches that resume after a crash, reported (the rejected rows as uploaded, with reasons)
//! and reverted.

pub mod api;
pub mod file;
pub mod mapping;
pub mod model;
pub mod plan;
pub mod records;
pub mod repo;
pub mod report;
pub mod service;
pub mod worker;
