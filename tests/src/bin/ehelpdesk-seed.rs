//! Writes synthetic complaint histories straight into a stream, for measuring replay and
//! rebuild. `ehelpdesk-seed <complaints>`: 5 events a complaint (logged, assigned,
//! responded, replied, closed) after registering 300 PICs. Uses NATS_URL, STREAM_NAME and
//! SUBJECT_PREFIX like the services, and creates the stream if it is missing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::aggregate::Recorded;
use ehelpdesk_shared::category::{self, CategoryCode};
use ehelpdesk_shared::complaint::*;
use ehelpdesk_shared::envelope;
use ehelpdesk_shared::staff::{StaffEvent, StaffMember, StaffRegistered};
use ehelpdesk_shared::validation::{Email, IcNumber, PhoneNumber, StaffId, Text};
use uuid::Uuid;

const PICS: usize = 300;

fn text(s: &str) -> Text {
    Text::parse("text", s, 1, 5000).expect("valid text")
}

fn staff_id(s: &str) -> StaffId {
    StaffId::parse("id", s).expect("valid id")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let complaints: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    let config = ehelpdesk_shared::config::from_env().event_log()?;
    let client = async_nats::connect(&config.nats_url).await?;
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: config.stream.clone(),
        subjects: vec![config.all_subjects()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let admin = Actor::new(staff_id("admin-seed"), Role::Admin, "Admin Benih");
    let categories: Vec<CategoryCode> =
        category::all().iter().map(|c| CategoryCode::parse("c", &c.code).expect("known")).collect();
    let started = Instant::now();
    let mut pending = Vec::with_capacity(1024);
    let mut published = 0u64;

    let publish = |subject: String, payload: Vec<u8>| {
        let js = js.clone();
        async move { js.publish(subject, payload.into()).await }
    };
    for p in 0..PICS {
        let id = staff_id(&format!("pic-{p:03}"));
        let event = StaffEvent::StaffRegistered(StaffRegistered {
            ic_number: IcNumber::parse("ic", &format!("8001{:02}03{:04}", 1 + p % 28, p)).expect("ic"),
            name: text(&format!("PIC Ujian {p}")),
            email: Email::parse("e", &format!("pic{p}@example.gov.my")).expect("email"),
            phone: PhoneNumber::parse("p", &format!("013-{:07}", 1_000_000 + p)).expect("phone"),
            ptj: text("Perbendaharaan Negeri"),
            roles: BTreeSet::from([Role::Pic]),
            categories: BTreeSet::from([categories[p % categories.len()].clone()]),
        });
        let recorded = Recorded { event, occurred_at: Utc::now(), actor: admin.clone() };
        pending.push(publish(config.subject("staff", &id), envelope::encode::<StaffMember>(&id, &recorded)).await?);
    }
    for n in 0..complaints {
        let id = Uuid::now_v7();
        let owner = staff_id(&format!("pengadu-{n}"));
        let complainant = Actor::new(owner.clone(), Role::Complainant, "Pengadu Ujian");
        let pic_index = n % PICS;
        let pic = Actor::new(staff_id(&format!("pic-{pic_index:03}")), Role::Pic, format!("PIC Ujian {pic_index}"));
        let events = [
            (
                complainant.clone(),
                ComplaintEvent::ComplaintLogged(ComplaintLogged {
                    number: complaint_number(2026, n as u64 + 1),
                    complainant: ComplainantDetails {
                        id: owner.clone(),
                        ic_number: IcNumber::parse("ic", "900101035678").expect("ic"),
                        name: text("Pengadu Ujian"),
                        email: Email::parse("e", "pengadu@example.gov.my").expect("email"),
                        phone: PhoneNumber::parse("p", "012-345 6789").expect("phone"),
                        ptj: text(&format!("PTJ {}", n % 80)),
                    },
                    category: categories[n % categories.len()].clone(),
                    title: text(&format!("Aduan ujian nombor {n}")),
                    description: text("Amaun pada baris arahan bayaran tidak sama dengan invois."),
                    channel: Channel::Web,
                    reference: Some(text(&format!("BV-2026-{n:06}"))),
                }),
            ),
            (
                admin.clone(),
                ComplaintEvent::ComplaintAssigned(ComplaintAssigned {
                    pic_id: pic.id.clone(),
                    pic_name: pic.name.clone(),
                    previous_pic_id: None,
                    covers_category: true,
                    note: None,
                }),
            ),
            (
                pic.clone(),
                ComplaintEvent::ComplaintResponded(ComplaintResponded {
                    message: text("Sila sahkan nombor baucar."),
                    status: ResponseStatus::AwaitingComplainant,
                }),
            ),
            (complainant.clone(), ComplaintEvent::ComplainantReplied(ComplainantReplied { message: text("BV-1") })),
            (
                complainant.clone(),
                ComplaintEvent::ComplaintClosed(ComplaintClosed {
                    closed_by: ClosedBy::Complainant,
                    reason: None,
                    rating: Some(5),
                    comment: None,
                }),
            ),
        ];
        for (actor, event) in events {
            let recorded = Recorded { event, occurred_at: Utc::now(), actor };
            pending
                .push(publish(config.subject("complaint", &id), envelope::encode::<Complaint>(&id, &recorded)).await?);
        }
        // async-nats stalls with too many unawaited acks: await them in windows.
        if pending.len() >= 1000 {
            for ack in pending.drain(..) {
                ack.await?;
                published += 1;
            }
        }
    }
    for ack in pending.drain(..) {
        ack.await?;
        published += 1;
    }
    let elapsed = started.elapsed().max(Duration::from_millis(1));
    println!(
        "seeded {published} events ({complaints} complaints, {PICS} PICs) into {} in {:.1} s ({:.0} events/s)",
        config.stream,
        elapsed.as_secs_f64(),
        published as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
