//! Read-model queries. Every function takes what the caller may see as arguments (the
//! routes decide who sees what), so no query can leak rows on its own.

use chrono::{DateTime, NaiveDate, Utc};

use crate::calendar::WorkingDays;
use ehelpdesk_shared::category;
use ehelpdesk_shared::complaint::Status;
use ehelpdesk_shared::notification::{Channel, DeliveryState};
use ehelpdesk_shared::visibility::{Relation, mask_ic_number};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use utoipa::ToSchema;
use uuid::Uuid;

/// The columns every list shows. Ages are counted in Rust against the calendar in memory
/// (`Aging`): three calendar joins per row cost the planner and executor more than the rows.
const LIST_COLUMNS: &str = "c.complaint_id, c.number, c.title, c.category, c.complainant_id, c.complainant_ic, \
    c.complainant_name, c.ptj, c.status, c.pic_id, c.pic_name, c.logged_at, c.closed_at, c.last_activity_at";

/// What list rows are aged against: today (Malaysian date) and the working-day calendar.
#[derive(Clone, Copy)]
pub struct Aging<'a> {
    pub today: NaiveDate,
    pub calendar: &'a WorkingDays,
}

impl Aging<'_> {
    /// (calendar days, working days) since `logged_at`, and working days to `closed_at`.
    fn of(&self, logged_at: DateTime<Utc>, closed_at: Option<DateTime<Utc>>) -> (i32, i32, Option<i32>) {
        let logged_on = malaysian_date(logged_at);
        let calendar_days = i32::try_from((self.today - logged_on).num_days()).unwrap_or(i32::MAX);
        let working_days = self.calendar.between(logged_on, self.today);
        let solved = closed_at.map(|c| self.calendar.between(logged_on, malaysian_date(c)));
        (calendar_days, working_days, solved)
    }
}

fn malaysia() -> chrono::FixedOffset {
    // Malaysia has kept UTC+8 since 1982, so a fixed offset is its time zone.
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("utc"))
}

pub fn malaysian_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&malaysia()).date_naive()
}

/// The wall-clock time in Malaysia.
pub fn malaysian_time(at: DateTime<Utc>) -> chrono::NaiveTime {
    at.with_timezone(&malaysia()).time()
}

/// Today in Malaysia: aging counts in the state's days, not UTC's.
pub fn today_in_malaysia() -> NaiveDate {
    malaysian_date(Utc::now())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplainantSummary {
    pub id: String,
    /// Masked in lists (`******-**-5678`).
    pub ic_number: String,
    pub name: String,
    pub ptj: String,
}

/// One row of an inbox, triage queue or search.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintRow {
    pub complaint_id: Uuid,
    pub number: String,
    pub title: String,
    pub category: String,
    pub category_name_ms: String,
    pub complainant: ComplainantSummary,
    pub status: Status,
    pub status_label_ms: &'static str,
    pub status_label_en: &'static str,
    pub pic_id: Option<String>,
    pub pic_name: Option<String>,
    pub logged_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub age_calendar_days: i32,
    pub age_working_days: i32,
    /// "Selesai dalam masa: N hari" (working days), for closed complaints.
    pub solved_within_working_days: Option<i32>,
}

pub fn parse_status(raw: &str) -> Option<Status> {
    Status::ALL.into_iter().find(|s| s.as_str() == raw)
}

impl ComplaintRow {
    /// The row as `relation` may see it: a complainant is not told of a referral.
    pub fn as_seen_by(mut self, relation: Relation) -> Self {
        let status = relation.shown_status(self.status);
        self.status = status;
        self.status_label_ms = status.label_ms();
        self.status_label_en = status.label_en();
        self
    }
}

impl TimelineEntry {
    /// The step as `relation` may see it (see [`ComplaintRow::as_seen_by`]).
    pub fn as_seen_by(mut self, relation: Relation) -> Self {
        if let Some(status) = parse_status(&self.status) {
            let shown = relation.shown_status(status);
            self.status = shown.as_str().to_owned();
            self.status_label_ms = shown.label_ms();
        }
        self
    }
}

fn complaint_row(row: &PgRow, aging: Aging<'_>) -> ComplaintRow {
    let status = parse_status(row.get::<&str, _>("status")).unwrap_or(Status::New);
    let category: String = row.get("category");
    let logged_at: DateTime<Utc> = row.get("logged_at");
    let closed_at: Option<DateTime<Utc>> = row.get("closed_at");
    let (age_calendar_days, age_working_days, solved_within_working_days) = aging.of(logged_at, closed_at);
    ComplaintRow {
        complaint_id: row.get("complaint_id"),
        number: row.get("number"),
        title: row.get("title"),
        category_name_ms: category::find(&category).map(|c| c.name_ms.clone()).unwrap_or_default(),
        category,
        complainant: ComplainantSummary {
            id: row.get("complainant_id"),
            ic_number: mask_ic_number(row.get("complainant_ic")),
            name: row.get("complainant_name"),
            ptj: row.get("ptj"),
        },
        status_label_ms: status.label_ms(),
        status_label_en: status.label_en(),
        status,
        pic_id: row.get("pic_id"),
        pic_name: row.get("pic_name"),
        logged_at,
        last_activity_at: row.get("last_activity_at"),
        closed_at,
        age_calendar_days,
        age_working_days,
        solved_within_working_days,
    }
}

/// A PIC's open complaints, oldest first, and the badge count.
pub async fn inbox_for_pic(
    pool: &PgPool,
    pic_id: &str,
    aging: Aging<'_>,
    limit: i64,
) -> Result<(i64, Vec<ComplaintRow>), sqlx::Error> {
    let badge = badge_for_pic(pool, pic_id).await?;
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM complaints c \
         WHERE c.pic_id = $1 AND c.status <> 'closed' ORDER BY c.logged_at, c.complaint_id LIMIT $2"
    );
    let rows = sqlx::query(AssertSqlSafe(sql)).bind(pic_id).bind(limit).fetch_all(pool).await?;
    Ok((badge, rows.iter().map(|r| complaint_row(r, aging)).collect()))
}

pub async fn badge_for_pic(pool: &PgPool, pic_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "open!" FROM complaints WHERE pic_id = $1 AND status <> 'closed'"#,
        pic_id,
    )
    .fetch_one(pool)
    .await
}

/// A member of staff who may be handed complaints, with how many they hold open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Assignee {
    pub staff_id: String,
    pub name: String,
    pub ptj: String,
    /// The categories they cover.
    pub categories: Vec<String>,
    /// Whether they cover the category asked about (always true when none was).
    pub covers_category: bool,
    /// Open complaints assigned (or, for an implementor, referred) to them now.
    pub open_complaints: i64,
}

/// The active staff holding `role` (`pic` or `implementor`), those covering `category` first,
/// then the least loaded.
pub async fn assignees(pool: &PgPool, role: &str, category: Option<&str>) -> Result<Vec<Assignee>, sqlx::Error> {
    sqlx::query_as!(
        Assignee,
        r#"SELECT s.staff_id, s.name, s.ptj, s.categories,
             ($2::text IS NULL OR $2 = ANY(s.categories)) AS "covers_category!",
             (SELECT count(*) FROM complaints c WHERE c.status <> 'closed'
                AND CASE WHEN $1 = 'implementor' THEN c.implementor_id ELSE c.pic_id END = s.staff_id)
               AS "open_complaints!"
           FROM staff s WHERE s.active AND $1 = ANY(s.roles)
           ORDER BY 5 DESC, 6, s.name, s.staff_id"#,
        role,
        category,
    )
    .fetch_all(pool)
    .await
}

/// New complaints nobody has been assigned yet, oldest first.
pub async fn triage_queue(pool: &PgPool, aging: Aging<'_>, limit: i64) -> Result<Vec<ComplaintRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM complaints c \
         WHERE c.status = 'new' ORDER BY c.logged_at, c.complaint_id LIMIT $1"
    );
    let rows = sqlx::query(AssertSqlSafe(sql)).bind(limit).fetch_all(pool).await?;
    Ok(rows.iter().map(|r| complaint_row(r, aging)).collect())
}

/// Search filters. `*_scope` fields are set by the route from the caller's role.
#[derive(Debug, Default, Clone)]
pub struct Search {
    /// Any of these statuses; None for any status at all.
    pub statuses: Option<Vec<Status>>,
    pub category: Option<String>,
    pub ptj: Option<String>,
    pub pic_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub text: Option<String>,
    pub complainant_scope: Option<String>,
    pub pic_scope: Option<String>,
    pub implementor_scope: Option<String>,
    /// Keyset: rows strictly after this (logged_at, id) in newest-first order.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

pub async fn search(pool: &PgPool, s: &Search, aging: Aging<'_>) -> Result<Vec<ComplaintRow>, sqlx::Error> {
    // Every filter is a bound parameter that is NULL when unused.
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM complaints c WHERE \
           ($1::text[] IS NULL OR c.status = ANY($1)) AND ($2::text IS NULL OR c.category = $2) \
           AND ($3::text IS NULL OR c.ptj = $3) AND ($4::text IS NULL OR c.pic_id = $4) \
           AND ($5::timestamptz IS NULL OR c.logged_at >= $5) AND ($6::timestamptz IS NULL OR c.logged_at < $6) \
           AND ($7::text IS NULL OR c.search @@ plainto_tsquery('simple', $7)) \
           AND ($8::text IS NULL OR c.complainant_id = $8) AND ($9::text IS NULL OR c.pic_id = $9) \
           AND ($10::text IS NULL OR c.implementor_id = $10) \
           AND ($11::timestamptz IS NULL OR (c.logged_at, c.complaint_id) < ($11, $12)) \
         ORDER BY c.logged_at DESC, c.complaint_id DESC LIMIT $13"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(s.statuses.as_ref().map(|all| all.iter().map(|st| st.as_str()).collect::<Vec<_>>()))
        .bind(&s.category)
        .bind(&s.ptj)
        .bind(&s.pic_id)
        .bind(s.from)
        .bind(s.to)
        .bind(&s.text)
        .bind(&s.complainant_scope)
        .bind(&s.pic_scope)
        .bind(&s.implementor_scope)
        .bind(s.after.map(|a| a.0))
        .bind(s.after.map(|a| a.1).unwrap_or_default())
        .bind(s.limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(|r| complaint_row(r, aging)).collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub sequence: i64,
    pub occurred_at: DateTime<Utc>,
    pub event_type: String,
    pub actor_id: String,
    pub actor_role: String,
    pub actor_name: String,
    pub status: String,
    pub status_label_ms: &'static str,
    pub message: Option<String>,
    pub details: serde_json::Value,
    pub visibility: String,
}

/// A complaint's row and state as stored, or None.
pub struct StoredComplaint {
    pub row: ComplaintRow,
    pub state: serde_json::Value,
    pub implementor_id: Option<String>,
    pub last_sequence: i64,
}

pub async fn complaint(pool: &PgPool, id: Uuid, aging: Aging<'_>) -> Result<Option<StoredComplaint>, sqlx::Error> {
    let sql = format!(
        "SELECT {LIST_COLUMNS}, c.state, c.implementor_id, c.last_sequence FROM complaints c \
         WHERE c.complaint_id = $1"
    );
    let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
    Ok(row.map(|r| StoredComplaint {
        row: complaint_row(&r, aging),
        state: r.get("state"),
        implementor_id: r.get("implementor_id"),
        last_sequence: r.get("last_sequence"),
    }))
}

pub async fn timeline(pool: &PgPool, id: Uuid, include_internal: bool) -> Result<Vec<TimelineEntry>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT sequence, occurred_at, event_type, actor_id, actor_role, actor_name, status, message, details, \
           visibility FROM timeline WHERE complaint_id = $1 AND ($2 OR visibility = 'public') ORDER BY sequence",
        id,
        include_internal,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut details = r.details;
            if !include_internal && let Some(map) = details.as_object_mut() {
                // The admin's note to the PIC travels with the assignment; it is staff-only.
                map.remove("note");
            }
            TimelineEntry {
                sequence: r.sequence,
                occurred_at: r.occurred_at,
                event_type: r.event_type,
                actor_id: r.actor_id,
                actor_role: r.actor_role,
                actor_name: r.actor_name,
                status_label_ms: parse_status(&r.status).map_or("", |s| s.label_ms()),
                status: r.status,
                message: r.message,
                details,
                visibility: r.visibility,
            }
        })
        .collect())
}

/// What a report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Pic,
    Category,
    Ptj,
}

impl GroupBy {
    /// The `dimension` of the report totals (migrations/0003_report_totals.sql).
    fn dimension(self) -> &'static str {
        match self {
            GroupBy::Pic => "pic",
            GroupBy::Category => "category",
            GroupBy::Ptj => "ptj",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgingRow {
    /// PIC id, category code or PTJ; null for complaints nobody holds yet.
    pub key: Option<String>,
    pub days_0_3: i64,
    pub days_4_7: i64,
    pub days_8_14: i64,
    pub days_15_30: i64,
    pub days_over_30: i64,
    pub open: i64,
}

/// Open complaints by age in working days, in the buckets of the treasury's reports. Reads
/// the running totals per logging day, aged against the calendar now.
pub async fn aging_report(
    db: impl sqlx::PgExecutor<'_>,
    by: GroupBy,
    today: NaiveDate,
) -> Result<Vec<AgingRow>, sqlx::Error> {
    // `!` marks columns PostgreSQL cannot prove non-null (aggregates, casts) but are.
    sqlx::query_as!(
        AgingRow,
        r#"SELECT NULLIF(key, '') AS key,
           COALESCE(sum(open) FILTER (WHERE age <= 3), 0)::bigint AS "days_0_3!",
           COALESCE(sum(open) FILTER (WHERE age BETWEEN 4 AND 7), 0)::bigint AS "days_4_7!",
           COALESCE(sum(open) FILTER (WHERE age BETWEEN 8 AND 14), 0)::bigint AS "days_8_14!",
           COALESCE(sum(open) FILTER (WHERE age BETWEEN 15 AND 30), 0)::bigint AS "days_15_30!",
           COALESCE(sum(open) FILTER (WHERE age > 30), 0)::bigint AS "days_over_30!", sum(open)::bigint AS "open!" FROM (
           SELECT o.key, o.open, COALESCE(ct.working_index - cl.working_index, 0) AS age FROM open_by_day o
           LEFT JOIN calendar cl ON cl.day = o.logged_on LEFT JOIN calendar ct ON ct.day = $2::date
           WHERE o.dimension = $1 AND o.open <> 0) aged
         GROUP BY key HAVING sum(open) > 0 ORDER BY NULLIF(key, '') NULLS FIRST"#,
        by.dimension(),
        today,
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResolutionRow {
    pub key: Option<String>,
    pub closed: i64,
    pub median_working_days: f64,
    pub p90_working_days: f64,
    /// Share (0-1) closed within the target number of working days.
    pub within_target: f64,
    pub target_working_days: i32,
}

/// Closed complaints by working days to close: counts, median, 90th percentile and share
/// within target, from the running histogram of working days per key.
pub async fn resolution_report(
    db: impl sqlx::PgExecutor<'_>,
    by: GroupBy,
    target: i32,
) -> Result<Vec<ResolutionRow>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT NULLIF(key, '') AS key, working_days, closed FROM closed_by_working_days \
         WHERE dimension = $1 AND closed > 0 ORDER BY NULLIF(key, '') NULLS FIRST, working_days",
        by.dimension(),
    )
    .fetch_all(db)
    .await?;
    let mut report: Vec<ResolutionRow> = vec![];
    let mut histogram: Vec<(i32, i64)> = vec![];
    let mut key: Option<Option<String>> = None;
    let mut finish = |key: Option<String>, histogram: &mut Vec<(i32, i64)>| {
        report.push(resolution_row(key, histogram, target));
        histogram.clear();
    };
    for row in rows {
        if key.as_ref().is_some_and(|k| *k != row.key) {
            finish(key.take().flatten(), &mut histogram);
        }
        key = Some(row.key);
        histogram.push((row.working_days, row.closed));
    }
    if let Some(k) = key {
        finish(k, &mut histogram);
    }
    Ok(report)
}

/// One key's row from its histogram of (working days, complaints), sorted by days.
fn resolution_row(key: Option<String>, histogram: &[(i32, i64)], target: i32) -> ResolutionRow {
    let closed: i64 = histogram.iter().map(|(_, n)| n).sum();
    let within: i64 = histogram.iter().filter(|(days, _)| *days <= target).map(|(_, n)| n).sum();
    ResolutionRow {
        key,
        closed,
        median_working_days: percentile_cont(histogram, 0.5),
        p90_working_days: percentile_cont(histogram, 0.9),
        within_target: if closed == 0 { 0.0 } else { within as f64 / closed as f64 },
        target_working_days: target,
    }
}

/// PostgreSQL's `percentile_cont(q)` of the values a sorted histogram stands for: the value
/// at rank q·(n-1), interpolated between its neighbours.
pub fn percentile_cont(histogram: &[(i32, i64)], q: f64) -> f64 {
    let n: i64 = histogram.iter().map(|(_, c)| c).sum();
    if n == 0 {
        return 0.0;
    }
    let at = |rank: i64| -> f64 {
        let mut seen = 0;
        for (value, count) in histogram {
            seen += count;
            if rank < seen {
                return f64::from(*value);
            }
        }
        histogram.last().map_or(0.0, |(v, _)| f64::from(*v))
    };
    let position = q * (n - 1) as f64;
    let (lo, hi) = (position.floor(), position.ceil());
    let below = at(lo as i64);
    below + (position - lo) * (at(hi as i64) - below)
}

/// One notification in the outbox: what was sent to whom, and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxRow {
    pub id: Uuid,
    pub sequence: i64,
    pub complaint_id: Uuid,
    /// `ADU-2026-000123`; empty on rows written before it was recorded.
    pub complaint_number: String,
    pub event_type: String,
    /// The WhatsApp template it goes out as (`notice` on rows written before templates).
    pub template: String,
    pub recipient_id: String,
    pub recipient_role: String,
    pub channel: Channel,
    /// The e-mail address or the phone number (E.164) it was sent to.
    pub address: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// When the relay published it to the notifier; null while it waits.
    pub published_at: Option<DateTime<Utc>>,
    /// What the notifier last reported: `queued` until its first receipt.
    pub delivery_state: DeliveryState,
    /// Attempts in the current retry cycle.
    pub attempts: i32,
    /// 0, or n after an admin's n-th retry of a dead letter.
    pub retry_cycle: i32,
    /// Why the last attempt failed, as the notifier put it.
    pub delivery_reason: Option<String>,
    /// The mail server's queue id or WhatsApp's message id, once sent.
    pub provider_message_id: Option<String>,
    /// When it was sent (while its state is `sent`).
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the notifier reported the state shown.
    pub receipt_at: Option<DateTime<Utc>>,
}

/// An outbox row as stored, before its states are read.
struct OutboxRecord {
    id: Uuid,
    sequence: i64,
    complaint_id: Uuid,
    complaint_number: String,
    event_type: String,
    template: String,
    recipient_id: String,
    recipient_role: String,
    channel: String,
    address: String,
    subject: String,
    body: String,
    created_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    delivery_state: String,
    attempts: i32,
    retry_cycle: i32,
    delivery_reason: Option<String>,
    provider_message_id: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    receipt_at: Option<DateTime<Utc>>,
}

/// A column the table's CHECK constraint keeps to known values, read back as its type.
fn checked<T: std::str::FromStr>(column: &str, value: &str) -> Result<T, sqlx::Error> {
    value.parse().map_err(|_| sqlx::Error::Decode(format!("notification_outbox.{column}: `{value}`").into()))
}

impl TryFrom<OutboxRecord> for OutboxRow {
    type Error = sqlx::Error;

    fn try_from(r: OutboxRecord) -> Result<Self, sqlx::Error> {
        Ok(OutboxRow {
            channel: checked("channel", &r.channel)?,
            delivery_state: checked("delivery_state", &r.delivery_state)?,
            id: r.id,
            sequence: r.sequence,
            complaint_id: r.complaint_id,
            complaint_number: r.complaint_number,
            event_type: r.event_type,
            template: r.template,
            recipient_id: r.recipient_id,
            recipient_role: r.recipient_role,
            address: r.address,
            subject: r.subject,
            body: r.body,
            created_at: r.created_at,
            published_at: r.published_at,
            attempts: r.attempts,
            retry_cycle: r.retry_cycle,
            delivery_reason: r.delivery_reason,
            provider_message_id: r.provider_message_id,
            delivered_at: r.delivered_at,
            receipt_at: r.receipt_at,
        })
    }
}

/// What `GET /v1/outbox` filters on.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxFilter {
    /// Only rows the relay has not published yet.
    pub unpublished: bool,
    pub state: Option<DeliveryState>,
}

/// The outbox newest first. A state filter reads `notification_outbox_state` in its order;
/// a statement of its own, since `$1 IS NULL OR delivery_state = $1` would keep a generic
/// plan from using the index.
pub async fn outbox(pool: &PgPool, filter: OutboxFilter, limit: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let records = match filter.state {
        None => {
            sqlx::query_as!(
                OutboxRecord,
                "SELECT id, sequence, complaint_id, complaint_number, event_type, template, recipient_id, \
                   recipient_role, channel, address, subject, body, created_at, published_at, delivery_state, \
                   attempts, retry_cycle, delivery_reason, provider_message_id, delivered_at, receipt_at \
                 FROM notification_outbox WHERE (NOT $1 OR published_at IS NULL) \
                 ORDER BY sequence DESC, id LIMIT $2",
                filter.unpublished,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        Some(state) => {
            sqlx::query_as!(
                OutboxRecord,
                "SELECT id, sequence, complaint_id, complaint_number, event_type, template, recipient_id, \
                   recipient_role, channel, address, subject, body, created_at, published_at, delivery_state, \
                   attempts, retry_cycle, delivery_reason, provider_message_id, delivered_at, receipt_at \
                 FROM notification_outbox WHERE delivery_state = $1 AND (NOT $2 OR published_at IS NULL) \
                 ORDER BY sequence DESC, id LIMIT $3",
                state.as_str(),
                filter.unpublished,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
    };
    records.into_iter().map(OutboxRow::try_from).collect()
}

/// Who was told of a complaint, how and when (`GET /v1/complaints/{id}/notifications`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintNotification {
    /// The notification's id (the outbox row's).
    pub id: Uuid,
    /// Stream sequence of the event that sent it.
    pub sequence: i64,
    pub event_type: String,
    pub recipient_id: String,
    /// complainant, pic or implementor.
    pub recipient_role: String,
    pub channel: Channel,
    /// The e-mail address or phone number it went to.
    pub address: String,
    pub subject: String,
    pub delivery_state: DeliveryState,
    pub attempts: i32,
    pub retry_cycle: i32,
    pub delivery_reason: Option<String>,
    /// When it was sent (while its state is `sent`).
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A complaint's notifications in the order its events sent them.
pub async fn complaint_notifications(pool: &PgPool, id: Uuid) -> Result<Vec<ComplaintNotification>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, sequence, event_type, recipient_id, recipient_role, channel, address, subject, delivery_state, \
           attempts, retry_cycle, delivery_reason, delivered_at, created_at \
         FROM notification_outbox WHERE complaint_id = $1 ORDER BY sequence, id",
        id,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ComplaintNotification {
                channel: checked("channel", &r.channel)?,
                delivery_state: checked("delivery_state", &r.delivery_state)?,
                id: r.id,
                sequence: r.sequence,
                event_type: r.event_type,
                recipient_id: r.recipient_id,
                recipient_role: r.recipient_role,
                address: r.address,
                subject: r.subject,
                attempts: r.attempts,
                retry_cycle: r.retry_cycle,
                delivery_reason: r.delivery_reason,
                delivered_at: r.delivered_at,
                created_at: r.created_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, on the values themselves.
    fn naive_percentile_cont(values: &[i32], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort();
        let position = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
        f64::from(sorted[lo]) + (position - lo as f64) * f64::from(sorted[hi] - sorted[lo])
    }

    fn histogram_of(values: &[i32]) -> Vec<(i32, i64)> {
        let mut counts = std::collections::BTreeMap::new();
        for v in values {
            *counts.entry(*v).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }

    #[test]
    fn rows_age_in_malaysian_days_and_kelantan_working_days() {
        use crate::calendar::{WorkingDays, WorkingWeek};
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let calendar = WorkingDays::new(d("2026-01-01"), d("2026-12-31"), &WorkingWeek::kelantan(), &[]);
        let aging = Aging { today: d("2026-11-26"), calendar: &calendar };
        // 17:00 UTC on Wednesday is 01:00 on Thursday the 19th in Malaysia; closed on Sunday.
        let (calendar_days, working_days, solved) =
            aging.of(at("2026-11-18T17:00:00Z"), Some(at("2026-11-22T01:00:00Z")));
        assert_eq!((calendar_days, working_days, solved), (7, 5, Some(1)));
        assert_eq!(aging.of(at("2026-11-26T03:00:00Z"), None), (0, 0, None));
    }

    #[test]
    fn percentiles_of_a_small_histogram() {
        // 1, 2, 2, 10: median halfway between 2 and 2, p90 at rank 2.7 between 2 and 10.
        let h = [(1, 1), (2, 2), (10, 1)];
        assert_eq!(percentile_cont(&h, 0.5), 2.0);
        assert!((percentile_cont(&h, 0.9) - 7.6).abs() < 1e-9);
        assert_eq!(percentile_cont(&[], 0.5), 0.0);
        assert_eq!(percentile_cont(&[(4, 3)], 0.9), 4.0);
    }

    #[test]
    fn a_resolution_row_counts_within_target() {
        let row = resolution_row(Some("pic-a".into()), &[(0, 2), (3, 1), (5, 1)], 3);
        assert_eq!(row.closed, 4);
        assert_eq!(row.within_target, 0.75);
        assert_eq!(row.median_working_days, 1.5);
    }

    proptest! {
        #[test]
        fn histogram_percentiles_equal_the_definition(
            values in proptest::collection::vec(0i32..60, 1..200),
            q in 0.0f64..=1.0,
        ) {
            let expected = naive_percentile_cont(&values, q);
            let got = percentile_cont(&histogram_of(&values), q);
            prop_assert!((expected - got).abs() < 1e-9, "{expected} != {got}");
        }
    }
}
