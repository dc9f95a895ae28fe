//! The funnel of a pipeline from the deals' stage history.
//!
//! For every stage: `entered` is the number of distinct deals that entered it during the period
//! (a deal moved back and forth counts once per stage). `conversion_to_next` is
//! `entered(next open or won stage) / entered(stage)`, following the pipeline's order.
//! `average_seconds_in_stage` averages the stays that began in the period and have ended (the
//! deal moved on); a stay still open is not counted. Groups follow the deal's owner or the
//! client's channel *at the time of the move*.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ReportScope;
use crate::db::sql::{seconds_between, Sql};
use crate::db::DbConn;
use crate::pipelines::{StageKind, StageRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Owner,
    Channel,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageFigures {
    pub stage_id: i64,
    pub name: String,
    pub kind: StageKind,
    pub entered: i64,
    /// Share of this stage's deals that entered the next stage; null for the last and lost stages.
    pub conversion_to_next: Option<f64>,
    pub average_seconds_in_stage: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FunnelGroup {
    /// The owner id or channel code (as text); null for "no owner"/"no channel", `all` when ungrouped.
    pub key: Option<String>,
    pub stages: Vec<StageFigures>,
    /// Deals that entered a won stage / deals that entered the first stage.
    pub win_rate: Option<f64>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    grp: Option<String>,
    #[diesel(sql_type = BigInt)]
    stage_id: i64,
    #[diesel(sql_type = BigInt)]
    entered: i64,
    #[diesel(sql_type = Nullable<Double>)]
    avg_seconds: Option<f64>,
}

pub fn compute(
    conn: &mut DbConn,
    scope: &ReportScope,
    pipeline_id: i64,
    stages: &[StageRow],
    group_by: Option<GroupBy>,
) -> QueryResult<Vec<FunnelGroup>> {
    let backend = conn.backend();
    let group = match group_by {
        None => "'all'",
        Some(GroupBy::Owner) => "CAST(owner_id AS TEXT)",
        Some(GroupBy::Channel) => "channel",
    };
    // The stay in a stage ends when the deal's next move happens: LEAD over its whole history.
    let mut sql = Sql::new(
        "WITH moves AS (SELECT h.deal_id, h.to_stage_id, h.owner_id, h.channel, h.changed_at, \
         LEAD(h.changed_at) OVER (PARTITION BY h.deal_id ORDER BY h.changed_at, h.id) AS left_at \
         FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id JOIN clients c ON c.id = d.client_id \
         WHERE d.deleted_at IS NULL AND c.deleted_at IS NULL AND h.pipeline_id = ",
    );
    sql.int(pipeline_id);
    if let Some(region) = &scope.region {
        sql.push(" AND c.region = ").text(region);
    }
    sql.push(&format!(
        ") SELECT {group} AS grp, to_stage_id AS stage_id, COUNT(DISTINCT deal_id) AS entered, \
         CAST(AVG({}) AS DOUBLE PRECISION) AS avg_seconds FROM moves WHERE changed_at >= ",
        seconds_between(backend, "changed_at", "left_at")
    ));
    let from = scope.from.and_hms_opt(0, 0, 0).unwrap_or_default();
    let until = (scope.to + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    sql.timestamp(from).push(" AND changed_at < ").timestamp(until);
    if let Some(owner) = scope.owner_id {
        sql.push(" AND owner_id = ").int(owner);
    }
    if let Some(channel) = &scope.channel {
        sql.push(" AND channel = ").text(channel);
    }
    // PostgreSQL refuses a constant in GROUP BY, so the ungrouped report groups by stage only.
    sql.push(&match group_by {
        None => " GROUP BY to_stage_id".to_string(),
        Some(_) => format!(" GROUP BY {group}, to_stage_id"),
    });
    let rows: Vec<Row> = sql.query().load(conn)?;

    let mut groups: BTreeMap<Option<String>, Vec<Row>> = BTreeMap::new();
    for r in rows {
        groups.entry(r.grp.clone()).or_default().push(r);
    }
    Ok(groups.into_iter().map(|(key, rows)| figures(key, &rows, stages)).collect())
}

fn figures(key: Option<String>, rows: &[Row], stages: &[StageRow]) -> FunnelGroup {
    let of = |id: i64| rows.iter().find(|r| r.stage_id == id);
    // The path deals follow: open stages then won, in the pipeline's order.
    let path: Vec<&StageRow> = stages.iter().filter(|s| StageKind::parse(&s.kind) != StageKind::Lost).collect();
    let mut out = Vec::with_capacity(stages.len());
    for s in stages {
        let entered = of(s.id).map_or(0, |r| r.entered);
        let next = path.iter().position(|p| p.id == s.id).and_then(|i| path.get(i + 1));
        let conversion = match next {
            Some(n) if entered > 0 => Some(of(n.id).map_or(0, |r| r.entered) as f64 / entered as f64),
            _ => None,
        };
        out.push(StageFigures {
            stage_id: s.id,
            name: s.name.clone(),
            kind: StageKind::parse(&s.kind),
            entered,
            conversion_to_next: conversion,
            average_seconds_in_stage: of(s.id).and_then(|r| r.avg_seconds),
        });
    }
    let first = out.iter().find(|f| f.kind == StageKind::Open).map_or(0, |f| f.entered);
    let won: i64 = out.iter().filter(|f| f.kind == StageKind::Won).map(|f| f.entered).sum();
    FunnelGroup { key, stages: out, win_rate: (first > 0).then(|| won as f64 / first as f64) }
}
