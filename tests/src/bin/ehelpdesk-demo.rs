//! `make demo`: walks the flow of domain.md against a running system and prints each step,
//! then what each invented person received by e-mail and WhatsApp (when `make run` writes
//! them to files: MAIL_DIR, WHATSAPP_DIR, defaults .data/mail and .data/whatsapp).
//! COMMAND_URL (default http://127.0.0.1:8080) and QUERY_URL (default http://127.0.0.1:8081).

use std::path::PathBuf;
use std::time::Duration;

/// The demo's flow sends ten notifications, each by e-mail and WhatsApp.
const EXPECTED_EMAILS: usize = 10;
const EXPECTED_MESSAGES: usize = 2 * EXPECTED_EMAILS;

#[tokio::main]
async fn main() {
    let command = std::env::var("COMMAND_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let query = std::env::var("QUERY_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let outcome = match ehelpdesk_tests::demo::Demo::new(&command, &query).run().await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("demo failed at {e}");
            std::process::exit(1);
        }
    };
    let dir = |var: &str, default: &str| PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.into()));
    let (mail, whatsapp) = (dir("MAIL_DIR", ".data/mail"), dir("WHATSAPP_DIR", ".data/whatsapp"));
    let complaints = [outcome.closed_complaint, outcome.open_complaint];
    // The notifier delivers within a second or two of the relay; wait for it, a little.
    let mut received = ehelpdesk_tests::mailboxes::read(&mail, &whatsapp, &complaints);
    for _ in 0..50 {
        if received.emails + received.whatsapps >= EXPECTED_MESSAGES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        received = ehelpdesk_tests::mailboxes::read(&mail, &whatsapp, &complaints);
    }
    println!(
        "\nPeti masuk / what each person received ({} e-mel in {}, {} WhatsApp in {}):",
        received.emails,
        mail.display(),
        received.whatsapps,
        whatsapp.display()
    );
    if received.emails + received.whatsapps == 0 {
        println!("  (nothing yet: is ehelpdesk-notifier running, and writing files rather than to an SMTP server?)");
    } else if received.emails < EXPECTED_EMAILS {
        println!(
            "  (Tugasan kepada PIC dikumpul selama ASSIGNMENT_BATCH_SECS, 2 minit, sebelum dihantar / assignments to a \
             PIC wait ASSIGNMENT_BATCH_SECS, 2 minutes, to go out together: look in {} then)",
            mail.display()
        );
    }
    if received.whatsapps == 0 && received.emails > 0 {
        println!(
            "  (WhatsApp: none yet. Between 22:00 and 07:00 Malaysian time they wait for the quiet hours to end; \
             WHATSAPP_QUIET_HOURS=off for none)"
        );
    }
    print!("{received}");
    println!("demo: selesai / done");
}
