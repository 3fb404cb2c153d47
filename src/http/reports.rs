//! Reports under `/api/v1/reports`: new conversations per day, agents, bots (definitions in
//! `docs/reports.md`). Every route takes the same query: `from` and `to` (local dates, both
//! included), `tz`, the filters `inbox_id`, `team_id`, `agent_id`, `channel_id`, and
//! `format=csv` for a CSV file instead of JSON. A caller sees only the inboxes they are a
//! member of (admins: all); the figures are computed by [`crate::reports`] from the events.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Authenticated;
use super::params::{filter_inbox, id_param, invalid_query};
use super::state::AppState;
use crate::chatflows::availability::Availability;
use crate::domain::{AccountId, ChatflowKind, InboxId};
use crate::reports::{
    self, AgentRow, BotRow, BotStepRow, DayCount, Filters, InboxHours, Period, Report,
};
use crate::store::{DynStore, ReportScope, StoreResult};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day of the range, `YYYY-MM-DD`, in `tz`. Required.
    #[param(value_type = String, format = Date)]
    from: Option<String>,
    /// Last day of the range (included), `YYYY-MM-DD`, in `tz`; at most 366 days after
    /// `from`. Required.
    #[param(value_type = String, format = Date)]
    to: Option<String>,
    /// IANA time zone the days are counted in (default `UTC`), e.g. `Europe/Paris`.
    tz: Option<String>,
    /// Only this inbox (you must be a member of it).
    #[param(value_type = Option<String>, format = Uuid)]
    inbox_id: Option<String>,
    /// Only conversations held by this team (docs/reports.md "Filters").
    #[param(value_type = Option<String>, format = Uuid)]
    team_id: Option<String>,
    /// Only this agent's row in the agents table.
    #[param(value_type = Option<String>, format = Uuid)]
    agent_id: Option<String>,
    /// Only conversations of this channel.
    #[param(value_type = Option<String>, format = Uuid)]
    channel_id: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// One report table, with the range it covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportTable<T> {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day (included), `YYYY-MM-DD`.
    pub to: String,
    /// The time zone the days are in.
    pub tz: String,
    pub rows: Vec<T>,
}

/// Every table of a report, with the range it covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct FullReport {
    pub from: String,
    pub to: String,
    pub tz: String,
    pub conversations_by_channel: Vec<DayCount>,
    pub conversations_by_inbox: Vec<DayCount>,
    pub conversations_by_team: Vec<DayCount>,
    pub agents: Vec<AgentRow>,
    pub bots: Vec<BotRow>,
    pub bot_steps: Vec<BotStepRow>,
}

/// The parsed request and the computed report.
struct Computed {
    period: Period,
    report: Report,
    csv: bool,
}

async fn run(state: &AppState, who: &Authenticated, q: ReportQuery) -> ApiResult<Computed> {
    let required = |field: &'static str, value: Option<String>| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::invalid_field(field, format!("{field} is required")))
    };
    let from = required("from", q.from)?;
    let to = required("to", q.to)?;
    let period = Period::parse(&from, &to, q.tz.as_deref())
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    let csv = match q.format.as_deref().map(str::trim) {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(invalid_query(
                "format",
                format!("'{other}' is not json or csv"),
            ));
        }
    };
    let filters = Filters {
        inbox: id_param("inbox_id", q.inbox_id.as_deref())?,
        team: id_param("team_id", q.team_id.as_deref())?,
        agent: id_param("agent_id", q.agent_id.as_deref())?,
        channel: id_param("channel_id", q.channel_id.as_deref())?,
    };
    filter_inbox(state, who, filters.inbox).await?;
    let inboxes = match filters.inbox {
        Some(inbox) => Some(vec![inbox]),
        None => who.visible_inboxes(state).await?,
    };
    let hours = inbox_hours(&state.store, who.account(), inboxes.as_deref()).await?;
    let facts = reports::rollup::read(
        &state.store,
        who.account(),
        ReportScope {
            from: period.start(),
            to: period.end(),
            inboxes,
        },
    )
    .await?;
    let report = reports::aggregate(&facts, &period, &filters, &hours);
    Ok(Computed {
        period,
        report,
        csv,
    })
}

/// Each inbox's office hours: those of its first enabled live-chat chatflow with hours
/// (channels oldest first, chatflows by priority), as docs/reports.md "Office hours" says.
async fn inbox_hours(
    store: &DynStore,
    account: AccountId,
    inboxes: Option<&[InboxId]>,
) -> StoreResult<InboxHours> {
    let mut hours: HashMap<InboxId, Availability> = HashMap::new();
    for channel in store.list_channels(account, None).await? {
        if hours.contains_key(&channel.inbox_id)
            || inboxes.is_some_and(|list| !list.contains(&channel.inbox_id))
        {
            continue;
        }
        for chatflow in store.list_chatflows(account, channel.id).await? {
            if !chatflow.enabled || chatflow.kind != ChatflowKind::LiveChat {
                continue;
            }
            if let Ok(a) = Availability::parse(&chatflow.availability)
                && a.hours.is_some()
            {
                hours.insert(channel.inbox_id, a);
                break;
            }
        }
    }
    Ok(hours)
}

fn table<T: Serialize>(
    c: Computed,
    name: &str,
    pick: impl FnOnce(Report) -> Vec<T>,
    to_csv: impl FnOnce(&[T]) -> String,
) -> HttpResponse {
    let period = c.period;
    let rows = pick(c.report);
    if c.csv {
        let filename = format!("{name}_{}_{}.csv", period.from, period.to);
        return HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ))
            .body(to_csv(&rows));
    }
    HttpResponse::Ok().json(ReportTable {
        from: period.from.to_string(),
        to: period.to.to_string(),
        tz: period.tz_name,
        rows,
    })
}

/// Every table at once, as JSON (for the inbox app's page).
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, body = FullReport),
    (status = 400, body = ErrorBody, description = "A filter is not an id, or `format` is not json"),
    (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "Filtered by an inbox you are not a member of"),
    (status = 404, body = ErrorBody, description = "Filtered by an unknown inbox"),
    (status = 422, body = ErrorBody, description = "`from`, `to` or `tz` is missing or unusable; `field` names it"),
))]
#[get("/reports")]
async fn full_report(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let c = run(&state, &who, query.into_inner()).await?;
    if c.csv {
        return Err(invalid_query(
            "format",
            "CSV is per table: use /reports/agents?format=csv and the like",
        ));
    }
    let (p, r) = (c.period, c.report);
    Ok(HttpResponse::Ok().json(FullReport {
        from: p.from.to_string(),
        to: p.to.to_string(),
        tz: p.tz_name,
        conversations_by_channel: r.conversations_by_channel,
        conversations_by_inbox: r.conversations_by_inbox,
        conversations_by_team: r.conversations_by_team,
        agents: r.agents,
        bots: r.bots,
        bot_steps: r.bot_steps,
    }))
}

/// New conversations per local day and channel.
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, body = ReportTable<DayCount>, description = "JSON, or CSV with `format=csv`"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`from`, `to` or `tz` is missing or unusable"),
))]
#[get("/reports/conversations/by-channel")]
async fn conversations_by_channel(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let c = run(&state, &who, query.into_inner()).await?;
    Ok(table(
        c,
        "conversations_by_channel",
        |r| r.conversations_by_channel,
        |rows| reports::csv::day_counts(rows, "channel_id"),
    ))
}

/// New conversations per local day and inbox.
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, body = ReportTable<DayCount>, description = "JSON, or CSV with `format=csv`"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`from`, `to` or `tz` is missing or unusable"),
))]
#[get("/reports/conversations/by-inbox")]
async fn conversations_by_inbox(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let c = run(&state, &who, query.into_inner()).await?;
    Ok(table(
        c,
        "conversations_by_inbox",
        |r| r.conversations_by_inbox,
        |rows| reports::csv::day_counts(rows, "inbox_id"),
    ))
}

/// New conversations per local day and team (the first team each was assigned to).
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, body = ReportTable<DayCount>, description = "JSON, or CSV with `format=csv`"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`from`, `to` or `tz` is missing or unusable"),
))]
#[get("/reports/conversations/by-team")]
async fn conversations_by_team(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let c = run(&state, &who, query.into_inner()).await?;
    Ok(table(
        c,
        "conversations_by_team",
        |r| r.conversations_by_team,
        |rows| reports::csv::day_counts(rows, "team_id"),
    ))
}

/// Per agent: conversations replied to, replies sent, first response time and time to close
/// (median and p90, wall clock and office hours).
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, body = ReportTable<AgentRow>, description = "JSON, or CSV with `format=csv`"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`from`, `to` or `tz` is missing or unusable"),
))]
#[get("/reports/agents")]
async fn agents(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let c = run(&state, &who, query.into_inner()).await?;
    Ok(table(c, "agents", |r| r.agents, reports::csv::agents))
}

/// Per bot chatflow: runs started in the range and how they ended.
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, body = ReportTable<BotRow>, description = "JSON, or CSV with `format=csv`"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`from`, `to` or `tz` is missing or unusable"),
))]
#[get("/reports/bots")]
async fn bots(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let c = run(&state, &who, query.into_inner()).await?;
    Ok(table(c, "bots", |r| r.bots, reports::csv::bots))
}

/// Per bot chatflow and step: runs that entered, completed, were handed off at or dropped off
/// at the step.
#[utoipa::path(tag = "reports", params(ReportQuery), responses(
    (status = 200, body = ReportTable<BotStepRow>, description = "JSON, or CSV with `format=csv`"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`from`, `to` or `tz` is missing or unusable"),
))]
#[get("/reports/bots/steps")]
async fn bot_steps(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let c = run(&state, &who, query.into_inner()).await?;
    Ok(table(
        c,
        "bot_steps",
        |r| r.bot_steps,
        reports::csv::bot_steps,
    ))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(full_report)
        .service(conversations_by_channel)
        .service(conversations_by_inbox)
        .service(conversations_by_team)
        .service(agents)
        .service(bots)
        .service(bot_steps);
}
