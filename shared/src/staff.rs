//! The staff directory aggregate: who exists, how to reach them (and on which channels they
//! want to be told), which roles they hold and which categories a PIC covers. One aggregate
//! per member of staff.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::actor::{Actor, Role};
use crate::aggregate::{Aggregate, Context, DecodeError, DomainEvent, Recorded, ReplayError};
use crate::category::CategoryCode;
use crate::error::DomainError;
use crate::stored::staff as stored;
use crate::validation::{Email, IcNumber, PhoneNumber, StaffId, Text};

/// The domain state; the read model stores [`crate::stored::state::StoredStaffMember`] and
/// the API answers with its own view, so each can change alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: StaffId,
    pub ic_number: IcNumber,
    pub name: Text,
    pub email: Email,
    pub phone: PhoneNumber,
    pub ptj: Text,
    pub roles: BTreeSet<Role>,
    pub categories: BTreeSet<CategoryCode>,
    pub active: bool,
    /// How they want to be told (issue 15, "No floods").
    pub notification_preferences: NotificationPreferences,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The channels a member of staff wants notifications on. Both are on until they say
/// otherwise, which is also how everyone registered before the choice existed reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotificationPreferences {
    pub email: bool,
    pub whatsapp: bool,
}

impl Default for NotificationPreferences {
    fn default() -> Self {
        Self { email: true, whatsapp: true }
    }
}

impl NotificationPreferences {
    /// Both channels off: they hear of nothing but assignments, which still come by e-mail
    /// (nobody may miss a complaint handed to them), so the admins are warned.
    pub fn all_off(self) -> bool {
        !self.email && !self.whatsapp
    }
}

impl StaffMember {
    /// What the directory lets this member of staff do (see [`crate::access`]).
    pub fn standing(&self) -> crate::access::Standing {
        crate::access::Standing { roles: self.roles.clone(), active: self.active, name: self.name.as_str().to_owned() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRegistered {
    pub ic_number: IcNumber,
    pub name: Text,
    pub email: Email,
    pub phone: PhoneNumber,
    pub ptj: Text,
    pub roles: BTreeSet<Role>,
    pub categories: BTreeSet<CategoryCode>,
}

/// Only the fields that changed are present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffUpdated {
    pub name: Option<Text>,
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub ptj: Option<Text>,
    pub roles: Option<BTreeSet<Role>>,
    pub categories: Option<BTreeSet<CategoryCode>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffDeactivated {
    pub reason: Text,
}

/// The channels a member of staff wants to be told on, as a whole (not a change): the event
/// reads on its own in an audit history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationPreferencesChanged {
    pub email: bool,
    pub whatsapp: bool,
}

impl From<NotificationPreferencesChanged> for NotificationPreferences {
    fn from(e: NotificationPreferencesChanged) -> Self {
        NotificationPreferences { email: e.email, whatsapp: e.whatsapp }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr, strum::VariantNames)]
pub enum StaffEvent {
    StaffRegistered(StaffRegistered),
    StaffUpdated(StaffUpdated),
    NotificationPreferencesChanged(NotificationPreferencesChanged),
    StaffDeactivated(StaffDeactivated),
}

impl StaffEvent {
    /// The wire `type`s, from the variants (see `ComplaintEvent::TYPES`).
    pub const TYPES: &'static [&'static str] = <Self as strum::VariantNames>::VARIANTS;
}

// Read and written through the stored schema (`crate::stored::staff`), as complaint events.
impl DomainEvent for StaffEvent {
    fn event_type(&self) -> &'static str {
        self.into()
    }

    fn to_data(&self) -> Value {
        stored::StoredStaffEvent::from(self).to_data()
    }

    fn current_version(event_type: &str) -> Option<u32> {
        stored::current_version(event_type)
    }

    fn decode(event_type: &str, version: u32, data: Value) -> Result<Self, DecodeError> {
        stored::decode(event_type, version, data).map(Self::from)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffCommand {
    Register(Box<StaffRegistered>),
    Update(Box<StaffUpdated>),
    SetNotificationPreferences(NotificationPreferences),
    Deactivate { reason: Text },
}

impl StaffCommand {
    pub fn name(&self) -> &'static str {
        match self {
            StaffCommand::Register(_) => "register_staff",
            StaffCommand::Update(_) => "update_staff",
            StaffCommand::SetNotificationPreferences(_) => "set_notification_preferences",
            StaffCommand::Deactivate { .. } => "deactivate_staff",
        }
    }
}

/// Who may give `command` on the member of staff `target` (`None`: nobody registered under
/// that id). Admins manage the whole directory; anyone else acting in a staff role may
/// choose only how they themselves are told. Complainants need no directory entry, so
/// they have no preferences in it to change, whatever their id.
fn authorise(actor: &Actor, target: Option<&StaffMember>, command: &StaffCommand) -> Result<(), DomainError> {
    if actor.is(Role::Admin) {
        return Ok(());
    }
    match command {
        StaffCommand::SetNotificationPreferences(_)
            if actor.role != Role::Complainant && target.is_some_and(|t| t.id == actor.id) =>
        {
            Ok(())
        }
        StaffCommand::SetNotificationPreferences(_) => Err(DomainError::RoleNotAllowed {
            role: actor.role.as_str(),
            action: "change another member of staff's notification preferences",
        }),
        _ => Err(DomainError::RoleNotAllowed { role: actor.role.as_str(), action: "manage the staff directory" }),
    }
}

impl Aggregate for StaffMember {
    type Id = StaffId;
    type Event = StaffEvent;
    type Command = StaffCommand;

    const SUBJECT_KIND: &'static str = "staff";
    const ID_FIELD: &'static str = "staff_id";

    fn parse_id(raw: &str) -> Option<StaffId> {
        StaffId::parse("staff_id", raw).ok()
    }

    fn apply(state: Option<Self>, id: &StaffId, recorded: &Recorded<StaffEvent>) -> Result<Self, ReplayError> {
        let at = recorded.occurred_at;
        match (state, &recorded.event) {
            (None, StaffEvent::StaffRegistered(e)) => Ok(StaffMember {
                id: id.clone(),
                ic_number: e.ic_number.clone(),
                name: e.name.clone(),
                email: e.email.clone(),
                phone: e.phone.clone(),
                ptj: e.ptj.clone(),
                roles: e.roles.clone(),
                categories: e.categories.clone(),
                active: true,
                notification_preferences: NotificationPreferences::default(),
                registered_at: at,
                updated_at: at,
            }),
            (Some(_), StaffEvent::StaffRegistered(_)) => {
                Err(ReplayError { event_type: "StaffRegistered", state: "a registered member of staff" })
            }
            (None, other) => {
                Err(ReplayError { event_type: other.event_type(), state: "an unregistered member of staff" })
            }
            (Some(mut s), StaffEvent::StaffUpdated(u)) => {
                if let Some(v) = &u.name {
                    s.name = v.clone();
                }
                if let Some(v) = &u.email {
                    s.email = v.clone();
                }
                if let Some(v) = &u.phone {
                    s.phone = v.clone();
                }
                if let Some(v) = &u.ptj {
                    s.ptj = v.clone();
                }
                if let Some(v) = &u.roles {
                    s.roles = v.clone();
                }
                if let Some(v) = &u.categories {
                    s.categories = v.clone();
                }
                s.updated_at = at;
                Ok(s)
            }
            (Some(mut s), StaffEvent::NotificationPreferencesChanged(p)) => {
                s.notification_preferences = (*p).into();
                s.updated_at = at;
                Ok(s)
            }
            (Some(mut s), StaffEvent::StaffDeactivated(_)) => {
                s.active = false;
                s.updated_at = at;
                Ok(s)
            }
        }
    }

    fn command_of(event: &StaffEvent) -> Result<StaffCommand, DomainError> {
        Ok(match event {
            StaffEvent::StaffRegistered(e) => StaffCommand::Register(Box::new(e.clone())),
            StaffEvent::StaffUpdated(e) => StaffCommand::Update(Box::new(e.clone())),
            StaffEvent::NotificationPreferencesChanged(e) => StaffCommand::SetNotificationPreferences((*e).into()),
            StaffEvent::StaffDeactivated(e) => StaffCommand::Deactivate { reason: e.reason.clone() },
        })
    }

    fn decide(state: Option<&Self>, command: &StaffCommand, ctx: &Context<'_>) -> Result<StaffEvent, DomainError> {
        authorise(ctx.actor, state, command)?;
        let event = match (state, command) {
            (None, StaffCommand::Register(r)) => StaffEvent::StaffRegistered((**r).clone()),
            (Some(s), StaffCommand::Register(_)) => return Err(DomainError::StaffExists(s.id.to_string())),
            (None, _) => return Err(DomainError::StaffNotFound(String::new())),
            (Some(s), _) if !s.active => return Err(DomainError::StaffInactive(s.id.to_string())),
            (Some(s), StaffCommand::Update(u)) => {
                // Keep only real changes, so the log shows what an update actually did.
                let changed = StaffUpdated {
                    name: u.name.clone().filter(|v| *v != s.name),
                    email: u.email.clone().filter(|v| *v != s.email),
                    phone: u.phone.clone().filter(|v| *v != s.phone),
                    ptj: u.ptj.clone().filter(|v| *v != s.ptj),
                    roles: u.roles.clone().filter(|v| *v != s.roles),
                    categories: u.categories.clone().filter(|v| *v != s.categories),
                };
                if changed == StaffUpdated::default() {
                    return Err(DomainError::NothingToUpdate);
                }
                StaffEvent::StaffUpdated(changed)
            }
            (Some(s), StaffCommand::SetNotificationPreferences(p)) => {
                // As an update that changes nothing: the log records only real changes.
                if *p == s.notification_preferences {
                    return Err(DomainError::NothingToUpdate);
                }
                StaffEvent::NotificationPreferencesChanged(NotificationPreferencesChanged {
                    email: p.email,
                    whatsapp: p.whatsapp,
                })
            }
            (Some(_), StaffCommand::Deactivate { reason }) => {
                StaffEvent::StaffDeactivated(StaffDeactivated { reason: reason.clone() })
            }
        };
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Actor;
    use crate::aggregate::EmptyDirectory;

    fn admin() -> Actor {
        Actor::new(StaffId::parse("id", "admin-siti").unwrap(), Role::Admin, "Siti Admin")
    }

    fn registration() -> StaffRegistered {
        StaffRegistered {
            ic_number: IcNumber::parse("ic", "850315035123").unwrap(),
            name: Text::parse("name", "Aminah binti Yusof", 1, 100).unwrap(),
            email: Email::parse("email", "aminah@example.gov.my").unwrap(),
            phone: PhoneNumber::parse("phone", "013-555 0101").unwrap(),
            ptj: Text::parse("ptj", "Perbendaharaan Negeri", 1, 100).unwrap(),
            roles: [Role::Pic].into(),
            categories: [CategoryCode::parse("c", "AC").unwrap()].into(),
        }
    }

    fn run(state: Option<&StaffMember>, cmd: StaffCommand, actor: &Actor) -> Result<Vec<StaffEvent>, DomainError> {
        let ctx = Context { actor, now: Utc::now(), directory: &EmptyDirectory };
        StaffMember::decide(state, &cmd, &ctx).map(|event| vec![event])
    }

    fn fold(events: &[StaffEvent]) -> StaffMember {
        let id = StaffId::parse("id", "pic-aminah").unwrap();
        let recorded: Vec<_> =
            events.iter().map(|e| Recorded { event: e.clone(), occurred_at: Utc::now(), actor: admin() }).collect();
        StaffMember::fold(&id, &recorded).unwrap().unwrap()
    }

    #[test]
    fn only_admins_manage_staff() {
        for role in [Role::Complainant, Role::Pic, Role::Implementor, Role::Auditor] {
            let actor = Actor::new(StaffId::parse("id", "someone").unwrap(), role, "Someone");
            let err = run(None, StaffCommand::Register(Box::new(registration())), &actor).unwrap_err();
            assert_eq!(err.code(), "role_not_allowed", "{role}");
        }
    }

    #[test]
    fn register_update_deactivate() {
        let events = run(None, StaffCommand::Register(Box::new(registration())), &admin()).unwrap();
        let member = fold(&events);
        assert!(member.active);
        assert_eq!(member.roles, [Role::Pic].into());

        let again = run(Some(&member), StaffCommand::Register(Box::new(registration())), &admin()).unwrap_err();
        assert_eq!(again.code(), "staff_exists");

        let update = StaffUpdated {
            name: Some(member.name.clone()),
            phone: Some(PhoneNumber::parse("phone", "019-222 3333").unwrap()),
            ..Default::default()
        };
        let updated = run(Some(&member), StaffCommand::Update(Box::new(update)), &admin()).unwrap();
        let StaffEvent::StaffUpdated(u) = &updated[0] else { panic!("expected an update") };
        assert_eq!(u.name, None, "unchanged fields are left out of the event");
        assert_eq!(u.phone.as_ref().unwrap().as_str(), "+60192223333");

        let noop = StaffUpdated { name: Some(member.name.clone()), ..Default::default() };
        assert_eq!(
            run(Some(&member), StaffCommand::Update(Box::new(noop)), &admin()).unwrap_err().code(),
            "nothing_to_update"
        );

        let reason = Text::parse("reason", "Bersara", 1, 100).unwrap();
        let mut all = events.clone();
        all.extend(run(Some(&member), StaffCommand::Deactivate { reason: reason.clone() }, &admin()).unwrap());
        let gone = fold(&all);
        assert!(!gone.active);
        let err = run(Some(&gone), StaffCommand::Deactivate { reason }, &admin()).unwrap_err();
        assert_eq!(err.code(), "staff_inactive");
    }

    fn acting(id: &str, role: Role) -> Actor {
        Actor::new(StaffId::parse("id", id).unwrap(), role, id)
    }

    fn prefs(email: bool, whatsapp: bool) -> StaffCommand {
        StaffCommand::SetNotificationPreferences(NotificationPreferences { email, whatsapp })
    }

    #[test]
    fn preferences_start_on_and_only_real_changes_are_recorded() {
        let member = fold(&run(None, StaffCommand::Register(Box::new(registration())), &admin()).unwrap());
        assert_eq!(member.notification_preferences, NotificationPreferences { email: true, whatsapp: true });
        let unchanged = run(Some(&member), prefs(true, true), &admin()).unwrap_err();
        assert_eq!(unchanged.code(), "nothing_to_update", "as an update that changes nothing");

        let off = run(Some(&member), prefs(false, false), &admin()).unwrap();
        assert_eq!(
            off,
            [StaffEvent::NotificationPreferencesChanged(NotificationPreferencesChanged {
                email: false,
                whatsapp: false
            })]
        );
        let mut events = run(None, StaffCommand::Register(Box::new(registration())), &admin()).unwrap();
        events.extend(off);
        let quiet = fold(&events);
        assert!(quiet.notification_preferences.all_off());
        assert_eq!(StaffMember::command_of(&events[1]).unwrap(), prefs(false, false), "the event says its command");
    }

    #[test]
    fn staff_choose_their_own_preferences_and_admins_anyone_s() {
        let member = fold(&run(None, StaffCommand::Register(Box::new(registration())), &admin()).unwrap());
        // The member of staff themselves, in whichever staff role they act.
        for role in [Role::Pic, Role::Implementor, Role::Auditor, Role::Admin] {
            assert!(run(Some(&member), prefs(true, false), &acting("pic-aminah", role)).is_ok(), "{role}");
        }
        assert!(run(Some(&member), prefs(true, false), &admin()).is_ok(), "an admin, for anyone");
        // Someone else's: refused, whoever asks (and whether or not the id is registered).
        for role in [Role::Pic, Role::Implementor, Role::Auditor, Role::Complainant] {
            let err = run(Some(&member), prefs(true, false), &acting("pic-bakar", role)).unwrap_err();
            assert_eq!(err.code(), "role_not_allowed", "{role}");
            let err = run(None, prefs(true, false), &acting("pic-bakar", role)).unwrap_err();
            assert_eq!(err.code(), "role_not_allowed", "{role}");
        }
        // A complainant has no preferences in the directory, even under a staff member's id.
        let err = run(Some(&member), prefs(true, false), &acting("pic-aminah", Role::Complainant)).unwrap_err();
        assert_eq!(err.code(), "role_not_allowed");
        // Choosing how one is told is not managing the directory.
        let update =
            StaffCommand::Update(Box::new(StaffUpdated { ptj: Some(registration().name), ..Default::default() }));
        assert_eq!(
            run(Some(&member), update, &acting("pic-aminah", Role::Pic)).unwrap_err().code(),
            "role_not_allowed"
        );
        // A deactivated member's preferences stay as they were.
        let mut events = run(None, StaffCommand::Register(Box::new(registration())), &admin()).unwrap();
        let reason = Text::parse("reason", "Bersara", 1, 100).unwrap();
        events.extend(run(Some(&member), StaffCommand::Deactivate { reason }, &admin()).unwrap());
        let gone = fold(&events);
        assert_eq!(run(Some(&gone), prefs(false, true), &admin()).unwrap_err().code(), "staff_inactive");
        assert_eq!(run(None, prefs(false, true), &admin()).unwrap_err().code(), "staff_not_found");
    }

    #[test]
    fn commands_on_unknown_staff_are_not_found() {
        let reason = Text::parse("reason", "Bersara", 1, 100).unwrap();
        assert_eq!(run(None, StaffCommand::Deactivate { reason }, &admin()).unwrap_err().code(), "staff_not_found");
    }

    #[test]
    fn events_round_trip_through_their_wire_form() {
        for event in [
            StaffEvent::StaffRegistered(registration()),
            StaffEvent::StaffUpdated(StaffUpdated {
                roles: Some([Role::Pic, Role::Admin].into()),
                ..Default::default()
            }),
            StaffEvent::NotificationPreferencesChanged(NotificationPreferencesChanged { email: true, whatsapp: false }),
            StaffEvent::StaffDeactivated(StaffDeactivated { reason: Text::parse("r", "Bersara", 1, 10).unwrap() }),
        ] {
            let decoded = StaffEvent::decode(event.event_type(), 1, event.to_data()).unwrap();
            assert_eq!(decoded, event);
        }
        assert!(matches!(StaffEvent::decode("StaffFired", 1, Value::Null), Err(DecodeError::UnknownType(_))));
        assert!(matches!(StaffEvent::decode("StaffUpdated", 9, Value::Null), Err(DecodeError::UnknownVersion { .. })));
    }
}
