//! The complaint's rules: who may do what, and when.

use uuid::Uuid;

use super::command::ComplaintCommand;
use super::event::*;
use super::state::Complaint;
use super::status::Status;
use super::{MAX_REOPENS, MAX_REPLIES_WITHOUT_ANSWER, REOPEN_WINDOW_DAYS};
use crate::actor::{Actor, Role};
use crate::aggregate::{Aggregate, Context, Recorded, ReplayError, StaffDirectory};
use crate::error::DomainError;
use crate::staff::StaffMember;
use crate::validation::{FieldError, StaffId};
use crate::visibility::{Parties, Relation};

impl Aggregate for Complaint {
    type Id = Uuid;
    type Event = ComplaintEvent;
    type Command = ComplaintCommand;

    const SUBJECT_KIND: &'static str = "complaint";
    const ID_FIELD: &'static str = "complaint_id";

    fn parse_id(raw: &str) -> Option<Uuid> {
        Uuid::parse_str(raw).ok()
    }

    fn apply(state: Option<Self>, id: &Uuid, event: &Recorded<ComplaintEvent>) -> Result<Self, ReplayError> {
        Complaint::apply_event(state, id, event)
    }

    fn command_of(event: &ComplaintEvent) -> Result<ComplaintCommand, DomainError> {
        Ok(ComplaintCommand::that_decided(event)?)
    }

    fn decide(
        state: Option<&Self>,
        command: &ComplaintCommand,
        ctx: &Context<'_>,
    ) -> Result<ComplaintEvent, DomainError> {
        let actor = ctx.actor;
        if actor.is(Role::Auditor) {
            return Err(DomainError::RoleNotAllowed { role: "auditor", action: "change complaints" });
        }
        let complaint = match (state, command) {
            (None, ComplaintCommand::Log(log)) => {
                match actor.role {
                    Role::Admin => {}
                    Role::Complainant if log.complainant.id != actor.id => return Err(DomainError::CannotLogForOthers),
                    Role::Complainant if log.channel != Channel::Web => {
                        return Err(FieldError::new(
                            "channel",
                            "channel_not_allowed",
                            "Pengadu hanya boleh membuat aduan melalui web / complainants log complaints on the web",
                        )
                        .into());
                    }
                    Role::Complainant => {}
                    _ => {
                        return Err(DomainError::RoleNotAllowed {
                            role: actor.role.as_str(),
                            action: "log complaints",
                        });
                    }
                }
                return Ok(ComplaintEvent::ComplaintLogged(ComplaintLogged {
                    number: log.number.clone(),
                    complainant: log.complainant.clone(),
                    category: log.category.clone(),
                    title: log.title.clone(),
                    description: log.description.clone(),
                    channel: log.channel,
                    reference: log.reference.clone(),
                }));
            }
            (Some(_), ComplaintCommand::Log(_)) => return Err(DomainError::ComplaintExists),
            (None, _) => return Err(DomainError::ComplaintNotFound),
            (Some(c), _) => c,
        };
        // Someone who may not see the complaint learns nothing of it from a write either:
        // not that it exists, nor that it is closed.
        if Relation::of(actor, Parties::of(complaint)).is_none() {
            return Err(DomainError::ComplaintNotFound);
        }

        if let ComplaintCommand::Reopen { reason } = command {
            return decide_reopen(complaint, actor, ctx, reason);
        }
        if complaint.status == Status::Closed {
            return Err(DomainError::ComplaintClosed);
        }

        let event = match command {
            ComplaintCommand::Log(_) | ComplaintCommand::Reopen { .. } => unreachable!("handled above"),
            ComplaintCommand::Assign { pic_id, note } => {
                require_role(actor, &[Role::Admin], "assign complaints")?;
                let pic = active_staff_with_role(ctx.directory, pic_id, Role::Pic)?;
                if complaint.pic_id() == Some(pic_id) {
                    return Err(DomainError::AlreadyAssigned);
                }
                ComplaintEvent::ComplaintAssigned(ComplaintAssigned {
                    pic_id: pic_id.clone(),
                    pic_name: pic.name.as_str().to_owned(),
                    previous_pic_id: complaint.pic_id().cloned(),
                    covers_category: pic.categories.contains(&complaint.category),
                    note: note.clone(),
                })
            }
            ComplaintCommand::Respond { message, status } => {
                require_pic_or_admin(complaint, actor, "respond to complaints")?;
                ComplaintEvent::ComplaintResponded(ComplaintResponded { message: message.clone(), status: *status })
            }
            ComplaintCommand::Reply { message } => {
                require_owner(complaint, actor)?;
                if complaint.replies_since_answer >= MAX_REPLIES_WITHOUT_ANSWER {
                    return Err(DomainError::ReplyLimitReached { max: MAX_REPLIES_WITHOUT_ANSWER });
                }
                ComplaintEvent::ComplainantReplied(ComplainantReplied { message: message.clone() })
            }
            ComplaintCommand::ReferToImplementor { implementor_id, message } => {
                require_pic_or_admin(complaint, actor, "refer complaints")?;
                if complaint.status == Status::WithImplementor {
                    return Err(DomainError::AlreadyWithImplementor);
                }
                let implementor = active_staff_with_role(ctx.directory, implementor_id, Role::Implementor)?;
                ComplaintEvent::ReferredToImplementor(ReferredToImplementor {
                    implementor_id: implementor_id.clone(),
                    implementor_name: implementor.name.as_str().to_owned(),
                    message: message.clone(),
                })
            }
            ComplaintCommand::EscalateToVendor { vendor, vendor_log_number, message } => {
                require_pic_or_admin(complaint, actor, "escalate complaints")?;
                if complaint.status == Status::WithVendor && complaint.vendor == Some(*vendor) {
                    return Err(DomainError::AlreadyWithVendor);
                }
                ComplaintEvent::EscalatedToVendor(EscalatedToVendor {
                    vendor: *vendor,
                    vendor_log_number: vendor_log_number.clone(),
                    message: message.clone(),
                })
            }
            ComplaintCommand::RecordVendorUpdate { message, vendor_log_number } => {
                require_pic_or_admin(complaint, actor, "record vendor updates")?;
                if complaint.status != Status::WithVendor {
                    return Err(DomainError::NotWithVendor);
                }
                ComplaintEvent::VendorUpdateRecorded(VendorUpdateRecorded {
                    message: message.clone(),
                    vendor_log_number: vendor_log_number.clone(),
                })
            }
            ComplaintCommand::AddInternalNote { message } => {
                let referred_implementor =
                    actor.is(Role::Implementor) && complaint.implementor.as_ref().is_some_and(|i| i.id == actor.id);
                if !referred_implementor {
                    require_pic_or_admin(complaint, actor, "add internal notes")?;
                }
                ComplaintEvent::InternalNoteAdded(InternalNoteAdded { message: message.clone() })
            }
            ComplaintCommand::Close { reason, rating, comment } => {
                let closed_by = match actor.role {
                    Role::Complainant => {
                        require_owner(complaint, actor)?;
                        ClosedBy::Complainant
                    }
                    Role::Admin => {
                        if reason.is_none() {
                            return Err(DomainError::ReasonRequired);
                        }
                        if rating.is_some() || comment.is_some() {
                            return Err(DomainError::RatingOnlyByComplainant);
                        }
                        ClosedBy::Admin
                    }
                    _ => {
                        return Err(DomainError::RoleNotAllowed {
                            role: actor.role.as_str(),
                            action: "close complaints",
                        });
                    }
                };
                ComplaintEvent::ComplaintClosed(ComplaintClosed {
                    closed_by,
                    reason: reason.clone(),
                    rating: rating.map(|r| r.value()),
                    comment: comment.clone(),
                })
            }
        };
        Ok(event)
    }
}

fn decide_reopen(
    complaint: &Complaint,
    actor: &Actor,
    ctx: &Context<'_>,
    reason: &crate::validation::Text,
) -> Result<ComplaintEvent, DomainError> {
    if !actor.is(Role::Complainant) {
        return Err(DomainError::RoleNotAllowed { role: actor.role.as_str(), action: "reopen complaints" });
    }
    require_owner(complaint, actor)?;
    let Some(closed_at) = complaint.closed_at else {
        return Err(DomainError::NotClosed);
    };
    if ctx.now - closed_at > chrono::Duration::days(REOPEN_WINDOW_DAYS) {
        return Err(DomainError::ReopenWindowExpired { days: REOPEN_WINDOW_DAYS });
    }
    if complaint.reopen_count >= MAX_REOPENS {
        return Err(DomainError::ReopenLimitReached { max: MAX_REOPENS });
    }
    Ok(ComplaintEvent::ComplaintReopened(ComplaintReopened { reason: reason.clone() }))
}

fn require_role(actor: &Actor, allowed: &[Role], action: &'static str) -> Result<(), DomainError> {
    if allowed.contains(&actor.role) {
        Ok(())
    } else {
        Err(DomainError::RoleNotAllowed { role: actor.role.as_str(), action })
    }
}

fn require_owner(complaint: &Complaint, actor: &Actor) -> Result<(), DomainError> {
    if actor.is(Role::Complainant) && complaint.complainant.id == actor.id {
        Ok(())
    } else if actor.is(Role::Complainant) {
        Err(DomainError::NotYourComplaint)
    } else {
        Err(DomainError::RoleNotAllowed { role: actor.role.as_str(), action: "act for the complainant" })
    }
}

/// The assigned PIC, or an admin; and only once a PIC has been assigned.
fn require_pic_or_admin(complaint: &Complaint, actor: &Actor, action: &'static str) -> Result<(), DomainError> {
    require_role(actor, &[Role::Pic, Role::Admin], action)?;
    let Some(pic) = complaint.pic_id() else {
        return Err(DomainError::NotAssigned);
    };
    if actor.is(Role::Pic) && *pic != actor.id {
        return Err(DomainError::NotAssignedToYou);
    }
    Ok(())
}

fn active_staff_with_role<'d>(
    directory: &'d dyn StaffDirectory,
    id: &StaffId,
    role: Role,
) -> Result<&'d StaffMember, DomainError> {
    let member = directory.find(id).ok_or_else(|| DomainError::StaffNotFound(id.to_string()))?;
    if !member.active {
        return Err(DomainError::StaffInactive(id.to_string()));
    }
    if !member.roles.contains(&role) {
        return Err(DomainError::StaffLacksRole { id: id.to_string(), role: role.as_str() });
    }
    Ok(member)
}
