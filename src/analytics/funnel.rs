//! The funnel of a pipeline from the deals' stage history.
//!
//! For every stage: `entered` is the number of distinct deals that entered it during the period
//! (a deal moved back and forth counts once per stage). `conversion_to_next` is
//! `entered(next open or won stage) / entered(stage)`, following the pipeline's order.
//! `average_seconds_in_stage` averages the stays that began in the period and have ended (the
//! deal moved on); a stay still open is not counted. Groups follow the deal's owner or the
//! client's channel *at the time of the move*.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// What the stage history gives for one stage of one group: the deals that entered it during
/// the period and the average seconds of their ended stays.
#[derive(Debug, Clone)]
pub struct StageCount {
    /// The group key (see [`FunnelGroup::key`]).
    pub grp: Option<String>,
    pub stage_id: i64,
    pub entered: i64,
    pub avg_seconds: Option<f64>,
}

/// The funnel of each group, in key order, from the counts of its stages.
pub fn groups(rows: Vec<StageCount>, stages: &[StageRow]) -> Vec<FunnelGroup> {
    let mut groups: BTreeMap<Option<String>, Vec<StageCount>> = BTreeMap::new();
    for r in rows {
        groups.entry(r.grp.clone()).or_default().push(r);
    }
    groups.into_iter().map(|(key, rows)| figures(key, &rows, stages)).collect()
}

fn figures(key: Option<String>, rows: &[StageCount], stages: &[StageRow]) -> FunnelGroup {
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
