//! Judging one subject against an automation's conditions, from the facts read for it: whether
//! every applicable condition holds, the values its placeholders take, and the episode it is
//! acted on in (a birthday, a stay in a stage, a silence since a purchase). Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::facts::{ClientFacts, ContactFacts, DealFacts};
use super::model::Conditions;
use crate::analytics::reactivation::Candidate;
use crate::money;

/// What an event says, as far as conditions and placeholders go.
#[derive(Debug, Clone, Default)]
pub struct EventFacts {
    pub id: i64,
    pub event_type: String,
    pub to_stage_kind: Option<String>,
    pub to_status: Option<String>,
    pub from_status: Option<String>,
    pub call_number: Option<String>,
    pub call_user: Option<i64>,
}

/// Everything known about one subject.
pub struct Facts<'a> {
    pub client: &'a ClientFacts,
    /// Whether the client is in `client_filter` (true without one).
    pub in_filter: bool,
    pub deal: Option<&'a DealFacts>,
    pub contact: Option<&'a ContactFacts>,
    /// For a sale: whether it is the client's first.
    pub first_sale: Option<bool>,
    pub event: Option<&'a EventFacts>,
    /// The client's standing under the reactivation rule, when it is due.
    pub due: Option<&'a Candidate>,
    pub occasion: Option<&'a str>,
}

impl<'a> Facts<'a> {
    /// What is known of a subject's client on a schedule; the entity's own facts are set after.
    pub fn of_client(
        client: &'a ClientFacts,
        in_filter: bool,
        due: Option<&'a Candidate>,
        occasion: Option<&'a str>,
    ) -> Facts<'a> {
        Facts { client, in_filter, deal: None, contact: None, first_sale: None, event: None, due, occasion }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Judged {
    pub vars: BTreeMap<&'static str, String>,
    pub episode: Option<String>,
}

/// The placeholders and what they need: `None` always there, else the condition or subject.
pub const PLACEHOLDERS: &[(&str, Need)] = &[
    ("client.name", Need::Always),
    ("client.days_since_last_purchase", Need::Always),
    ("client.revenue_total", Need::Always),
    ("client.margin_total", Need::Always),
    ("client.revenue_at_risk", Need::OverdueFactor),
    ("client.interval_days", Need::OverdueFactor),
    ("client.days_since_last_contact", Need::LastContact),
    ("client.lost_for_days", Need::LostFor),
    ("deal.title", Need::Deal),
    ("deal.amount", Need::Deal),
    ("deal.stage", Need::Deal),
    ("deal.days_in_stage", Need::Deal),
    ("contact.name", Need::Contact),
    ("contact.birthday", Need::Contact),
    ("call.number", Need::Call),
    ("occasion", Need::Occasion),
    ("date", Need::Always),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Always,
    OverdueFactor,
    LastContact,
    LostFor,
    Deal,
    Contact,
    Call,
    Occasion,
}

fn days(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

/// The next birthday on or after `today` (29 February is kept on the 28th in other years).
pub fn next_birthday(birthday: NaiveDate, today: NaiveDate) -> Option<NaiveDate> {
    let on = |year: i32| {
        NaiveDate::from_ymd_opt(year, birthday.month(), birthday.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, birthday.month(), 28))
    };
    let this_year = on(today.year())?;
    if this_year >= today {
        Some(this_year)
    } else {
        on(today.year() + 1)
    }
}

fn one_of<T: PartialEq>(list: &Option<Vec<T>>, value: &T) -> bool {
    list.as_ref().is_none_or(|l| l.contains(value))
}

fn kind_in(list: &Option<Vec<crate::pipelines::StageKind>>, kind: Option<&str>) -> bool {
    list.as_ref().is_none_or(|l| kind.is_some_and(|k| l.iter().any(|w| w.as_str() == k)))
}

fn status_in(list: &Option<Vec<crate::clients::model::ClientStatus>>, status: Option<&str>) -> bool {
    list.as_ref().is_none_or(|l| status.is_some_and(|s| l.iter().any(|w| w.as_str() == s)))
}

/// Whether every applicable condition holds for the subject at instant `as_of`, judged on the
/// calendar of the playbook's `zone`; the placeholders' values and the episode when it does.
pub fn judge(c: &Conditions, f: &Facts<'_>, as_of: DateTime<Utc>, zone: Tz) -> Option<Judged> {
    // Stored instants are UTC: each is taken to the zone's calendar before days are counted.
    let local = |t: NaiveDateTime| zone.from_utc_datetime(&t).date_naive();
    let today = as_of.with_timezone(&zone).date_naive();
    let as_of = as_of.naive_utc();
    if !f.in_filter {
        return None;
    }
    let client = f.client;
    let mut j = Judged::default();
    j.vars.insert("client.name", client.name.clone());
    j.vars.insert("client.revenue_total", money::format_minor(client.revenue_total));
    j.vars.insert("client.margin_total", money::format_minor(client.margin_total));
    j.vars.insert("date", today.to_string());
    if let Some(last) = client.last_purchase_on {
        j.vars.insert("client.days_since_last_purchase", days(last, today).to_string());
    }
    if let Some(o) = f.occasion {
        j.vars.insert("occasion", o.to_string());
    }
    if let Some(cc) = &c.client {
        if let Some(n) = cc.days_since_last_purchase_min {
            let last = client.last_purchase_on?;
            if days(last, today) < n {
                return None;
            }
            j.episode = Some(format!("purchase:{last}"));
        }
        if cc.purchase_overdue_factor.is_some() {
            let due = f.due?;
            j.vars.insert("client.revenue_at_risk", due.revenue_at_risk.clone());
            j.vars.insert("client.interval_days", format!("{:.0}", due.interval_days));
            j.episode = Some(format!("purchase:{}", due.last_purchase_on));
        }
        if let Some(n) = cc.days_since_last_contact_min {
            let since = local(client.last_contact.unwrap_or(client.created_at));
            let d = days(since, today);
            if d < n {
                return None;
            }
            j.vars.insert("client.days_since_last_contact", d.to_string());
        }
        if let Some(n) = cc.lost_for_days_min {
            if client.status != "lost" {
                return None;
            }
            let d = days(local(client.lost_since.unwrap_or(client.created_at)), today);
            if d < n {
                return None;
            }
            j.vars.insert("client.lost_for_days", d.to_string());
        }
    }
    if let Some(deal) = f.deal {
        j.vars.insert("deal.title", deal.title.clone());
        j.vars.insert("deal.amount", money::format_minor(deal.amount));
        j.vars.insert("deal.stage", deal.stage_name.clone());
        let in_stage = days(local(deal.entered_stage_at), today).max(0);
        j.vars.insert("deal.days_in_stage", in_stage.to_string());
        if let Some(dc) = &c.deal {
            let amount_ok = |bound: &Option<String>, above: bool| {
                bound.as_deref().map(money::parse_minor).is_none_or(|b| match b {
                    Ok(b) if above => deal.amount >= b,
                    Ok(b) => deal.amount <= b,
                    Err(_) => false,
                })
            };
            let name_ok = dc
                .stage_name
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n.trim().eq_ignore_ascii_case(deal.stage_name.trim())));
            let held = one_of(&dc.pipeline_id, &deal.pipeline_id)
                && one_of(&dc.stage_id, &deal.stage_id)
                && name_ok
                && kind_in(&dc.stage_kind, Some(&deal.stage_kind))
                && amount_ok(&dc.amount_min, true)
                && amount_ok(&dc.amount_max, false);
            if !held {
                return None;
            }
            if let Some(n) = dc.days_in_stage_min {
                // Measured to the instant: five days in the stage means 5 × 24 hours.
                if (as_of - deal.entered_stage_at).num_days() < n {
                    return None;
                }
                j.episode = Some(format!("stage:{}@{}", deal.stage_id, deal.entered_stage_at.and_utc().timestamp()));
            }
        }
    }
    if let Some(contact) = f.contact {
        j.vars.insert("contact.name", contact.name.clone());
        let next = contact.birthday.and_then(|b| next_birthday(b, today));
        if let Some(next) = next {
            j.vars.insert("contact.birthday", next.to_string());
        }
        if let Some(cc) = &c.contact {
            if cc.decision_maker.is_some_and(|d| d != contact.decision_maker) {
                return None;
            }
            if let Some(n) = cc.birthday_within_days {
                let next = next?;
                if days(today, next) > n {
                    return None;
                }
                j.episode = Some(format!("birthday:{next}"));
            }
        }
    }
    if let (Some(first), Some(sc)) = (f.first_sale, &c.sale) {
        if sc.first_of_client.is_some_and(|w| w != first) {
            return None;
        }
    }
    if let Some(e) = f.event {
        if let Some(n) = &e.call_number {
            j.vars.insert("call.number", n.clone());
        }
        if let Some(ec) = &c.event {
            // Each part applies to the events that carry it: stage kinds to deal events,
            // statuses to status changes.
            if e.event_type.starts_with("deal.") && !kind_in(&ec.to_stage_kind, e.to_stage_kind.as_deref()) {
                return None;
            }
            if e.event_type == "client.status_changed"
                && !(status_in(&ec.to_status, e.to_status.as_deref())
                    && status_in(&ec.from_status, e.from_status.as_deref()))
            {
                return None;
            }
        }
        j.episode = Some(format!("event:{}", e.id));
    }
    Some(j)
}

/// Fills `{{name}}` placeholders from `vars`; an unknown one is left as written, a known one
/// without a value becomes empty.
pub fn fill(template: &str, vars: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None if PLACEHOLDERS.iter().any(|(p, _)| *p == name) => {}
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names a template uses.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_listed() {
        let mut vars = BTreeMap::new();
        vars.insert("client.name", "Ромашка".to_string());
        assert_eq!(fill("Call {{client.name}} about {{ deal.title }}", &vars), "Call Ромашка about ");
        assert_eq!(fill("{{nope}} {{client.name", &vars), "{{nope}} {{client.name");
        assert_eq!(placeholders("a {{client.name}} b {{ x.y }}"), ["client.name", "x.y"]);
    }

    #[test]
    fn next_birthday_wraps_the_year_and_keeps_29_february() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(next_birthday(d("1980-01-17"), d("2027-01-15")), Some(d("2027-01-17")));
        assert_eq!(next_birthday(d("1980-01-10"), d("2027-01-15")), Some(d("2028-01-10")));
        assert_eq!(next_birthday(d("1980-02-29"), d("2027-02-01")), Some(d("2027-02-28")));
        assert_eq!(next_birthday(d("1980-02-29"), d("2028-02-01")), Some(d("2028-02-29")));
    }
}
