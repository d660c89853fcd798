//! `make bench` (and `make bench-quick`): eHelpdesk's figures measured in one run beside the
//! limits they are bound by, so the ratios hold on a noisy machine. Writes a table to stdout
//! and JSON + Markdown under bench/results/.
//!
//! Needs the release binaries (`make bench` builds them), NATS and PostgreSQL. Every phase
//! uses a stream and database of its own, removed afterwards.

mod mail_server;
mod notify;
mod phases;
mod report;

use std::time::Duration;

/// How much work each phase does.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sizes {
    pub mode: &'static str,
    /// Subjects each of the 64 raw writers fills with 5 events.
    pub raw_subjects_per_writer: usize,
    /// Complaint walks (log, assign, respond, reply, close) per virtual user.
    pub walks_per_user: usize,
    pub virtual_users: usize,
    /// Complaints seeded for the catch-up (5 events each).
    pub catchup_complaints: usize,
    pub pg_raw_rows: usize,
    pub query_complaints: usize,
    pub query_readers: usize,
    pub query_duration: Duration,
    /// Notifications published at once for the notifier's delivery rate.
    pub notify_messages: usize,
    /// Complaints each virtual user files while e-mails are timed.
    pub notify_filings_per_user: usize,
}

impl Sizes {
    fn full() -> Self {
        Self {
            mode: "full",
            raw_subjects_per_writer: 100,
            walks_per_user: 20,
            virtual_users: 64,
            catchup_complaints: 200_000,
            pg_raw_rows: 200_000,
            query_complaints: 1_000_000,
            query_readers: 16,
            query_duration: Duration::from_secs(5),
            notify_messages: 5_000,
            notify_filings_per_user: 10,
        }
    }

    fn quick() -> Self {
        Self {
            mode: "quick",
            raw_subjects_per_writer: 10,
            walks_per_user: 2,
            virtual_users: 64,
            catchup_complaints: 4_000,
            pg_raw_rows: 20_000,
            query_complaints: 20_000,
            query_readers: 16,
            query_duration: Duration::from_secs(1),
            notify_messages: 500,
            notify_filings_per_user: 2,
        }
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    eprintln!("ehelpdesk-bench ({} run)", sizes.mode);
    match phases::run_all(&sizes).await {
        Ok(results) => {
            let written = report::write(&sizes, &results);
            println!("{}", report::markdown(&sizes, &results));
            match written {
                Ok(paths) => eprintln!("written: {paths}"),
                Err(e) => eprintln!("could not write bench/results: {e}"),
            }
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
