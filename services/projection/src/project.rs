//! What one event means for the read models besides the complaint's new state: its
//! timeline row and the notifications it sends. Pure code, unit-tested without a database.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::aggregate::{DomainEvent, Recorded};
use ehelpdesk_shared::complaint::{ClosedBy, Complaint, ComplaintEvent, ResponseStatus};
pub use ehelpdesk_shared::notification::Channel;
use ehelpdesk_shared::notification::Template;
use ehelpdesk_shared::staff::{NotificationPreferences, StaffEvent, StaffMember};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub complaint_id: Uuid,
    pub sequence: i64,
    pub occurred_at: DateTime<Utc>,
    pub event_type: &'static str,
    pub actor_id: String,
    pub actor_role: &'static str,
    pub actor_name: String,
    pub status: &'static str,
    pub message: Option<String>,
    pub details: Value,
    pub visibility: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Derived from (sequence, recipient, channel): a replay writes the same ids.
    pub id: Uuid,
    pub sequence: i64,
    pub complaint_id: Uuid,
    /// `ADU-2026-000123`: the subject starts with it and every template's first parameter is it.
    pub complaint_number: String,
    pub event_type: &'static str,
    /// The WhatsApp template this message goes out as.
    pub template: Template,
    /// Its body parameters, in order: as many as `template.parameter_count()`.
    pub params: Vec<String>,
    pub recipient_id: String,
    pub recipient_role: &'static str,
    pub channel: Channel,
    pub address: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// The trace of the request behind the event, carried on to the relay's publish.
    pub traceparent: Option<String>,
}

const OUTBOX_NAMESPACE: Uuid = Uuid::from_u128(0x0b7e_4a51_6c2d_4e8f_9a1b_3c5d_7e9f_1a2b);

pub fn timeline_row(sequence: i64, recorded: &Recorded<ComplaintEvent>, after: &Complaint) -> TimelineRow {
    use ComplaintEvent::*;
    let (message, details, visibility): (Option<String>, Value, &'static str) = match &recorded.event {
        ComplaintLogged(e) => (
            None,
            json!({"number": e.number, "category": e.category, "channel": e.channel, "title": e.title}),
            "public",
        ),
        ComplaintAssigned(e) => (
            None,
            json!({"pic_id": e.pic_id, "pic_name": e.pic_name, "previous_pic_id": e.previous_pic_id,
                   "covers_category": e.covers_category, "note": e.note}),
            "public",
        ),
        ComplaintResponded(e) => (Some(e.message.as_str().to_owned()), json!({"response_status": e.status}), "public"),
        ComplainantReplied(e) => (Some(e.message.as_str().to_owned()), json!({}), "public"),
        // The PIC's hand-over to the second line is staff business; the complainant sees
        // the status change on the complaint itself.
        ReferredToImplementor(e) => (
            Some(e.message.as_str().to_owned()),
            json!({"implementor_id": e.implementor_id, "implementor_name": e.implementor_name}),
            "internal",
        ),
        EscalatedToVendor(e) => (
            Some(e.message.as_str().to_owned()),
            json!({"vendor": e.vendor, "vendor_log_number": e.vendor_log_number}),
            "public",
        ),
        VendorUpdateRecorded(e) => {
            (Some(e.message.as_str().to_owned()), json!({"vendor_log_number": e.vendor_log_number}), "public")
        }
        InternalNoteAdded(e) => (Some(e.message.as_str().to_owned()), json!({}), "internal"),
        ComplaintClosed(e) => (
            e.reason.as_ref().map(|r| r.as_str().to_owned()),
            json!({"closed_by": e.closed_by, "rating": e.rating, "comment": e.comment}),
            "public",
        ),
        ComplaintReopened(e) => (Some(e.reason.as_str().to_owned()), json!({}), "public"),
    };
    TimelineRow {
        complaint_id: after.id,
        sequence,
        occurred_at: recorded.occurred_at,
        event_type: recorded.event.event_type(),
        actor_id: recorded.actor.id.to_string(),
        actor_role: recorded.actor.role.as_str(),
        actor_name: recorded.actor.name.clone(),
        status: after.status.as_str(),
        message,
        details,
        visibility,
    }
}

/// Someone to tell, how to reach them, and on which channels they want to be told.
struct Recipient {
    id: String,
    role: &'static str,
    email: String,
    phone: String,
    preferences: NotificationPreferences,
}

/// The complainant at the contacts their complaint carries (the portal's profile, not the
/// directory): always both channels. The directory's preferences are how a member of staff
/// hears of their work; a complainant hears of their own complaint.
fn complainant(c: &Complaint) -> Recipient {
    Recipient {
        id: c.complainant.id.to_string(),
        role: "complainant",
        email: c.complainant.email.as_str().to_owned(),
        phone: c.complainant.phone.as_str().to_owned(),
        preferences: NotificationPreferences::default(),
    }
}

fn staff_member(staff: &HashMap<String, StaffMember>, id: Option<&str>, role: &'static str) -> Option<Recipient> {
    let member = staff.get(id?)?;
    member.active.then(|| Recipient {
        id: member.id.to_string(),
        role,
        email: member.email.as_str().to_owned(),
        phone: member.phone.as_str().to_owned(),
        preferences: member.notification_preferences,
    })
}

/// The channels a recipient is told on: those they kept on. Someone who turned both off
/// still gets an assignment by e-mail (`must_reach`): nobody may miss a complaint handed to
/// them.
pub fn channels(preferences: NotificationPreferences, must_reach: bool) -> Vec<Channel> {
    if must_reach && preferences.all_off() {
        return vec![Channel::Email];
    }
    Channel::ALL
        .into_iter()
        .filter(|channel| match channel {
            Channel::Email => preferences.email,
            Channel::WhatsApp => preferences.whatsapp,
        })
        .collect()
}

impl Recipient {
    fn address(&self, channel: Channel) -> &str {
        match channel {
            Channel::Email => &self.email,
            Channel::WhatsApp => &self.phone,
        }
    }
}

/// Who logged a complaint for someone else: the message reaches its complainant in the
/// treasury's name, so it says who asked for it.
fn logged_on_behalf(recorded: &Recorded<ComplaintEvent>, after: &Complaint) -> String {
    if recorded.actor.id == after.complainant.id {
        return String::new();
    }
    let by = one_line(&recorded.actor.name);
    format!(
        "\n\nAduan ini dilog bagi pihak anda oleh {by} (Admin eHelpdesk).\n\
         This complaint was logged on your behalf by {by} (eHelpdesk admin)."
    )
}

/// Subjects go into mail headers: one line, whatever the text held.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A WhatsApp template parameter: Meta refuses parameters holding line breaks, tabs or more
/// than four spaces in a row, and a title may hold any of them (the log keeps what was written).
fn param(text: &str) -> String {
    one_line(text).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The category as people name it, with its code: `Pendahuluan & Tuntutan (AC)`. A code the
/// data file no longer knows is shown as it was written.
fn category_param(c: &Complaint) -> String {
    let code = c.category.as_str();
    match ehelpdesk_shared::category::find(code) {
        Some(category) => param(&format!("{} ({code})", category.name_ms)),
        None => param(code),
    }
}

/// What one event tells, and to whom.
struct Message {
    recipients: Vec<Option<Recipient>>,
    template: Template,
    /// The template's parameters after the complaint number, which every template starts with.
    params: Vec<String>,
    /// Malay / English, without the number (the subject starts with it).
    subject: String,
    body: String,
}

/// The notifications an event sends: Malay first, English beside it. Nobody is told about
/// their own action, except that a new complaint is acknowledged with its number.
pub fn notifications(
    sequence: i64,
    recorded: &Recorded<ComplaintEvent>,
    after: &Complaint,
    staff: &HashMap<String, StaffMember>,
) -> Vec<Notification> {
    use ComplaintEvent::*;
    let n = &after.number;
    let title = after.title.as_str();
    let pic = || staff_member(staff, after.pic_id().map(|p| p.as_str()), "pic");
    let message = match &recorded.event {
        ComplaintLogged(_) => Message {
            recipients: vec![Some(complainant(after))],
            template: Template::AduanDiterima,
            params: vec![param(title)],
            subject: "Aduan diterima / Complaint received".into(),
            body: format!(
                "Aduan anda \"{title}\" telah diterima dengan nombor {n}. Kami akan menghubungi anda.\n\
                 Your complaint \"{title}\" has been received as {n}. We will be in touch.{}",
                logged_on_behalf(recorded, after)
            ),
        },
        ComplaintAssigned(e) => Message {
            recipients: vec![staff_member(staff, Some(e.pic_id.as_str()), "pic")],
            template: Template::AduanDitugaskan,
            params: vec![param(title), category_param(after), param(after.complainant.ptj.as_str())],
            subject: "Aduan ditugaskan kepada anda / Complaint assigned to you".into(),
            body: format!(
                "Aduan {n} \"{title}\" ({}, {}) telah ditugaskan kepada anda. Sila semak Inbox Helpdesk.\n\
                 Complaint {n} \"{title}\" has been assigned to you. Please check your helpdesk inbox.",
                after.category.as_str(),
                after.complainant.ptj.as_str()
            ),
        },
        ComplaintResponded(e) => {
            let (template, ms, en) = match e.status {
                ResponseStatus::AwaitingComplainant => {
                    (Template::MohonMaklumBalas, "Mohon maklum balas anda", "Your feedback is requested")
                }
                ResponseStatus::PendingClosure => (
                    Template::MohonTutupAduan,
                    "Aduan anda telah diselesaikan; mohon tutup aduan",
                    "Your complaint is solved; please close it",
                ),
                ResponseStatus::InProgress => (Template::MaklumBalasBaharu, "Maklum balas baharu", "New reply"),
            };
            Message {
                recipients: vec![Some(complainant(after))],
                template,
                params: vec![],
                subject: format!("{ms} / {en}"),
                body: format!("{ms} (aduan {n}):\n{}\n\n{en} (complaint {n}).", e.message.as_str()),
            }
        }
        // Only the first reply since the PIC's last answer pages the PIC; the rest wait in the
        // inbox, so a complainant cannot flood the PIC's phone.
        ComplainantReplied(e) => Message {
            recipients: vec![pic().filter(|_| after.replies_since_answer <= 1)],
            template: Template::PengaduMembalas,
            params: vec![],
            subject: "Pengadu membalas / The complainant replied".into(),
            body: format!("Balasan pengadu bagi aduan {n}:\n{}\n\nThe complainant replied on {n}.", e.message.as_str()),
        },
        ReferredToImplementor(e) => Message {
            recipients: vec![staff_member(staff, Some(e.implementor_id.as_str()), "implementor")],
            template: Template::AduanDirujuk,
            params: vec![param(title)],
            subject: "Aduan dirujuk kepada anda / Complaint referred to you".into(),
            body: format!(
                "Aduan {n} \"{title}\" dirujuk kepada anda:\n{}\n\nComplaint {n} was referred to you.",
                e.message.as_str()
            ),
        },
        EscalatedToVendor(e) => {
            let log = e.vendor_log_number.as_ref().map(|l| format!(" ({})", l.as_str())).unwrap_or_default();
            Message {
                recipients: vec![Some(complainant(after))],
                template: Template::DalamTindakanVendor,
                params: vec![param(e.vendor.as_str())],
                subject: "Aduan dalam tindakan vendor / Complaint is with the vendor".into(),
                body: format!(
                    "Aduan {n} telah dirujuk kepada helpdesk vendor {}{log}.\nComplaint {n} is now with the {} helpdesk{log}.",
                    e.vendor.as_str(),
                    e.vendor.as_str()
                ),
            }
        }
        ComplaintClosed(e) => {
            let mut to = vec![pic()];
            if e.closed_by == ClosedBy::Admin {
                to.push(Some(complainant(after)));
            }
            Message {
                recipients: to,
                template: Template::AduanDitutup,
                params: vec![param(title)],
                subject: "Aduan telah ditutup / Complaint closed".into(),
                body: format!(
                    "Aduan {n} \"{title}\" telah ditutup (SELESAI).\nComplaint {n} \"{title}\" has been closed."
                ),
            }
        }
        ComplaintReopened(e) => Message {
            recipients: vec![pic()],
            template: Template::AduanDibukaSemula,
            params: vec![],
            subject: "Aduan dibuka semula / Complaint reopened".into(),
            body: format!(
                "Pengadu membuka semula aduan {n}:\n{}\n\nThe complainant reopened complaint {n}.",
                e.reason.as_str()
            ),
        },
        VendorUpdateRecorded(_) | InternalNoteAdded(_) => return vec![],
    };
    // The number leads the subject so that a mailbox sorts and threads by complaint.
    let subject = one_line(&format!("{n}: {}", message.subject));
    let params: Vec<String> = std::iter::once(param(n)).chain(message.params).collect();
    let actor = recorded.actor.id.as_str();
    // The acknowledgement of a new complaint is the one message people get about their own act.
    let tell_actor = matches!(recorded.event, ComplaintLogged(_));
    let must_reach = matches!(recorded.event, ComplaintAssigned(_));
    let mut out = vec![];
    for recipient in message.recipients.into_iter().flatten().filter(|r| tell_actor || r.id != actor) {
        for channel in channels(recipient.preferences, must_reach) {
            out.push(Notification {
                id: outbox_id(sequence, &recipient.id, channel),
                sequence,
                complaint_id: after.id,
                complaint_number: n.clone(),
                event_type: recorded.event.event_type(),
                template: message.template,
                params: params.clone(),
                recipient_id: recipient.id.clone(),
                recipient_role: recipient.role,
                channel,
                address: recipient.address(channel).to_owned(),
                subject: subject.clone(),
                body: message.body.clone(),
                created_at: recorded.occurred_at,
                traceparent: None,
            });
        }
    }
    out
}

fn outbox_id(sequence: i64, recipient: &str, channel: Channel) -> Uuid {
    Uuid::new_v5(&OUTBOX_NAMESPACE, format!("{sequence}:{recipient}:{}", channel.as_str()).as_bytes())
}

/// The notifications a staff directory event sends: only a member of staff turning off both
/// channels, which the admins are told of by e-mail (they hand out complaints, and this
/// person now hears of nothing but assignments). Not the admin who made the change, as
/// nobody is told of their own act; an admin who turned e-mail off is not e-mailed. The row
/// belongs to no complaint (nil id and no number, like the daily digest), so the e-mail
/// links to the inbox.
pub fn staff_notifications(
    sequence: i64,
    recorded: &Recorded<StaffEvent>,
    after: &StaffMember,
    staff: &HashMap<String, StaffMember>,
) -> Vec<Notification> {
    let StaffEvent::NotificationPreferencesChanged(changed) = &recorded.event else { return vec![] };
    if !NotificationPreferences::from(*changed).all_off() {
        return vec![];
    }
    let name = one_line(after.name.as_str());
    let id = after.id.as_str();
    let (ms, en) = if recorded.actor.id == after.id {
        (
            format!("{name} ({id}) telah mematikan notifikasi e-mel dan WhatsApp"),
            format!("{name} ({id}) has turned off e-mail and WhatsApp notifications"),
        )
    } else {
        let by = one_line(&recorded.actor.name);
        (
            format!("{by} telah mematikan notifikasi e-mel dan WhatsApp bagi {name} ({id})"),
            format!("{by} has turned off e-mail and WhatsApp notifications for {name} ({id})"),
        )
    };
    let subject = format!("Notifikasi dimatikan: {name} / Notifications turned off: {name}");
    let body = format!(
        "{ms}; aduan yang ditugaskan kepadanya masih akan dihantar melalui e-mel.\n\
         {en}; assignments will still be e-mailed."
    );
    let mut admins: Vec<&StaffMember> = staff
        .values()
        .filter(|m| m.active && m.roles.contains(&Role::Admin))
        .filter(|m| m.id != recorded.actor.id && m.id != after.id)
        .collect();
    admins.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    admins
        .into_iter()
        .filter(|admin| channels(admin.notification_preferences, false).contains(&Channel::Email))
        .map(|admin| Notification {
            id: outbox_id(sequence, admin.id.as_str(), Channel::Email),
            sequence,
            complaint_id: Uuid::nil(),
            complaint_number: String::new(),
            event_type: recorded.event.event_type(),
            template: Template::Notice,
            params: vec![param(&subject)],
            recipient_id: admin.id.to_string(),
            recipient_role: Role::Admin.as_str(),
            channel: Channel::Email,
            address: admin.email.as_str().to_owned(),
            subject: subject.clone(),
            body: body.clone(),
            created_at: recorded.occurred_at,
            traceparent: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;
    use ehelpdesk_shared::actor::{Actor, Role};
    use ehelpdesk_shared::aggregate::Aggregate;
    use ehelpdesk_shared::category::CategoryCode;
    use ehelpdesk_shared::complaint::*;
    use ehelpdesk_shared::validation::{Email, IcNumber, PhoneNumber, StaffId, Text};

    use super::*;
    // The notification channel, not the complaint's (web, phone, ...) the glob above brings.
    use super::Channel;

    fn text(s: &str) -> Text {
        Text::parse("t", s, 1, 5000).unwrap()
    }

    fn actor(id: &str, role: Role) -> Actor {
        Actor::new(StaffId::parse("id", id).unwrap(), role, id)
    }

    fn pic_member(active: bool) -> StaffMember {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        StaffMember {
            id: StaffId::parse("id", "pic-aminah").unwrap(),
            ic_number: IcNumber::parse("ic", "850315035124").unwrap(),
            name: text("Aminah"),
            email: Email::parse("e", "aminah@example.gov.my").unwrap(),
            phone: PhoneNumber::parse("p", "013-900 2002").unwrap(),
            ptj: text("Perbendaharaan"),
            roles: BTreeSet::from([Role::Pic]),
            categories: BTreeSet::new(),
            active,
            notification_preferences: NotificationPreferences::default(),
            registered_at: at,
            updated_at: at,
        }
    }

    fn recorded(event: ComplaintEvent, by: Actor) -> Recorded<ComplaintEvent> {
        Recorded { event, occurred_at: Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap(), actor: by }
    }

    fn logged() -> (Complaint, Recorded<ComplaintEvent>) {
        let r = recorded(
            ComplaintEvent::ComplaintLogged(ComplaintLogged {
                number: "ADU-2026-000001".into(),
                complainant: ComplainantDetails {
                    id: StaffId::parse("id", "pengadu-ali").unwrap(),
                    ic_number: IcNumber::parse("ic", "900101035678").unwrap(),
                    name: text("Ali"),
                    email: Email::parse("e", "ali@example.gov.my").unwrap(),
                    phone: PhoneNumber::parse("p", "012-345 6789").unwrap(),
                    ptj: text("JKR"),
                },
                category: CategoryCode::parse("c", "AC").unwrap(),
                title: text("Tajuk\r\nBcc: someone@example.com"),
                description: text("Keterangan aduan yang cukup panjang."),
                channel: ehelpdesk_shared::complaint::Channel::Web,
                reference: None,
            }),
            actor("pengadu-ali", Role::Complainant),
        );
        let id = Uuid::now_v7();
        (Complaint::apply(None, &id, &r).unwrap(), r)
    }

    fn staff(active: bool) -> HashMap<String, StaffMember> {
        HashMap::from([("pic-aminah".to_owned(), pic_member(active))])
    }

    #[test]
    fn a_new_complaint_is_acknowledged_by_email_and_whatsapp() {
        let (c, r) = logged();
        let sent = notifications(7, &r, &c, &staff(true));
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].address, "ali@example.gov.my");
        assert_eq!(sent[1].address, "+60123456789");
        assert_eq!(sent[0].subject, "ADU-2026-000001: Aduan diterima / Complaint received");
        assert_eq!(sent[0].template, Template::AduanDiterima);
        assert_eq!(sent[0].params, ["ADU-2026-000001", "Tajuk Bcc: someone@example.com"], "one line, no run of spaces");
        assert_eq!(sent, notifications(7, &r, &c, &staff(true)), "ids are stable across replays");
        assert_ne!(sent[0].id, sent[1].id);
    }

    #[test]
    fn assignment_goes_to_an_active_pic_and_nobody_hears_of_their_own_act() {
        let (c, assigned) = assigned();
        let sent = notifications(8, &assigned, &c, &staff(true));
        assert_eq!(sent.iter().map(|n| n.recipient_id.as_str()).collect::<Vec<_>>(), ["pic-aminah", "pic-aminah"]);
        assert!(notifications(8, &assigned, &c, &staff(false)).is_empty(), "deactivated staff get nothing");
        let note = recorded(
            ComplaintEvent::InternalNoteAdded(InternalNoteAdded { message: text("x") }),
            actor("pic-aminah", Role::Pic),
        );
        assert!(notifications(9, &note, &c, &staff(true)).is_empty());
        let reply = recorded(
            ComplaintEvent::ComplainantReplied(ComplainantReplied { message: text("ok") }),
            actor("pic-aminah", Role::Pic),
        );
        assert!(notifications(10, &reply, &c, &staff(true)).is_empty(), "the PIC is the actor here");
    }

    #[test]
    fn a_complaint_logged_on_someone_s_behalf_says_by_whom() {
        let (mut c, mut r) = logged();
        assert!(!notifications(7, &r, &c, &staff(true))[0].body.contains("bagi pihak"), "their own complaint");
        r.actor = actor("admin-siti", Role::Admin);
        c.logged_by = r.actor.clone();
        let sent = notifications(7, &r, &c, &staff(true));
        assert_eq!(sent[0].recipient_id, "pengadu-ali");
        assert!(sent[0].body.contains("dilog bagi pihak anda oleh admin-siti"), "{}", sent[0].body);
        assert!(sent[0].body.contains("logged on your behalf by admin-siti"), "{}", sent[0].body);
    }

    #[test]
    fn only_the_first_reply_since_an_answer_pages_the_pic() {
        let (c, _) = logged();
        let assigned = recorded(
            ComplaintEvent::ComplaintAssigned(ComplaintAssigned {
                pic_id: StaffId::parse("id", "pic-aminah").unwrap(),
                pic_name: "Aminah".into(),
                previous_pic_id: None,
                covers_category: true,
                note: None,
            }),
            actor("admin-siti", Role::Admin),
        );
        let id = Uuid::now_v7();
        let mut c = Complaint::apply(Some(c), &id, &assigned).unwrap();
        let reply = recorded(
            ComplaintEvent::ComplainantReplied(ComplainantReplied { message: text("Masih berlaku") }),
            actor("pengadu-ali", Role::Complainant),
        );
        let mut paged = vec![];
        for seq in 10..13 {
            c = Complaint::apply(Some(c), &id, &reply).unwrap();
            paged.push(notifications(seq, &reply, &c, &staff(true)).len());
        }
        assert_eq!(paged, [2, 0, 0], "e-mail and WhatsApp once, then the inbox only");
    }

    #[test]
    fn subjects_are_one_line_whatever_the_title_holds() {
        let (c, r) = logged();
        let escalated = recorded(
            ComplaintEvent::EscalatedToVendor(EscalatedToVendor {
                vendor: Vendor::Ttsb,
                vendor_log_number: Some(text("TTSB-1")),
                message: text("m"),
            }),
            actor("pic-aminah", Role::Pic),
        );
        for n in
            notifications(7, &r, &c, &staff(true)).into_iter().chain(notifications(9, &escalated, &c, &staff(true)))
        {
            assert!(!n.subject.contains('\n') && !n.subject.contains('\r'), "{:?}", n.subject);
        }
    }

    /// Every event of a complaint's life, each way a PIC can answer and an admin's closing:
    /// each message fills its template exactly and leads with the complaint's number.
    #[test]
    fn every_notification_fills_its_template_and_leads_with_the_number() {
        use ehelpdesk_shared::test_fixtures;
        let id = test_fixtures::complaint_id();
        let mut implementor = pic_member(true);
        implementor.id = StaffId::parse("id", "impl-chong").unwrap();
        implementor.roles = BTreeSet::from([Role::Implementor]);
        let staff =
            HashMap::from([("pic-aminah".to_owned(), pic_member(true)), ("impl-chong".to_owned(), implementor)]);
        let life = test_fixtures::complaint_events("ComplaintReopened.v1");
        let mut states = vec![];
        let mut state = None;
        for r in &life {
            let after = Complaint::apply(state.take(), &id, r).unwrap();
            states.push((r.clone(), after.clone()));
            state = Some(after);
        }
        let assigned = states[1].1.clone();
        for status in [ResponseStatus::InProgress, ResponseStatus::AwaitingComplainant, ResponseStatus::PendingClosure]
        {
            let r = recorded(
                ComplaintEvent::ComplaintResponded(ComplaintResponded { message: text("Jawapan"), status }),
                actor("pic-aminah", Role::Pic),
            );
            states.push((r.clone(), Complaint::apply(Some(assigned.clone()), &id, &r).unwrap()));
        }
        let closed_by_admin = recorded(
            ComplaintEvent::ComplaintClosed(ComplaintClosed {
                closed_by: ClosedBy::Admin,
                reason: Some(text("Pendua")),
                rating: None,
                comment: None,
            }),
            actor("admin-siti", Role::Admin),
        );
        states.push((closed_by_admin.clone(), Complaint::apply(Some(assigned), &id, &closed_by_admin).unwrap()));

        let mut templates = BTreeSet::new();
        for (i, (r, after)) in states.iter().enumerate() {
            let sent = notifications(i as i64 + 1, r, after, &staff);
            let silent =
                matches!(r.event, ComplaintEvent::VendorUpdateRecorded(_) | ComplaintEvent::InternalNoteAdded(_));
            assert_eq!(sent.is_empty(), silent, "{}", r.event.event_type());
            for n in sent {
                let what = format!("{} {:?}: {:?}", n.event_type, n.template, n.params);
                assert_eq!(n.params.len(), n.template.parameter_count(), "{what}");
                assert_eq!(n.params[0], after.number, "{what}");
                assert_eq!(n.complaint_number, after.number);
                assert!(n.subject.starts_with(&format!("{}: ", after.number)), "{}", n.subject);
                assert!(n.subject.contains(" / "), "Malay first, English beside: {}", n.subject);
                for p in &n.params {
                    assert!(!p.is_empty() && !p.contains(char::is_control) && !p.contains("  "), "{what}");
                }
                templates.insert(n.template.name());
            }
        }
        assert_eq!(templates.len(), 10, "every template but notice is used: {templates:?}");
        let assignment = notifications(2, &states[1].0, &states[1].1, &staff);
        assert_eq!(
            assignment[0].params,
            ["ADU-2026-000001", states[1].1.title.as_str(), "Pendahuluan & Tuntutan (AC)", "Jabatan Kerja Raya Negeri"]
        );
    }

    fn assigned() -> (Complaint, Recorded<ComplaintEvent>) {
        let (c, _) = logged();
        let r = recorded(
            ComplaintEvent::ComplaintAssigned(ComplaintAssigned {
                pic_id: StaffId::parse("id", "pic-aminah").unwrap(),
                pic_name: "Aminah".into(),
                previous_pic_id: None,
                covers_category: true,
                note: None,
            }),
            actor("admin-siti", Role::Admin),
        );
        (Complaint::apply(Some(c), &Uuid::now_v7(), &r).unwrap(), r)
    }

    fn pic_choosing(email: bool, whatsapp: bool) -> HashMap<String, StaffMember> {
        let mut pic = pic_member(true);
        pic.notification_preferences = NotificationPreferences { email, whatsapp };
        HashMap::from([("pic-aminah".to_owned(), pic)])
    }

    fn told(sent: &[Notification]) -> Vec<(&str, Channel)> {
        sent.iter().map(|n| (n.recipient_id.as_str(), n.channel)).collect()
    }

    #[test]
    fn a_channel_turned_off_gets_no_row() {
        let (c, assignment) = assigned();
        let reply = recorded(
            ComplaintEvent::ComplainantReplied(ComplainantReplied { message: text("Masih berlaku") }),
            actor("pengadu-ali", Role::Complainant),
        );
        let replied = Complaint::apply(Some(c.clone()), &c.id, &reply).unwrap();
        let pic = "pic-aminah";
        for (email, whatsapp, expected) in [
            (true, true, vec![(pic, Channel::Email), (pic, Channel::WhatsApp)]),
            (true, false, vec![(pic, Channel::Email)]),
            (false, true, vec![(pic, Channel::WhatsApp)]),
            (false, false, vec![]),
        ] {
            let staff = pic_choosing(email, whatsapp);
            assert_eq!(
                told(&notifications(11, &reply, &replied, &staff)),
                expected,
                "email {email}, whatsapp {whatsapp}"
            );
            if email || whatsapp {
                assert_eq!(
                    told(&notifications(8, &assignment, &c, &staff)),
                    expected,
                    "assignment, {email} {whatsapp}"
                );
            }
        }
        // An e-mail's row goes to the e-mail address, a WhatsApp message's to the phone.
        let whatsapp_only = notifications(8, &assignment, &c, &pic_choosing(false, true));
        assert_eq!(whatsapp_only[0].address, "+60139002002");
        // The same ids as when both were on: a row is (event, recipient, channel), whatever else is sent.
        let both = notifications(8, &assignment, &c, &pic_choosing(true, true));
        assert_eq!(whatsapp_only[0].id, both[1].id);
    }

    #[test]
    fn someone_with_both_channels_off_still_gets_an_assignment_by_email() {
        let (c, assignment) = assigned();
        let quiet = pic_choosing(false, false);
        let sent = notifications(8, &assignment, &c, &quiet);
        assert_eq!(told(&sent), [("pic-aminah", Channel::Email)]);
        assert_eq!(sent[0].address, "aminah@example.gov.my");
        assert_eq!(sent[0].template, Template::AduanDitugaskan);
        // Nothing else reaches them: a reopening, a close.
        let reopened = recorded(
            ComplaintEvent::ComplaintReopened(ComplaintReopened { reason: text("Belum selesai") }),
            actor("pengadu-ali", Role::Complainant),
        );
        assert!(notifications(12, &reopened, &c, &quiet).is_empty());
        assert!(!notifications(12, &reopened, &c, &pic_choosing(true, true)).is_empty());
    }

    #[test]
    fn complainants_keep_both_channels() {
        // Even one whose id is a member of staff who turned both off: their complaint's
        // messages go to the contacts the complaint carries, not the directory's.
        let (c, r) = logged();
        let mut staff_complainant = pic_member(true);
        staff_complainant.id = StaffId::parse("id", "pengadu-ali").unwrap();
        staff_complainant.notification_preferences = NotificationPreferences { email: false, whatsapp: false };
        let staff = HashMap::from([("pengadu-ali".to_owned(), staff_complainant)]);
        assert_eq!(
            told(&notifications(7, &r, &c, &staff)),
            [("pengadu-ali", Channel::Email), ("pengadu-ali", Channel::WhatsApp)]
        );
    }

    fn admin_member(id: &str, active: bool, email: bool) -> StaffMember {
        let mut admin = pic_member(active);
        admin.id = StaffId::parse("id", id).unwrap();
        admin.email = Email::parse("e", &format!("{id}@example.gov.my")).unwrap();
        admin.roles = BTreeSet::from([Role::Admin]);
        admin.notification_preferences = NotificationPreferences { email, whatsapp: true };
        admin
    }

    fn preferences_changed(by: Actor, email: bool, whatsapp: bool) -> Recorded<StaffEvent> {
        Recorded {
            event: StaffEvent::NotificationPreferencesChanged(
                ehelpdesk_shared::staff::NotificationPreferencesChanged { email, whatsapp },
            ),
            occurred_at: Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap(),
            actor: by,
        }
    }

    #[test]
    fn the_admins_are_told_by_email_when_someone_turns_both_channels_off() {
        let mut quiet = pic_member(true);
        quiet.notification_preferences = NotificationPreferences { email: false, whatsapp: false };
        let staff: HashMap<String, StaffMember> = [
            admin_member("admin-siti", true, true),
            admin_member("admin-zul", true, true),
            admin_member("admin-bersara", false, true),
            admin_member("admin-senyap", true, false),
            quiet.clone(),
        ]
        .into_iter()
        .map(|m| (m.id.to_string(), m))
        .collect();
        let by_herself = preferences_changed(actor("pic-aminah", Role::Pic), false, false);
        let sent = staff_notifications(20, &by_herself, &quiet, &staff);
        assert_eq!(
            told(&sent),
            [("admin-siti", Channel::Email), ("admin-zul", Channel::Email)],
            "active admins who kept e-mail on"
        );
        let n = &sent[0];
        assert_eq!((n.complaint_id, n.complaint_number.as_str()), (Uuid::nil(), ""), "no complaint's");
        assert_eq!(
            (n.template, n.recipient_role, n.address.as_str()),
            (Template::Notice, "admin", "admin-siti@example.gov.my")
        );
        assert_eq!(n.params.len(), n.template.parameter_count());
        assert_eq!(n.subject, "Notifikasi dimatikan: Aminah / Notifications turned off: Aminah");
        assert!(n.body.starts_with("Aminah (pic-aminah) telah mematikan notifikasi e-mel dan WhatsApp"), "{}", n.body);
        assert!(
            n.body.contains("Aminah (pic-aminah) has turned off e-mail and WhatsApp notifications; assignments will still be e-mailed."),
            "{}",
            n.body
        );
        assert_eq!(sent, staff_notifications(20, &by_herself, &quiet, &staff), "a replay writes the same rows");

        // An admin who made the change is not told of it; the body says who did.
        let by_admin = preferences_changed(actor("admin-siti", Role::Admin), false, false);
        let sent = staff_notifications(21, &by_admin, &quiet, &staff);
        assert_eq!(told(&sent), [("admin-zul", Channel::Email)]);
        assert!(sent[0].body.contains("admin-siti has turned off e-mail and WhatsApp notifications for Aminah"));

        // One channel still on: nothing to warn of.
        let mut email_only = quiet.clone();
        email_only.notification_preferences = NotificationPreferences { email: true, whatsapp: false };
        let one_off = preferences_changed(actor("pic-aminah", Role::Pic), true, false);
        assert!(staff_notifications(22, &one_off, &email_only, &staff).is_empty());
    }

    #[test]
    fn internal_steps_are_marked_internal() {
        let (c, r) = logged();
        assert_eq!(timeline_row(1, &r, &c).visibility, "public");
        let note = recorded(
            ComplaintEvent::InternalNoteAdded(InternalNoteAdded { message: text("x") }),
            actor("pic-aminah", Role::Pic),
        );
        let row = timeline_row(2, &note, &c);
        assert_eq!((row.visibility, row.event_type, row.status), ("internal", "InternalNoteAdded", "new"));
    }
}
