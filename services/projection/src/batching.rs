//! Assignments to one person gathered into one message (pure). An admin triaging the morning's
//! complaints may hand a PIC five in a minute; five e-mails and five WhatsApp messages in a
//! row is the flood people mute. The relay holds an assignment's row for
//! `ASSIGNMENT_BATCH_SECS` and then sends, in one message per channel, every assignment to
//! that person still waiting.

use ehelpdesk_shared::notification::{NotificationMessage, Template};
use uuid::Uuid;

/// An outbox row the relay is about to publish: its message as it stands, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRow {
    pub sequence: i64,
    pub traceparent: Option<String>,
    pub message: NotificationMessage,
}

/// One message to publish and the rows it speaks for, the row whose id it carries first.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub message: NotificationMessage,
    pub traceparent: Option<String>,
    pub rows: Vec<Uuid>,
}

/// Groups `rows` (in outbox order) into messages: with `gather_assignments`, the assignments
/// to one person on one channel become one message; every other row is a message of its own.
pub fn gather(rows: Vec<PendingRow>, gather_assignments: bool) -> Vec<Outgoing> {
    let mut out: Vec<Outgoing> = vec![];
    let mut groups: Vec<Vec<PendingRow>> = vec![];
    for row in rows {
        let m = &row.message;
        if gather_assignments && m.template == Template::AduanDitugaskan {
            let same_person = |g: &&mut Vec<PendingRow>| {
                g[0].message.recipient_id == m.recipient_id && g[0].message.channel == m.channel
            };
            match groups.iter_mut().find(same_person) {
                Some(group) => group.push(row),
                None => groups.push(vec![row]),
            }
        } else {
            out.push(single(row));
        }
    }
    out.extend(groups.into_iter().map(|group| match group.len() {
        1 => single(group.into_iter().next().expect("a group has a row")),
        _ => combined(group),
    }));
    out
}

fn single(row: PendingRow) -> Outgoing {
    Outgoing { rows: vec![row.message.id], traceparent: row.traceparent, message: row.message }
}

/// One message for several assignments: it carries the first row's id and links to the
/// inbox, not to one complaint.
fn combined(group: Vec<PendingRow>) -> Outgoing {
    let traceparent = group[0].traceparent.clone();
    let group: Vec<NotificationMessage> = group.into_iter().map(|r| r.message).collect();
    let n = group.len();
    let numbers: Vec<&str> = group.iter().map(|r| r.complaint_number.as_str()).collect();
    let lines: String = group
        .iter()
        .map(|r| match r.params.as_slice() {
            [number, title, category, ptj, ..] => format!("- {number} \"{title}\" ({category}, {ptj})\n"),
            _ => format!("- {}\n", r.complaint_number),
        })
        .collect();
    let lead = &group[0];
    let message = NotificationMessage {
        id: lead.id,
        complaint_id: Uuid::nil(),
        complaint_number: String::new(),
        event_type: lead.event_type.clone(),
        template: Template::AduanDitugaskanBerkumpulan,
        params: vec![n.to_string(), numbers.join(", ")],
        recipient_id: lead.recipient_id.clone(),
        recipient_role: lead.recipient_role.clone(),
        channel: lead.channel,
        address: group.last().map_or(lead.address.clone(), |r| r.address.clone()),
        subject: format!("{n} aduan ditugaskan kepada anda / {n} complaints assigned to you: {}", numbers.join(", ")),
        body: format!(
            "{n} aduan telah ditugaskan kepada anda. Sila semak Inbox Helpdesk.\n\
             {n} complaints have been assigned to you. Please check your helpdesk inbox.\n\n{lines}"
        ),
        created_at: lead.created_at,
        cycle: 0,
    };
    Outgoing { message, traceparent, rows: group.iter().map(|r| r.id).collect() }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use ehelpdesk_shared::notification::Channel;

    use super::*;

    fn row(n: u128, template: Template, to: &str, channel: Channel) -> PendingRow {
        let number = format!("ADU-2026-{n:06}");
        PendingRow {
            sequence: n as i64,
            traceparent: None,
            message: NotificationMessage {
                id: Uuid::from_u128(n),
                complaint_id: Uuid::from_u128(1000 + n),
                complaint_number: number.clone(),
                event_type: "ComplaintAssigned".into(),
                template,
                params: vec![number, format!("Aduan {n}"), "Gaji".into(), "JKR".into()],
                recipient_id: to.into(),
                recipient_role: "pic".into(),
                channel,
                address: format!("{to}@example.gov.my"),
                subject: "s".into(),
                body: "b".into(),
                created_at: DateTime::UNIX_EPOCH,
                cycle: 0,
            },
        }
    }

    #[test]
    fn assignments_to_one_person_and_channel_become_one_message() {
        let rows = vec![
            row(1, Template::AduanDitugaskan, "pic-aminah", Channel::Email),
            row(2, Template::AduanDiterima, "pengadu-ali", Channel::Email),
            row(3, Template::AduanDitugaskan, "pic-aminah", Channel::WhatsApp),
            row(4, Template::AduanDitugaskan, "pic-aminah", Channel::Email),
            row(5, Template::AduanDitugaskan, "pic-bakar", Channel::Email),
            row(6, Template::AduanDitugaskan, "pic-aminah", Channel::Email),
        ];
        let out = gather(rows.clone(), true);
        let covered: Vec<Vec<u128>> = out.iter().map(|o| o.rows.iter().map(|id| id.as_u128()).collect()).collect();
        assert_eq!(covered, [vec![2], vec![1, 4, 6], vec![3], vec![5]]);
        let batch = &out[1].message;
        assert_eq!((batch.id, batch.template), (Uuid::from_u128(1), Template::AduanDitugaskanBerkumpulan));
        assert_eq!(batch.params, ["3", "ADU-2026-000001, ADU-2026-000004, ADU-2026-000006"]);
        assert_eq!(batch.params.len(), batch.template.parameter_count());
        assert!(batch.complaint_id.is_nil(), "links to the inbox");
        assert!(batch.subject.starts_with("3 aduan ditugaskan kepada anda / 3 complaints assigned to you"));
        assert!(batch.body.contains("- ADU-2026-000004 \"Aduan 4\" (Gaji, JKR)"), "{}", batch.body);
        // A single assignment goes as it was written; without gathering, every row is its own.
        assert_eq!(out[2].message.template, Template::AduanDitugaskan);
        assert_eq!(gather(rows, false).len(), 6);
    }
}
