//! The shape every event-sourced aggregate here follows (after cqrs-es):
//! `state = events.fold(apply)` and `decide(state, command) -> events`, both pure.

use std::collections::HashMap;
use std::fmt::Display;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::actor::Actor;
use crate::error::DomainError;
use crate::staff::StaffMember;
use crate::validation::StaffId;

/// An event as it stands in the log: what happened, when, and who did it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<E> {
    pub event: E,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
}

/// An event payload that knows its wire name and version (see [`crate::envelope`]).
pub trait DomainEvent: Sized {
    /// The `type` written in the envelope, e.g. `ComplaintLogged`.
    fn event_type(&self) -> &'static str;
    /// The payload as written today; older versions are upcast by [`DomainEvent::decode`].
    fn to_data(&self) -> serde_json::Value;
    /// The version `to_data` writes for this event type.
    fn current_version(event_type: &str) -> Option<u32>;
    /// Reads a payload of any version ever written, upcasting it to today's shape.
    fn decode(event_type: &str, version: u32, data: serde_json::Value) -> Result<Self, DecodeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("unknown version {version} of `{event_type}`")]
    UnknownVersion { event_type: String, version: u32 },
    #[error("envelope field `{0}` is missing or malformed")]
    Envelope(&'static str),
}

/// The log holds an event the state cannot take (e.g. an assignment before the complaint
/// was logged). Never produced by events that `decide` emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event `{event_type}` cannot be applied to {state}")]
pub struct ReplayError {
    pub event_type: &'static str,
    pub state: &'static str,
}

/// What a decision may consult besides the aggregate's own state. Pure data: the service
/// looks everything up before calling `decide`.
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    pub directory: &'a dyn StaffDirectory,
}

/// Read access to the staff directory, for checks such as "the PIC exists and is active".
pub trait StaffDirectory {
    fn find(&self, id: &StaffId) -> Option<&StaffMember>;
}

impl StaffDirectory for HashMap<StaffId, StaffMember> {
    fn find(&self, id: &StaffId) -> Option<&StaffMember> {
        self.get(id)
    }
}

/// A directory with nobody in it, for decisions that consult none.
pub struct EmptyDirectory;

impl StaffDirectory for EmptyDirectory {
    fn find(&self, _: &StaffId) -> Option<&StaffMember> {
        None
    }
}

pub trait Aggregate: Sized + Clone {
    type Id: Clone + Display + Serialize + DeserializeOwned + Send + Sync;
    type Event: DomainEvent + Clone;
    type Command;

    /// The subject token after the prefix, e.g. `complaint` in `helpdesk.complaint.<id>`.
    const SUBJECT_KIND: &'static str;
    /// The envelope field that carries the id, e.g. `complaint_id`.
    const ID_FIELD: &'static str;

    fn parse_id(raw: &str) -> Option<Self::Id>;

    fn apply(state: Option<Self>, id: &Self::Id, event: &Recorded<Self::Event>) -> Result<Self, ReplayError>;

    /// Judges `command` against the state. A command yields exactly one event, by the type:
    /// the command path appends what it is given and nothing can be silently dropped.
    fn decide(state: Option<&Self>, command: &Self::Command, ctx: &Context<'_>) -> Result<Self::Event, DomainError>;

    /// The command that `decide` turns into `event`: the log's events carry everything
    /// their command said, so a history can be judged by the rules again.
    fn command_of(event: &Self::Event) -> Result<Self::Command, DomainError>;

    /// Whether `decide` could have produced `recorded` from `before`, with the directory as
    /// it then stood. Auditors replay the log through this (`verify`), so an event that
    /// slipped past the rules (say, a reply after the close) is found, not folded quietly.
    fn check_recorded(
        before: Option<&Self>,
        recorded: &Recorded<Self::Event>,
        directory: &dyn StaffDirectory,
    ) -> Result<(), DomainError> {
        let command = Self::command_of(&recorded.event)?;
        let ctx = Context { actor: &recorded.actor, now: recorded.occurred_at, directory };
        Self::decide(before, &command, &ctx).map(|_| ())
    }

    fn fold<'e>(
        id: &Self::Id,
        events: impl IntoIterator<Item = &'e Recorded<Self::Event>>,
    ) -> Result<Option<Self>, ReplayError>
    where
        Self::Event: 'e,
    {
        events.into_iter().try_fold(None, |state, event| Self::apply(state, id, event).map(Some))
    }
}
