//! Every transition and every refusal of the complaint aggregate, then property tests:
//! any sequence of commands leaves a valid state, and replaying the events reproduces it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::actor::{Actor, Role};
use crate::aggregate::{Aggregate, Context, DomainEvent, Recorded};
use crate::category::CategoryCode;
use crate::error::DomainError;
use crate::staff::StaffMember;
use crate::validation::{Email, IcNumber, PhoneNumber, StaffId, Text};

fn id(raw: &str) -> StaffId {
    StaffId::parse("id", raw).unwrap()
}

fn text(raw: &str) -> Text {
    Text::parse("text", raw, 1, 5000).unwrap()
}

fn actor(raw: &str, role: Role) -> Actor {
    Actor::new(id(raw), role, raw.to_uppercase())
}

fn owner() -> Actor {
    actor("pengadu-ali", Role::Complainant)
}
fn stranger() -> Actor {
    actor("pengadu-lain", Role::Complainant)
}
fn admin() -> Actor {
    actor("admin-siti", Role::Admin)
}
fn pic() -> Actor {
    actor("pic-aminah", Role::Pic)
}
fn other_pic() -> Actor {
    actor("pic-bakar", Role::Pic)
}
fn implementor() -> Actor {
    actor("impl-chong", Role::Implementor)
}
fn auditor() -> Actor {
    actor("audit-devi", Role::Auditor)
}

fn member(raw: &str, roles: &[Role], categories: &[&str], active: bool) -> StaffMember {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    StaffMember {
        id: id(raw),
        ic_number: IcNumber::parse("ic", "880808035555").unwrap(),
        name: text(&format!("Nama {raw}")),
        email: Email::parse("e", &format!("{raw}@example.gov.my")).unwrap(),
        phone: PhoneNumber::parse("p", "013-555 0000").unwrap(),
        ptj: text("Perbendaharaan Negeri"),
        roles: roles.iter().copied().collect(),
        categories: categories.iter().map(|c| CategoryCode::parse("c", c).unwrap()).collect(),
        active,
        notification_preferences: Default::default(),
        registered_at: t0,
        updated_at: t0,
    }
}

fn directory() -> HashMap<StaffId, StaffMember> {
    [
        member("pic-aminah", &[Role::Pic], &["AC", "PAYROLL"], true),
        member("pic-bakar", &[Role::Pic], &["GL"], true),
        member("pic-lama", &[Role::Pic], &["AC"], false),
        member("impl-chong", &[Role::Implementor], &[], true),
        member("staf-biasa", &[Role::Complainant], &[], true),
    ]
    .into_iter()
    .map(|m| (m.id.clone(), m))
    .collect()
}

fn complainant_details(owner_id: &str) -> ComplainantDetails {
    ComplainantDetails {
        id: id(owner_id),
        ic_number: IcNumber::parse("ic", "900101-03-5678").unwrap(),
        name: text("Ali bin Abu"),
        email: Email::parse("e", "ali@example.gov.my").unwrap(),
        phone: PhoneNumber::parse("p", "012-345 6789").unwrap(),
        ptj: text("Jabatan Kerja Raya Negeri"),
    }
}

fn log_command(owner_id: &str, channel: Channel) -> ComplaintCommand {
    ComplaintCommand::Log(Box::new(LogComplaint {
        number: complaint_number(2026, 1),
        complainant: complainant_details(owner_id),
        category: CategoryCode::parse("c", "AC").unwrap(),
        title: text("Amaun salah pada baris arahan bayaran"),
        description: text("Amaun yang dicaj pada baris kedua tidak sama dengan invois."),
        channel,
        reference: Some(text("BV-2026-0101")),
    }))
}

/// A complaint under test: its events so far, its state, and a clock.
struct World {
    id: Uuid,
    log: Vec<Recorded<ComplaintEvent>>,
    state: Option<Complaint>,
    now: DateTime<Utc>,
    directory: HashMap<StaffId, StaffMember>,
}

impl World {
    fn new() -> Self {
        Self {
            id: Uuid::now_v7(),
            log: vec![],
            state: None,
            now: Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap(),
            directory: directory(),
        }
    }

    fn logged() -> Self {
        let mut w = Self::new();
        w.ok(&owner(), log_command("pengadu-ali", Channel::Web));
        w
    }

    fn assigned() -> Self {
        let mut w = Self::logged();
        w.ok(&admin(), ComplaintCommand::Assign { pic_id: id("pic-aminah"), note: None });
        w
    }

    fn try_cmd(&mut self, actor: &Actor, command: ComplaintCommand) -> Result<Vec<ComplaintEvent>, DomainError> {
        self.now += Duration::hours(1);
        let ctx = Context { actor, now: self.now, directory: &self.directory };
        let events = vec![Complaint::decide(self.state.as_ref(), &command, &ctx)?];
        for event in &events {
            let recorded = Recorded { event: event.clone(), occurred_at: self.now, actor: actor.clone() };
            self.state = Some(Complaint::apply(self.state.take(), &self.id, &recorded).expect("decided events apply"));
            self.log.push(recorded);
        }
        Ok(events)
    }

    fn ok(&mut self, actor: &Actor, command: ComplaintCommand) -> ComplaintEvent {
        let mut events = self.try_cmd(actor, command).expect("command accepted");
        assert_eq!(events.len(), 1);
        events.remove(0)
    }

    fn refused(&mut self, actor: &Actor, command: ComplaintCommand) -> &'static str {
        let before = self.state.clone();
        let code = self.try_cmd(actor, command).expect_err("command refused").code();
        assert_eq!(self.state, before, "a refusal changes nothing");
        code
    }

    fn state(&self) -> &Complaint {
        self.state.as_ref().unwrap()
    }

    fn status(&self) -> Status {
        self.state().status
    }
}

fn respond(status: ResponseStatus) -> ComplaintCommand {
    ComplaintCommand::Respond { message: text("Sila semak semula."), status }
}
fn reply() -> ComplaintCommand {
    ComplaintCommand::Reply { message: text("Sudah disemak.") }
}
fn refer() -> ComplaintCommand {
    ComplaintCommand::ReferToImplementor { implementor_id: id("impl-chong"), message: text("Mohon bantuan.") }
}
fn escalate(vendor: Vendor) -> ComplaintCommand {
    ComplaintCommand::EscalateToVendor {
        vendor,
        vendor_log_number: Some(text("TTSB-2026-0042")),
        message: text("Dirujuk ke vendor."),
    }
}
fn vendor_update() -> ComplaintCommand {
    ComplaintCommand::RecordVendorUpdate { message: text("Vendor sedang menyemak."), vendor_log_number: None }
}
fn note() -> ComplaintCommand {
    ComplaintCommand::AddInternalNote { message: text("Nota dalaman.") }
}
fn close_by_complainant() -> ComplaintCommand {
    ComplaintCommand::Close {
        reason: None,
        rating: Some(Rating::parse("rating", 5).unwrap()),
        comment: Some(text("Terima kasih")),
    }
}
fn close_by_admin() -> ComplaintCommand {
    ComplaintCommand::Close { reason: Some(text("Pendua aduan ADU-2026-000007")), rating: None, comment: None }
}
fn reopen() -> ComplaintCommand {
    ComplaintCommand::Reopen { reason: text("Masalah berulang.") }
}

#[test]
fn the_whole_flow_of_domain_md() {
    let mut w = World::new();
    let logged = w.ok(&owner(), log_command("pengadu-ali", Channel::Web));
    assert_eq!(logged.event_type(), "ComplaintLogged");
    assert_eq!((w.status(), w.status().label_ms()), (Status::New, "BARU"));
    assert_eq!(w.state().number, "ADU-2026-000001");

    let ComplaintEvent::ComplaintAssigned(assigned) =
        w.ok(&admin(), ComplaintCommand::Assign { pic_id: id("pic-aminah"), note: Some(text("Sila ambil tindakan")) })
    else {
        panic!("expected an assignment")
    };
    assert!(assigned.covers_category);
    assert_eq!(assigned.pic_name, "Nama pic-aminah");
    assert_eq!((w.status(), w.status().label_ms()), (Status::Assigned, "DITUGASKAN"));
    assert_eq!(w.state().assigned_at, Some(w.now));

    w.ok(&pic(), respond(ResponseStatus::AwaitingComplainant));
    assert_eq!(w.status().label_ms(), "MOHON MAKLUMBALAS PENGADU");
    assert_eq!(w.state().first_response_at, Some(w.now));
    let first_response = w.now;

    w.ok(&owner(), reply());
    assert_eq!(w.status(), Status::InProgress);

    w.ok(&pic(), refer());
    assert_eq!((w.status(), w.status().label_ms()), (Status::WithImplementor, "RUJUK IMPLEMENTOR"));
    assert_eq!(w.state().implementor.as_ref().unwrap().id, id("impl-chong"));

    w.ok(&implementor(), note());
    w.ok(&pic(), escalate(Vendor::Ttsb));
    assert_eq!((w.status(), w.status().label_ms()), (Status::WithVendor, "DALAM TINDAKAN VENDOR"));
    assert_eq!(w.state().vendor_log_number.as_ref().unwrap().as_str(), "TTSB-2026-0042");

    w.ok(
        &pic(),
        ComplaintCommand::RecordVendorUpdate {
            message: text("Dibaiki"),
            vendor_log_number: Some(text("TTSB-2026-0043")),
        },
    );
    assert_eq!(w.state().vendor_log_number.as_ref().unwrap().as_str(), "TTSB-2026-0043");
    assert_eq!(w.status(), Status::WithVendor, "a vendor update keeps the status");

    w.ok(&pic(), respond(ResponseStatus::PendingClosure));
    assert_eq!(w.status().label_ms(), "MOHON PENGADU TUTUP ADUAN");
    assert_eq!(w.state().first_response_at, Some(first_response), "the first response time is kept");

    w.ok(&owner(), close_by_complainant());
    let c = w.state();
    assert_eq!((c.status, c.status.label_ms()), (Status::Closed, "SELESAI"));
    assert_eq!(c.closed_by, Some(ClosedBy::Complainant));
    assert_eq!(c.satisfaction.as_ref().unwrap().rating, Some(5));
    assert_eq!(c.version, w.log.len() as u64);
    assert_eq!(c.last_activity_at, w.now);
}

#[test]
fn an_admin_logs_on_behalf_of_a_complainant_who_then_owns_it() {
    let mut w = World::new();
    w.ok(&admin(), log_command("pengadu-ali", Channel::Phone));
    assert_eq!(w.state().channel, Channel::Phone);
    assert_eq!(w.state().logged_by, admin());
    assert_eq!(w.state().complainant.id, id("pengadu-ali"));
    w.ok(&admin(), ComplaintCommand::Assign { pic_id: id("pic-aminah"), note: None });
    assert_eq!(w.refused(&admin(), reply()), "role_not_allowed", "an admin cannot forge the complainant's reply");
    w.ok(&owner(), reply());
    w.ok(&owner(), close_by_complainant());
}

#[test]
fn who_may_log() {
    let mut w = World::new();
    assert_eq!(w.refused(&stranger(), log_command("pengadu-ali", Channel::Web)), "cannot_log_for_others");
    assert_eq!(w.refused(&owner(), log_command("pengadu-ali", Channel::WalkIn)), "channel_not_allowed");
    for someone in [pic(), implementor(), auditor()] {
        assert_eq!(w.refused(&someone, log_command("pengadu-ali", Channel::Web)), "role_not_allowed");
    }
    let mut w = World::logged();
    assert_eq!(w.refused(&owner(), log_command("pengadu-ali", Channel::Web)), "complaint_exists");
}

#[test]
fn commands_on_a_complaint_never_logged_are_not_found() {
    for command in [respond(ResponseStatus::InProgress), reply(), note(), close_by_admin(), reopen()] {
        assert_eq!(World::new().refused(&admin(), command), "complaint_not_found");
    }
}

#[test]
fn auditors_change_nothing() {
    let mut w = World::assigned();
    for command in [respond(ResponseStatus::InProgress), reply(), note(), close_by_admin(), reopen(), refer()] {
        assert_eq!(w.refused(&auditor(), command), "role_not_allowed");
    }
}

#[test]
fn assignment_rules() {
    let mut w = World::logged();
    let assign_aminah = || ComplaintCommand::Assign { pic_id: id("pic-aminah"), note: None };
    assert_eq!(w.refused(&owner(), assign_aminah()), "role_not_allowed");
    // Staff the complaint does not concern do not learn that it exists.
    for someone in [pic(), implementor()] {
        assert_eq!(w.refused(&someone, assign_aminah()), "complaint_not_found");
    }
    let assign = |raw: &str| ComplaintCommand::Assign { pic_id: id(raw), note: None };
    assert_eq!(w.refused(&admin(), assign("pic-tiada")), "staff_not_found");
    assert_eq!(w.refused(&admin(), assign("pic-lama")), "staff_inactive");
    assert_eq!(w.refused(&admin(), assign("staf-biasa")), "staff_lacks_role");
    assert_eq!(w.refused(&admin(), assign("impl-chong")), "staff_lacks_role");

    let ComplaintEvent::ComplaintAssigned(first) = w.ok(&admin(), assign("pic-bakar")) else { panic!() };
    assert!(!first.covers_category, "pic-bakar covers GL, not AC: allowed but flagged");
    assert_eq!(first.previous_pic_id, None);
    assert_eq!(w.refused(&admin(), assign("pic-bakar")), "already_assigned");

    w.ok(&pic_bakar(), respond(ResponseStatus::AwaitingComplainant));
    let ComplaintEvent::ComplaintAssigned(second) = w.ok(&admin(), assign("pic-aminah")) else { panic!() };
    assert_eq!(second.previous_pic_id, Some(id("pic-bakar")));
    assert_eq!(w.status(), Status::AwaitingComplainant, "reassignment keeps the stage");
    assert_eq!(w.state().pic_id(), Some(&id("pic-aminah")));
    assert_eq!(w.refused(&pic_bakar(), note()), "complaint_not_found", "the previous PIC lost it");
}

fn pic_bakar() -> Actor {
    other_pic()
}

#[test]
fn pic_work_needs_an_assignment_and_the_right_pic() {
    let mut w = World::logged();
    for command in [respond(ResponseStatus::InProgress), refer(), escalate(Vendor::Bkp), note()] {
        assert_eq!(w.refused(&admin(), command.clone()), "not_assigned");
        assert_eq!(w.refused(&pic(), command), "complaint_not_found", "not assigned to them (yet)");
    }
    let mut w = World::assigned();
    for command in [respond(ResponseStatus::InProgress), refer(), escalate(Vendor::Bkp), note()] {
        assert_eq!(w.refused(&other_pic(), command.clone()), "complaint_not_found");
        assert_eq!(w.refused(&owner(), command.clone()), "role_not_allowed");
        assert_eq!(w.refused(&implementor(), command), "complaint_not_found", "not referred to them");
    }
    w.ok(&admin(), respond(ResponseStatus::InProgress));
    assert_eq!(w.status(), Status::InProgress);
    w.ok(&admin(), note());
}

#[test]
fn responding_sets_the_chosen_status() {
    for (status, expected) in [
        (ResponseStatus::InProgress, Status::InProgress),
        (ResponseStatus::AwaitingComplainant, Status::AwaitingComplainant),
        (ResponseStatus::PendingClosure, Status::PendingClosure),
    ] {
        let mut w = World::assigned();
        w.ok(&pic(), respond(status));
        assert_eq!(w.status(), expected);
    }
}

#[test]
fn only_the_owner_replies_and_a_reply_reopens_the_conversation() {
    let mut w = World::logged();
    w.ok(&owner(), reply());
    assert_eq!(w.status(), Status::New, "a reply does not assign");
    let mut w = World::assigned();
    assert_eq!(w.refused(&stranger(), reply()), "complaint_not_found");
    assert_eq!(w.refused(&pic(), reply()), "role_not_allowed");
    w.ok(&pic(), respond(ResponseStatus::PendingClosure));
    w.ok(&owner(), reply());
    assert_eq!(w.status(), Status::InProgress, "not solved after all");
    w.ok(&pic(), escalate(Vendor::Bkp));
    w.ok(&owner(), reply());
    assert_eq!(w.status(), Status::WithVendor, "a reply while with the vendor keeps the stage");
}

#[test]
fn referral_and_escalation_rules() {
    let mut w = World::assigned();
    w.ok(&pic(), refer());
    assert_eq!(w.refused(&pic(), refer()), "already_with_implementor");
    let bad = ComplaintCommand::ReferToImplementor { implementor_id: id("pic-bakar"), message: text("x") };
    let mut fresh = World::assigned();
    assert_eq!(fresh.refused(&pic(), bad), "staff_lacks_role");

    assert_eq!(w.refused(&pic(), vendor_update()), "not_with_vendor");
    w.ok(&pic(), escalate(Vendor::Bkp));
    assert_eq!(w.state().vendor, Some(Vendor::Bkp));
    assert_eq!(w.refused(&pic(), escalate(Vendor::Bkp)), "already_with_vendor");
    w.ok(&pic(), escalate(Vendor::Ttsb));
    assert_eq!(w.state().vendor, Some(Vendor::Ttsb));
    w.ok(&pic(), vendor_update());
    assert_eq!(w.state().vendor_log_number.as_ref().unwrap().as_str(), "TTSB-2026-0042", "kept when none given");
}

#[test]
fn internal_notes_by_pic_admin_and_the_referred_implementor_only() {
    let mut w = World::assigned();
    assert_eq!(w.refused(&implementor(), note()), "complaint_not_found");
    assert_eq!(w.refused(&owner(), note()), "role_not_allowed");
    w.ok(&pic(), note());
    w.ok(&admin(), note());
    w.ok(&pic(), refer());
    w.ok(&implementor(), note());
    let someone_else = actor("impl-lain", Role::Implementor);
    assert_eq!(w.refused(&someone_else, note()), "complaint_not_found");
}

#[test]
fn closing_rules() {
    let mut w = World::assigned();
    assert_eq!(w.refused(&stranger(), close_by_complainant()), "complaint_not_found");
    assert_eq!(w.refused(&pic(), close_by_admin()), "role_not_allowed");
    let no_reason = ComplaintCommand::Close { reason: None, rating: None, comment: None };
    assert_eq!(w.refused(&admin(), no_reason), "reason_required");
    let admin_rating = ComplaintCommand::Close {
        reason: Some(text("Selesai")),
        rating: Some(Rating::parse("rating", 3).unwrap()),
        comment: None,
    };
    assert_eq!(w.refused(&admin(), admin_rating), "rating_only_by_complainant");
    w.ok(&admin(), close_by_admin());
    assert_eq!(w.state().closed_by, Some(ClosedBy::Admin));
    assert_eq!(w.state().satisfaction, None);

    // Nothing but reopen happens to a closed complaint.
    for (who, command) in [
        (admin(), ComplaintCommand::Assign { pic_id: id("pic-bakar"), note: None }),
        (pic(), respond(ResponseStatus::InProgress)),
        (owner(), reply()),
        (pic(), refer()),
        (pic(), escalate(Vendor::Bkp)),
        (pic(), note()),
        (owner(), close_by_complainant()),
        (admin(), close_by_admin()),
    ] {
        assert_eq!(w.refused(&who, command), "complaint_closed");
    }
}

#[test]
fn closing_with_a_comment_but_no_rating() {
    let mut w = World::assigned();
    w.ok(&owner(), ComplaintCommand::Close { reason: None, rating: None, comment: Some(text("OK")) });
    let s = w.state().satisfaction.clone().unwrap();
    assert_eq!((s.rating, s.comment.unwrap().as_str().to_owned()), (None, "OK".to_owned()));
    let mut w = World::assigned();
    w.ok(&owner(), ComplaintCommand::Close { reason: None, rating: None, comment: None });
    assert_eq!(w.state().satisfaction, None);
}

#[test]
fn ratings_are_one_to_five() {
    for ok in 1..=5 {
        assert_eq!(Rating::parse("rating", ok).unwrap().value() as i64, ok);
    }
    for bad in [0, 6, -1, 256, i64::MAX] {
        assert_eq!(Rating::parse("rating", bad).unwrap_err().code, "invalid_rating");
    }
}

#[test]
fn reopening_rules() {
    let mut w = World::assigned();
    assert_eq!(w.refused(&owner(), reopen()), "not_closed");
    w.ok(&owner(), close_by_complainant());
    assert_eq!(w.refused(&admin(), reopen()), "role_not_allowed");
    assert_eq!(w.refused(&pic(), reopen()), "role_not_allowed");
    assert_eq!(w.refused(&stranger(), reopen()), "complaint_not_found");
    w.now += Duration::days(13);
    w.ok(&owner(), reopen());
    let c = w.state();
    assert_eq!((c.status, c.closed_at, c.reopen_count, c.satisfaction.clone()), (Status::InProgress, None, 1, None));

    w.ok(&owner(), close_by_complainant());
    w.now += Duration::days(14) + Duration::minutes(1);
    assert_eq!(w.refused(&owner(), reopen()), "reopen_window_expired");

    // A complaint closed before anyone was assigned goes back to the triage queue.
    let mut w = World::logged();
    w.ok(&admin(), close_by_admin());
    w.ok(&owner(), reopen());
    assert_eq!(w.status(), Status::New);
}

#[test]
fn an_impossible_history_is_a_replay_error_not_a_panic() {
    let w = World::assigned();
    let id = Uuid::now_v7();
    assert!(Complaint::fold(&id, &w.log[1..]).is_err(), "assignment before logging");
    let twice = [w.log[0].clone(), w.log[0].clone()];
    assert!(Complaint::fold(&id, &twice).is_err(), "logged twice");
    assert_eq!(Complaint::fold(&id, &[]).unwrap(), None);
}

#[test]
fn every_event_type_round_trips_through_its_wire_form() {
    let mut w = World::assigned();
    w.ok(&pic(), respond(ResponseStatus::AwaitingComplainant));
    w.ok(&owner(), reply());
    w.ok(&pic(), refer());
    w.ok(&pic(), escalate(Vendor::Ttsb));
    w.ok(&pic(), vendor_update());
    w.ok(&pic(), note());
    w.ok(&owner(), close_by_complainant());
    w.ok(&owner(), reopen());
    let mut seen: Vec<_> = w.log.iter().map(|r| r.event.event_type()).collect();
    seen.sort();
    seen.dedup();
    let mut all = ComplaintEvent::TYPES.to_vec();
    all.sort();
    assert_eq!(seen, all, "the flow above writes every event type");
    for r in &w.log {
        let version = ComplaintEvent::current_version(r.event.event_type()).unwrap();
        let decoded = ComplaintEvent::decode(r.event.event_type(), version, r.event.to_data()).unwrap();
        assert_eq!(decoded, r.event);
    }
}

// ---- property tests ----

fn any_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(owner()),
        Just(stranger()),
        Just(admin()),
        Just(pic()),
        Just(other_pic()),
        Just(implementor()),
        Just(auditor()),
    ]
}

fn any_command() -> impl Strategy<Value = ComplaintCommand> {
    prop_oneof![
        prop_oneof![Just(Channel::Web), Just(Channel::Phone)].prop_map(|c| log_command("pengadu-ali", c)),
        prop_oneof![Just("pic-aminah"), Just("pic-bakar"), Just("pic-lama"), Just("impl-chong")]
            .prop_map(|p| ComplaintCommand::Assign { pic_id: id(p), note: None }),
        prop_oneof![
            Just(ResponseStatus::InProgress),
            Just(ResponseStatus::AwaitingComplainant),
            Just(ResponseStatus::PendingClosure)
        ]
        .prop_map(respond),
        Just(reply()),
        Just(refer()),
        prop_oneof![Just(Vendor::Bkp), Just(Vendor::Ttsb)].prop_map(escalate),
        Just(vendor_update()),
        Just(note()),
        Just(close_by_complainant()),
        Just(close_by_admin()),
        Just(reopen()),
    ]
}

fn assert_valid(c: &Complaint, events: usize) {
    assert_eq!(c.status == Status::Closed, c.closed_at.is_some());
    assert_eq!(c.status == Status::Closed, c.closed_by.is_some());
    match c.status {
        Status::New => assert!(c.pic.is_none(), "a new complaint has no PIC"),
        Status::Closed => {}
        _ => assert!(c.pic.is_some(), "{:?} needs a PIC", c.status),
    }
    if c.status == Status::WithVendor {
        assert!(c.vendor.is_some());
    }
    if c.status == Status::WithImplementor {
        assert!(c.implementor.is_some());
    }
    if c.satisfaction.is_some() {
        assert_eq!(c.closed_by, Some(ClosedBy::Complainant));
    }
    assert!(c.first_response_at.is_none() || c.assigned_at.is_some());
    assert_eq!(c.version, events as u64);
    assert!(c.last_activity_at >= c.logged_at);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_command_sequence_keeps_a_valid_state_and_replay_reproduces_it(
        steps in prop::collection::vec((any_actor(), any_command(), 0i64..400), 1..40)
    ) {
        let mut w = World::new();
        for (who, command, hours) in steps {
            w.now += Duration::hours(hours);
            let before = w.state.clone();
            match w.try_cmd(&who, command) {
                Ok(events) => prop_assert_eq!(events.len(), 1),
                Err(_) => prop_assert_eq!(&w.state, &before),
            }
            if let Some(state) = &w.state {
                assert_valid(state, w.log.len());
            }
        }
        let replayed = Complaint::fold(&w.id, &w.log).expect("the log replays");
        prop_assert_eq!(replayed, w.state.clone());
        // And through the wire form, as the services store and read it.
        let decoded: Vec<_> = w.log.iter().map(|r| {
            let bytes = crate::envelope::encode::<Complaint>(&w.id, r);
            crate::envelope::decode::<Complaint>(&bytes).expect("decodes").recorded
        }).collect();
        prop_assert_eq!(Complaint::fold(&w.id, &decoded).expect("replays"), w.state);
    }

    #[test]
    fn every_decided_event_passes_the_rules_replayed_over_the_log(
        steps in prop::collection::vec((any_actor(), any_command(), 0i64..400), 1..40)
    ) {
        let mut w = World::new();
        for (who, command, hours) in steps {
            w.now += Duration::hours(hours);
            let _ = w.try_cmd(&who, command);
        }
        let mut state = None;
        for recorded in &w.log {
            prop_assert_eq!(Complaint::check_recorded(state.as_ref(), recorded, &w.directory), Ok(()));
            state = Some(Complaint::apply(state, &w.id, recorded).expect("applies"));
        }
    }

    #[test]
    fn decide_is_deterministic(steps in prop::collection::vec((any_actor(), any_command()), 1..20)) {
        let mut w = World::new();
        for (who, command) in steps {
            let ctx = Context { actor: &who, now: w.now, directory: &w.directory };
            let first = Complaint::decide(w.state.as_ref(), &command, &ctx);
            let second = Complaint::decide(w.state.as_ref(), &command, &ctx);
            prop_assert_eq!(&first, &second);
            let _ = w.try_cmd(&who, command);
        }
    }
}

#[test]
fn the_replayed_rules_find_what_decide_would_have_refused() {
    let mut w = World::assigned();
    w.ok(&owner(), ComplaintCommand::Close { reason: None, rating: None, comment: None });
    let closed = w.state.clone();
    let at = w.now + Duration::hours(1);
    let illegal = |event: ComplaintEvent, actor: Actor| Recorded { event, occurred_at: at, actor };
    let response = illegal(
        ComplaintEvent::ComplaintResponded(ComplaintResponded {
            message: text("Sudah dibaiki"),
            status: ResponseStatus::InProgress,
        }),
        pic(),
    );
    let check = |recorded: &Recorded<ComplaintEvent>| {
        Complaint::check_recorded(closed.as_ref(), recorded, &w.directory).map_err(|e| e.code())
    };
    assert_eq!(check(&response), Err("complaint_closed"), "nothing but a reopen after a close");
    let reply = illegal(ComplaintEvent::ComplainantReplied(ComplainantReplied { message: text("Masih ada") }), owner());
    assert_eq!(check(&reply), Err("complaint_closed"));
    let reopen = illegal(ComplaintEvent::ComplaintReopened(ComplaintReopened { reason: text("Berulang") }), owner());
    assert_eq!(check(&reopen), Ok(()));
    let reopen_by_stranger =
        illegal(ComplaintEvent::ComplaintReopened(ComplaintReopened { reason: text("Berulang") }), stranger());
    assert!(check(&reopen_by_stranger).is_err(), "only its complainant reopens");
    // An event for a complaint never logged, and a second "logged".
    assert_eq!(
        Complaint::check_recorded(None, &response, &w.directory).map_err(|e| e.code()),
        Err("complaint_not_found")
    );
    let relogged = w.log[0].clone();
    assert_eq!(check(&relogged), Err("complaint_exists"));
}

#[test]
fn replies_and_reopenings_that_page_the_pic_are_limited() {
    let mut w = World::assigned();
    for _ in 0..MAX_REPLIES_WITHOUT_ANSWER {
        w.ok(&owner(), reply());
    }
    assert_eq!(w.refused(&owner(), reply()), "reply_limit_reached");
    w.ok(&pic(), respond(ResponseStatus::InProgress));
    w.ok(&owner(), reply());
    assert_eq!(w.state().replies_since_answer, 1, "an answer starts the count again");

    for _ in 0..MAX_REOPENS {
        w.ok(&owner(), close_by_complainant());
        w.ok(&owner(), reopen());
    }
    w.ok(&owner(), close_by_complainant());
    assert_eq!(w.refused(&owner(), reopen()), "reopen_limit_reached");
    assert_eq!(w.state().reopen_count, MAX_REOPENS);
}
