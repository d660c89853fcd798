//! The flow of domain.md against a running system, step by step, with invented people.
//! Used by `make demo` (binary `ehelpdesk-demo`) and by the end-to-end test.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::fixtures::*;

/// What the demo left behind, for checks.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub closed_complaint: String,
    pub open_complaint: String,
    pub last_sequence: u64,
    pub transcript: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct DemoError {
    pub step: String,
    pub detail: String,
}

pub struct Demo {
    http: reqwest::Client,
    command: String,
    query: String,
    run_id: String,
    steps: usize,
    out: String,
}

impl Demo {
    pub fn new(command_url: &str, query_url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            command: command_url.trim_end_matches('/').to_owned(),
            query: query_url.trim_end_matches('/').to_owned(),
            run_id: uuid::Uuid::now_v7().simple().to_string(),
            steps: 0,
            out: String::new(),
        }
    }

    fn say(&mut self, line: impl AsRef<str>) {
        println!("{}", line.as_ref());
        let _ = writeln!(self.out, "{}", line.as_ref());
    }

    async fn send(
        &mut self,
        step: &str,
        who: &Person,
        path: &str,
        body: Value,
        ok: &[u16],
    ) -> Result<Value, DemoError> {
        self.steps += 1;
        let request = who
            .headers(self.http.post(format!("{}{path}", self.command)))
            .header("Idempotency-Key", format!("demo-{}-{}", self.run_id, self.steps))
            .json(&body);
        let response = request.send().await.map_err(|e| DemoError { step: step.into(), detail: e.to_string() })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !ok.contains(&status) {
            return Err(DemoError { step: step.into(), detail: format!("HTTP {status}: {body}") });
        }
        let label = body["status_label_ms"].as_str().unwrap_or("");
        let number = body["complaint_number"].as_str().unwrap_or("");
        let code = body["code"].as_str().map(|c| format!(" ({c})")).unwrap_or_default();
        self.say(format!("  {step:<46} {status} {number} {label}{code}"));
        Ok(body)
    }

    async fn read(&mut self, step: &str, who: &Person, path: &str) -> Result<Value, DemoError> {
        let response = who
            .headers(self.http.get(format!("{}{path}", self.query)))
            .send()
            .await
            .map_err(|e| DemoError { step: step.into(), detail: e.to_string() })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(DemoError { step: step.into(), detail: format!("HTTP {status}: {body}") });
        }
        Ok(body)
    }

    pub async fn run(mut self) -> Result<DemoOutcome, DemoError> {
        self.say(format!("eHelpdesk demo: commands at {}, queries at {}", self.command, self.query));
        self.say("1. Admin eHelpdesk mendaftar kakitangan / the admin registers staff");
        self.send(
            "register admin Siti herself (the bootstrap admin)",
            &ADMIN,
            "/v1/staff",
            ADMIN.registration(&["admin"], &[]),
            &[201, 409],
        )
        .await?;
        self.send(
            "register PIC Aminah (AC, Slip Gaji)",
            &ADMIN,
            "/v1/staff",
            PIC.registration(&["pic"], &["AC", "PAYROLL"]),
            &[201, 409],
        )
        .await?;
        self.send(
            "register implementor Chong",
            &ADMIN,
            "/v1/staff",
            IMPLEMENTOR.registration(&["implementor"], &[]),
            &[201, 409],
        )
        .await?;

        self.say("2. Pengadu membuat aduan / the complainant files a complaint");
        let filed = self
            .send(
                "Ali files: amaun salah (AC)",
                &COMPLAINANT,
                "/v1/complaints",
                complaint("AC", "Amaun salah pada baris arahan bayaran"),
                &[201],
            )
            .await?;
        let id = filed["complaint_id"].as_str().unwrap_or_default().to_owned();
        let other = self
            .send(
                "Ali files: slip gaji tiada (PAYROLL)",
                &COMPLAINANT,
                "/v1/complaints",
                complaint("PAYROLL", "Slip gaji bulan Oktober tiada"),
                &[201],
            )
            .await?;
        let other_id = other["complaint_id"].as_str().unwrap_or_default().to_owned();
        let p = |step: &str| format!("/v1/complaints/{id}/{step}");

        self.say("3. Admin menugaskan aduan kepada PIC / the admin assigns the complaints");
        self.send(
            "assign to PIC Aminah",
            &ADMIN,
            &p("assignment"),
            json!({"pic_id": PIC.id, "note": "Sila ambil tindakan"}),
            &[200],
        )
        .await?;
        self.send(
            "assign the pay-slip complaint too",
            &ADMIN,
            &format!("/v1/complaints/{other_id}/assignment"),
            json!({"pic_id": PIC.id}),
            &[200],
        )
        .await?;

        self.say("4. PIC mengendalikan aduan / the PIC handles it");
        self.send(
            "PIC: Mohon Maklumbalas Pengadu",
            &PIC,
            &p("responses"),
            json!({"message": "Sila kemukakan nombor baucar.", "status": "awaiting_complainant"}),
            &[200],
        )
        .await?;
        self.send(
            "Ali replies with the voucher number",
            &COMPLAINANT,
            &p("replies"),
            json!({"message": "Nombor baucar: BV-2026-0101."}),
            &[200],
        )
        .await?;
        self.send(
            "PIC refers to the implementor",
            &PIC,
            &p("referral"),
            json!({"implementor_id": IMPLEMENTOR.id, "message": "Mohon semakan pelaksana."}),
            &[200],
        )
        .await?;
        self.send(
            "implementor: internal note",
            &IMPLEMENTOR,
            &p("notes"),
            json!({"message": "Ralat modul AC; perlu vendor."}),
            &[200],
        )
        .await?;
        self.send(
            "PIC: Dalam Tindakan Vendor (TTSB)",
            &PIC,
            &p("escalation"),
            json!({"vendor": "TTSB", "vendor_log_number": "TTSB-2026-0042", "message": "Dilog dengan helpdesk TTSB."}),
            &[200],
        )
        .await?;
        self.send(
            "PIC records TTSB's fix",
            &PIC,
            &p("vendor-updates"),
            json!({"message": "TTSB telah membaiki pengiraan amaun."}),
            &[200],
        )
        .await?;
        self.send(
            "PIC: Mohon Pengadu Tutup Aduan",
            &PIC,
            &p("responses"),
            json!({"message": "Masalah telah diselesaikan.", "status": "pending_closure"}),
            &[200],
        )
        .await?;

        self.say("5. Pengadu menutup aduan / the complainant closes it");
        let closed = self
            .send(
                "Ali closes, rating 5",
                &COMPLAINANT,
                &p("closure"),
                json!({"rating": 5, "comment": "Terima kasih"}),
                &[200],
            )
            .await?;
        let last = closed["stream_sequence"].as_u64().unwrap_or(0);

        self.say("6. Apa yang dilihat PIC / what the PIC sees");
        let inbox = self.read("PIC inbox", &PIC, &format!("/v1/inbox?min_seq={last}")).await?;
        self.say(format!("  Inbox Helpdesk [{}]", inbox["badge"]));
        for row in inbox["items"].as_array().into_iter().flatten() {
            self.say(format!(
                "    {}  {:<40} {:<26} umur {} hari bekerja ({} hari kalendar)",
                row["number"].as_str().unwrap_or(""),
                row["title"].as_str().unwrap_or(""),
                row["status_label_ms"].as_str().unwrap_or(""),
                row["age_working_days"],
                row["age_calendar_days"],
            ));
        }
        let detail = self.read("closed complaint", &PIC, &format!("/v1/complaints/{id}")).await?;
        self.say(format!(
            "  {} {}: Selesai dalam masa: {} hari (bekerja); {} langkah dalam sejarah",
            detail["number"].as_str().unwrap_or(""),
            detail["status_label_ms"].as_str().unwrap_or(""),
            detail["solved_within_working_days"],
            detail["timeline"].as_array().map_or(0, Vec::len),
        ));
        let aging = self.read("aging report", &ADMIN, "/v1/reports/aging?group_by=pic").await?;
        self.say("  Umur aduan terbuka / aging of open complaints (hari bekerja: 0-3 | 4-7 | 8-14 | 15-30 | >30)");
        for row in aging.as_array().into_iter().flatten() {
            self.say(format!(
                "    {:<16} {} | {} | {} | {} | {}",
                row["key"].as_str().unwrap_or("(belum ditugaskan)"),
                row["days_0_3"],
                row["days_4_7"],
                row["days_8_14"],
                row["days_15_30"],
                row["days_over_30"],
            ));
        }
        Ok(DemoOutcome { closed_complaint: id, open_complaint: other_id, last_sequence: last, transcript: self.out })
    }
}
