//! The daily digest: every working day (the state's week and holidays, as aging counts them)
//! at `DIGEST_AT` Malaysian time, each PIC with open complaints gets one e-mail listing them,
//! oldest first, with their aging. The guide expects PICs to check every day; this is the
//! nudge. Digests are outbox rows like any notification, with ids derived from (day, PIC), so
//! every instance may run the schedule and a day's digest is written once. A PIC who turned
//! e-mail off gets none: the digest is a reminder, not an assignment.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use ehelpdesk_shared::complaint::Status;
use ehelpdesk_shared::notification::{Channel, Template};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::calendar::WorkingDays;
use crate::queries::{malaysian_date, malaysian_time};

const DIGEST_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_83a0_4b7e_4f21_9c6d_2e8a_1f3b_7c90);

/// The event type digest rows carry (they belong to no event).
pub const EVENT_TYPE: &str = "DailyDigest";

/// The Malaysian day whose digest is due at `now`: a working day, from `at` on. A service
/// that was down at 08:00 sends that day's digest when it comes back, never the day before's.
pub fn due(now: DateTime<Utc>, calendar: &WorkingDays, at: NaiveTime) -> Option<NaiveDate> {
    let day = malaysian_date(now);
    let working = day.pred_opt().is_some_and(|before| calendar.between(before, day) == 1);
    (working && malaysian_time(now) >= at).then_some(day)
}

/// One open complaint as the digest lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenComplaint {
    pub number: String,
    pub title: String,
    pub status: Status,
    pub age_working_days: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    pub id: Uuid,
    pub pic_id: String,
    pub email: String,
    pub subject: String,
    pub body: String,
    pub params: Vec<String>,
}

/// The digest of `day` for one PIC (pure): Malay first, English beside, oldest first.
pub fn compose(day: NaiveDate, pic_id: &str, email: &str, complaints: &[OpenComplaint]) -> Digest {
    let mut oldest_first = complaints.to_vec();
    oldest_first.sort_by(|a, b| b.age_working_days.cmp(&a.age_working_days).then(a.number.cmp(&b.number)));
    let n = oldest_first.len();
    let date = day.format("%d/%m/%Y").to_string();
    let lines: String = oldest_first
        .iter()
        .map(|c| {
            format!(
                "- {} \"{}\": {} / {}, {} hari bekerja / working days\n",
                c.number,
                c.title,
                c.status.label_ms(),
                c.status.label_en(),
                c.age_working_days
            )
        })
        .collect();
    Digest {
        id: Uuid::new_v5(&DIGEST_NAMESPACE, format!("{day}:{pic_id}").as_bytes()),
        pic_id: pic_id.to_owned(),
        email: email.to_owned(),
        subject: format!("Ringkasan harian {date}: {n} aduan terbuka / Daily summary: {n} open complaints"),
        body: format!(
            "Aduan terbuka dalam Inbox Helpdesk anda pada {date}, yang paling lama dahulu:\n\
             Open complaints in your helpdesk inbox on {date}, oldest first:\n\n{lines}"
        ),
        params: vec![date, n.to_string()],
    }
}

/// Writes the digests due at `now` that are not written yet; returns how many it wrote.
pub async fn write_due(
    pool: &PgPool,
    calendar: &WorkingDays,
    now: DateTime<Utc>,
    at: NaiveTime,
) -> Result<u64, sqlx::Error> {
    let Some(day) = due(now, calendar, at) else { return Ok(0) };
    let rows = sqlx::query!(
        r#"SELECT c.number, c.title, c.status, c.logged_at, c.pic_id AS "pic_id!", s.email
           FROM complaints c JOIN staff s ON s.staff_id = c.pic_id
           WHERE c.status <> 'closed' AND s.active AND s.email <> '' AND s.notify_email
           ORDER BY c.pic_id, c.logged_at"#
    )
    .fetch_all(pool)
    .await?;
    let mut by_pic: Vec<(String, String, Vec<OpenComplaint>)> = vec![];
    for row in rows {
        let complaint = OpenComplaint {
            number: row.number,
            title: row.title,
            status: crate::queries::parse_status(&row.status).unwrap_or(Status::Assigned),
            age_working_days: calendar.between(malaysian_date(row.logged_at), day).max(0),
        };
        match by_pic.last_mut() {
            Some((pic, _, list)) if *pic == row.pic_id => list.push(complaint),
            _ => by_pic.push((row.pic_id, row.email, vec![complaint])),
        }
    }
    let digests: Vec<Digest> = by_pic.iter().map(|(pic, email, list)| compose(day, pic, email, list)).collect();
    insert(pool, &digests, now).await
}

async fn insert(pool: &PgPool, digests: &[Digest], now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let column = |f: fn(&Digest) -> String| digests.iter().map(f).collect::<Vec<_>>();
    let params: Vec<serde_json::Value> = digests.iter().map(|d| serde_json::json!(d.params)).collect();
    // Ordered with the events the checkpoint has reached, so the relay takes it in turn.
    let inserted = sqlx::query!(
        "INSERT INTO notification_outbox (id, sequence, complaint_id, event_type, recipient_id, recipient_role, \
           channel, address, subject, body, created_at, complaint_number, template, params) \
         SELECT u.id, (SELECT last_sequence FROM projection_checkpoint), $2, $3, u.recipient_id, 'pic', $4, u.address, \
           u.subject, u.body, $5, '', $6, ARRAY(SELECT jsonb_array_elements_text(u.params)) \
         FROM UNNEST($1::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[]) \
           AS u (id, recipient_id, address, subject, body, params) \
         ON CONFLICT (id) DO NOTHING",
        &digests.iter().map(|d| d.id).collect::<Vec<_>>(),
        Uuid::nil(),
        EVENT_TYPE,
        Channel::Email.as_str(),
        now,
        Template::RingkasanHarian.name(),
        &column(|d| d.pic_id.clone()),
        &column(|d| d.email.clone()),
        &column(|d| d.subject.clone()),
        &column(|d| d.body.clone()),
        &params,
    )
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected())
}

/// Looks every 30 s whether a digest is due, and writes it.
pub async fn run(
    pool: PgPool,
    calendar: Arc<WorkingDays>,
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    at: NaiveTime,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match write_due(&pool, &calendar, clock(), at).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(digests = n, "daily digests written"),
            Err(e) => tracing::warn!(error = %e, "daily digests not written; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::calendar::{Holiday, WorkingWeek};

    use super::*;

    fn kelantan() -> WorkingDays {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let holiday = Holiday { date: d("2026-12-10"), name: "Cuti contoh".into() };
        WorkingDays::new(d("2026-01-01"), d("2027-12-31"), &WorkingWeek::kelantan(), &[holiday])
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const EIGHT: NaiveTime = NaiveTime::from_hms_opt(8, 0, 0).unwrap();

    #[test]
    fn a_digest_is_due_from_eight_on_a_kelantan_working_day() {
        let calendar = kelantan();
        // Thursday 3 December 2026: 07:59 and 08:00 in Kota Bharu (UTC+8).
        assert_eq!(due(at("2026-12-02T23:59:00Z"), &calendar, EIGHT), None);
        assert_eq!(due(at("2026-12-03T00:00:00Z"), &calendar, EIGHT), Some("2026-12-03".parse().unwrap()));
        assert_eq!(due(at("2026-12-03T09:00:00Z"), &calendar, EIGHT), Some("2026-12-03".parse().unwrap()));
        // Friday and Saturday are Kelantan's weekend; Sunday works.
        assert_eq!(due(at("2026-12-04T01:00:00Z"), &calendar, EIGHT), None);
        assert_eq!(due(at("2026-12-05T01:00:00Z"), &calendar, EIGHT), None);
        assert_eq!(due(at("2026-12-06T01:00:00Z"), &calendar, EIGHT), Some("2026-12-06".parse().unwrap()));
        // A public holiday (Thursday 10 December in this calendar).
        assert_eq!(due(at("2026-12-10T01:00:00Z"), &calendar, EIGHT), None);
    }

    #[test]
    fn a_digest_lists_the_oldest_first_in_malay_and_english() {
        let c = |number: &str, age| OpenComplaint {
            number: number.into(),
            title: "Slip gaji tiada".into(),
            status: Status::InProgress,
            age_working_days: age,
        };
        let digest = compose(
            "2026-12-06".parse().unwrap(),
            "pic-aminah",
            "aminah@example.gov.my",
            &[c("ADU-2026-000009", 1), c("ADU-2026-000002", 7)],
        );
        assert_eq!(digest.subject, "Ringkasan harian 06/12/2026: 2 aduan terbuka / Daily summary: 2 open complaints");
        let first = digest.body.find("ADU-2026-000002").unwrap();
        assert!(first < digest.body.find("ADU-2026-000009").unwrap(), "{}", digest.body);
        assert!(digest.body.contains("DALAM TINDAKAN / In progress, 7 hari bekerja"), "{}", digest.body);
        assert_eq!(digest.params, ["06/12/2026", "2"]);
        assert_eq!(digest.params.len(), Template::RingkasanHarian.parameter_count());
        let again = compose("2026-12-06".parse().unwrap(), "pic-aminah", "x", &[]);
        assert_eq!(again.id, digest.id, "one digest a day and PIC, whoever writes it");
        assert_ne!(compose("2026-12-07".parse().unwrap(), "pic-aminah", "x", &[]).id, digest.id);
    }
}
