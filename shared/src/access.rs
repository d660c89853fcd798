//! Who may act: the token proves who is calling; for every staff role, the staff directory
//! says what they may do. A PIC deactivated in the directory reads no inbox, an implementor
//! whose token says "admin" is no admin, and an unregistered `sub` is nobody on the staff,
//! whatever the token claims (docs/security.md, "Authentication").
//!
//! Complainants are any iSPEKS user: the portal vouches for them, the directory need not
//! know them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::actor::{Actor, Role};
use crate::http::ApiError;
use crate::validation::StaffId;

/// What the directory says of a member of staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub roles: BTreeSet<Role>,
    pub active: bool,
    /// The name the directory holds, written on events instead of the token's.
    pub name: String,
}

/// Why a caller may not act in the role they asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`{0}` is not in the staff directory")]
    NotRegistered(String),
    #[error("`{0}` is deactivated in the staff directory")]
    Inactive(String),
    #[error("the staff directory does not give `{id}` the role `{role}`")]
    RoleNotInDirectory { id: String, role: &'static str },
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = match refusal {
            Refusal::NotRegistered(_) => "staff_not_registered",
            Refusal::Inactive(_) => "staff_inactive",
            Refusal::RoleNotInDirectory { .. } => "role_not_in_directory",
        };
        let detail = format!("Anda tidak dibenarkan bertindak dalam peranan ini / {refusal}");
        ApiError::Forbidden { code, detail }
    }
}

/// The rule itself, pure: `claimed` (from a verified token) acting as they asked, given the
/// directory's `standing` of them, if any.
pub fn admit(claimed: Actor, standing: Option<&Standing>, bootstrap_admin: bool) -> Result<Actor, Refusal> {
    if claimed.role == Role::Complainant {
        return Ok(claimed);
    }
    let id = claimed.id.to_string();
    let Some(standing) = standing else {
        // Only until they are registered: then the directory rules them too.
        return if bootstrap_admin && claimed.role == Role::Admin {
            Ok(claimed)
        } else {
            Err(Refusal::NotRegistered(id))
        };
    };
    if !standing.active {
        return Err(Refusal::Inactive(id));
    }
    if !standing.roles.contains(&claimed.role) {
        return Err(Refusal::RoleNotInDirectory { id, role: claimed.role.as_str() });
    }
    Ok(Actor::new(claimed.id, claimed.role, standing.name.clone()))
}

/// How a service reads one member of staff from its own side of the directory.
pub type Lookup = Arc<dyn Fn(StaffId) -> StandingFuture + Send + Sync>;

pub type StandingFuture = std::pin::Pin<Box<dyn Future<Output = Result<Option<Standing>, ApiError>> + Send>>;

/// Standings looked up and kept for a short while (`STAFF_CACHE_SECONDS`); a write to the
/// directory through this process forgets its entry at once.
#[derive(Clone)]
pub struct StaffStandings {
    lookup: Lookup,
    ttl: Duration,
    bootstrap_admins: Arc<BTreeSet<String>>,
    cache: Arc<Mutex<Cached>>,
}

/// Each standing (or its absence) with when it was read.
type Cached = HashMap<StaffId, (Instant, Option<Standing>)>;

/// Entries kept at most; past it the cache starts afresh (a directory is a few thousand).
const CACHE_CAPACITY: usize = 20_000;

impl StaffStandings {
    pub fn new(lookup: Lookup, ttl: Duration, bootstrap_admins: BTreeSet<String>) -> Self {
        Self { lookup, ttl, bootstrap_admins: Arc::new(bootstrap_admins), cache: Arc::default() }
    }

    /// The caller as the directory lets them act, or why not.
    pub async fn admit(&self, claimed: Actor) -> Result<Actor, ApiError> {
        if claimed.role == Role::Complainant {
            return Ok(claimed);
        }
        let standing = self.standing(&claimed.id).await?;
        let bootstrap = self.bootstrap_admins.contains(claimed.id.as_str());
        Ok(admit(claimed, standing.as_ref(), bootstrap)?)
    }

    /// After this process changed someone in the directory.
    pub fn forget(&self, id: &StaffId) {
        self.entries().remove(id);
    }

    async fn standing(&self, id: &StaffId) -> Result<Option<Standing>, ApiError> {
        if let Some((at, standing)) = self.entries().get(id)
            && at.elapsed() < self.ttl
        {
            return Ok(standing.clone());
        }
        let standing = (self.lookup)(id.clone()).await?;
        // "Not registered" is never kept: someone registered a moment ago must not be
        // turned away for the rest of the window.
        if let Some(found) = &standing {
            let mut entries = self.entries();
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(id.clone(), (Instant::now(), Some(found.clone())));
        }
        Ok(standing)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Cached> {
        // Single inserts and removes cannot leave an entry half-written.
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn actor(id: &str, role: Role) -> Actor {
        Actor::new(StaffId::parse("id", id).unwrap(), role, "Nama Dalam Token")
    }

    fn standing(roles: &[Role], active: bool) -> Standing {
        Standing { roles: roles.iter().copied().collect(), active, name: "Nama Dalam Direktori".into() }
    }

    #[test]
    fn the_directory_decides_every_staff_role() {
        let pic = standing(&[Role::Pic], true);
        for role in [Role::Admin, Role::Pic, Role::Implementor, Role::Auditor] {
            let someone = actor("staf-a", role);
            assert_eq!(admit(someone.clone(), None, false), Err(Refusal::NotRegistered("staf-a".into())));
            let inactive = standing(&[role], false);
            assert_eq!(admit(someone.clone(), Some(&inactive), false), Err(Refusal::Inactive("staf-a".into())));
            let admitted = admit(someone.clone(), Some(&standing(&[role], true)), false).unwrap();
            assert_eq!(admitted.name, "Nama Dalam Direktori", "the directory's name, not the token's");
            if role != Role::Pic {
                let refused = admit(someone, Some(&pic), false);
                assert!(matches!(refused, Err(Refusal::RoleNotInDirectory { .. })), "{role:?}");
            }
        }
        // Complainants need no directory entry, and keep the token's name.
        let complainant = actor("pengadu-a", Role::Complainant);
        assert_eq!(admit(complainant.clone(), None, false), Ok(complainant));
    }

    #[test]
    fn a_bootstrap_admin_is_admin_only_until_registered() {
        let admin = actor("admin-a", Role::Admin);
        assert!(admit(admin.clone(), None, true).is_ok());
        assert!(admit(actor("admin-a", Role::Auditor), None, true).is_err(), "bootstrap is for admin only");
        let deactivated = standing(&[Role::Admin], false);
        assert_eq!(admit(admin, Some(&deactivated), true), Err(Refusal::Inactive("admin-a".into())));
    }

    #[tokio::test]
    async fn standings_are_kept_for_a_while_and_forgotten_on_a_write() {
        let calls = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(Mutex::new(true));
        let lookup: Lookup = {
            let (calls, active) = (calls.clone(), active.clone());
            Arc::new(move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                let active = *active.lock().unwrap();
                Box::pin(async move { Ok(Some(standing(&[Role::Pic], active))) })
            })
        };
        let standings = StaffStandings::new(lookup, Duration::from_secs(3600), BTreeSet::new());
        let pic = actor("pic-a", Role::Pic);
        assert!(standings.admit(pic.clone()).await.is_ok());
        assert!(standings.admit(pic.clone()).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "kept");
        *active.lock().unwrap() = false;
        standings.forget(&pic.id);
        assert!(standings.admit(pic.clone()).await.is_err(), "a deactivation through this process counts at once");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let uncached = StaffStandings::new(standings.lookup.clone(), Duration::ZERO, BTreeSet::new());
        let _ = uncached.admit(pic.clone()).await;
        let _ = uncached.admit(pic).await;
        assert_eq!(calls.load(Ordering::SeqCst), 4, "no cache at a TTL of zero");
    }
}
