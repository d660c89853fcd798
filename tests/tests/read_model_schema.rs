//! The read model's tables against the code that writes them, on a real migrated database:
//! the row structs' columns are the tables' columns, and an event today's validators would
//! refuse still projects into a row, as written.

use ehelpdesk_projection::apply::{Incoming, apply_batch};
use ehelpdesk_projection::rows::{ComplaintRecord, StaffRecord};
use ehelpdesk_tests::{TestDatabase, TestEventLog, projection_settings};
use sqlx::Row;

async fn migrated(db: &TestDatabase) -> sqlx::PgPool {
    let log = TestEventLog::new();
    let settings = projection_settings(&log.config, db);
    let pool = db.read_models().await;
    ehelpdesk_projection::db::prepare(&pool, "readmodel", &settings.working_week, &settings.holidays)
        .await
        .expect("migrations apply");
    pool
}

/// The columns a writer must give (generated ones are PostgreSQL's), sorted.
async fn written_columns(pool: &sqlx::PgPool, table: &str) -> Vec<String> {
    let rows = sqlx::query(
        "SELECT column_name FROM information_schema.columns \
         WHERE table_schema = 'readmodel' AND table_name = $1 AND is_generated = 'NEVER' ORDER BY column_name",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

fn sorted(columns: &[&str]) -> Vec<String> {
    let mut c: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    c.sort();
    c
}

#[tokio::test]
async fn the_row_structs_are_the_tables_columns() {
    let db = TestDatabase::new().await;
    let pool = migrated(&db).await;
    assert_eq!(
        written_columns(&pool, "complaints").await,
        sorted(ComplaintRecord::COLUMNS),
        "ComplaintRecord (services/projection/src/rows.rs) and the complaints table (migrations/) disagree"
    );
    assert_eq!(
        written_columns(&pool, "staff").await,
        sorted(StaffRecord::COLUMNS),
        "StaffRecord (services/projection/src/rows.rs) and the staff table (migrations/) disagree"
    );
}

/// The legacy fixture: an IC number with month 13, an e-mail without a domain, a Singapore
/// phone, a staff id with capitals and a dot, a withdrawn category. It projects into a row
/// holding exactly what was written, and nothing is skipped.
#[tokio::test]
async fn an_event_today_s_validators_would_refuse_projects_into_a_row() {
    let db = TestDatabase::new().await;
    let pool = migrated(&db).await;
    let raw = include_str!("../../shared/tests/fixtures/legacy/ComplaintLogged.v2.refused-today.json");
    let id = "0199b8a0-6a7e-7c3e-9d2a-1f2e3d4c5b6b";
    let prefix = "legacy";
    let incoming = [Incoming {
        sequence: 1,
        subject: format!("{prefix}.complaint.{id}"),
        payload: raw.as_bytes().to_vec().into(),
        traceparent: None,
    }];
    assert_eq!(apply_batch(&pool, prefix, &incoming).await.unwrap(), 1);
    let skipped: i64 = sqlx::query("SELECT count(*) FROM skipped_events").fetch_one(&pool).await.unwrap().get(0);
    assert_eq!(skipped, 0, "nothing skipped");
    let row = sqlx::query(
        "SELECT complainant_id, complainant_ic, complainant_email, complainant_phone, category, status, \
           state->'complainant'->>'email' AS state_email FROM complaints WHERE complaint_id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("the row exists");
    let text = |c: &str| row.get::<String, _>(c);
    assert_eq!(text("complainant_id"), "Pengadu.Lama");
    assert_eq!(text("complainant_ic"), "901301-03-5678");
    assert_eq!(text("complainant_email"), "pengadu@");
    assert_eq!(text("complainant_phone"), "+65 6123 4567");
    assert_eq!(text("category"), "ZZ");
    assert_eq!(text("status"), "new");
    assert_eq!(text("state_email"), "pengadu@");
    let timeline: i64 = sqlx::query("SELECT count(*) FROM timeline WHERE complaint_id = $1::uuid")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeline, 1, "its step is on the timeline");
}
