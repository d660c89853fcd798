//! Who is calling: bearer JWTs as the treasury portal (MyPKN) issues them, verified for
//! signature, expiry, not-before, issuer and audience. HS256 with a shared secret for
//! development; RS256/ES256 keys from a JWKS file or URL in production.
//!
//! Claims: `sub` (staff id), `name`, and `roles` (or a single `role`). A person holding
//! several roles names the one they act in with the `X-Acting-Role` header.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Role};
use crate::config::{ConfigError, Env};
use crate::validation::StaffId;

/// The development secret: known to everyone, refused in production.
pub const DEVELOPMENT_SECRET: &str = "ehelpdesk-development-secret-not-for-production";

#[derive(Clone)]
pub struct AuthConfig {
    /// `JWT_ISSUER`, default `mypkn`.
    pub issuer: String,
    /// `JWT_AUDIENCE`, default `ehelpdesk`.
    pub audience: String,
    /// `JWT_HS256_SECRET`; development falls back to [`DEVELOPMENT_SECRET`].
    pub hs256_secret: Option<String>,
    /// `JWT_JWKS_FILE`: RS256/ES256 public keys.
    pub jwks_file: Option<String>,
    /// `JWT_JWKS_URL`: the same, fetched (and refreshed every 10 minutes).
    pub jwks_url: Option<String>,
    /// `DEV_ACTOR_HEADERS=true`: also accept X-Actor-* headers. Development only.
    pub dev_actor_headers: bool,
    /// `APP_ENV=production`.
    pub production: bool,
    /// `JWT_MAX_LIFETIME_SECONDS`, default 43200 (12 hours): a token whose `exp` lies further
    /// ahead than this is refused, however well signed (a leaked one must not live for ever).
    pub max_lifetime: Duration,
    /// `BOOTSTRAP_ADMIN_IDS`: staff ids that may act as admins while they are not in the
    /// staff directory, so the first admin can register everyone (themselves included).
    /// Once registered, the directory rules them like anyone else.
    pub bootstrap_admins: BTreeSet<String>,
    /// `STAFF_CACHE_SECONDS`, default 5: how long a staff member's standing (roles, active)
    /// is trusted before the directory is asked again.
    pub staff_cache: Duration,
}

// Secrets never reach a log line, not even through `{:?}`.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_file", &self.jwks_file)
            .field("jwks_url", &self.jwks_url)
            .field("dev_actor_headers", &self.dev_actor_headers)
            .field("production", &self.production)
            .field("max_lifetime", &self.max_lifetime)
            .field("bootstrap_admins", &self.bootstrap_admins)
            .field("staff_cache", &self.staff_cache)
            .finish()
    }
}

impl AuthConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let non_empty = |var: &str| (env.0)(var).filter(|v| !v.is_empty());
        let config = Self {
            issuer: env.string("JWT_ISSUER", "mypkn"),
            audience: env.string("JWT_AUDIENCE", "ehelpdesk"),
            hs256_secret: non_empty("JWT_HS256_SECRET"),
            jwks_file: non_empty("JWT_JWKS_FILE"),
            jwks_url: non_empty("JWT_JWKS_URL"),
            dev_actor_headers: env.parse("DEV_ACTOR_HEADERS", false)?,
            production: env.string("APP_ENV", "development") == "production",
            max_lifetime: Duration::from_secs(env.parse("JWT_MAX_LIFETIME_SECONDS", 43_200)?),
            bootstrap_admins: env
                .string("BOOTSTRAP_ADMIN_IDS", "")
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect(),
            staff_cache: Duration::from_secs(env.parse("STAFF_CACHE_SECONDS", 5)?),
        };
        config.check()?;
        Ok(config)
    }

    /// Production refuses the development shortcuts.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.production {
            return Ok(());
        }
        let refuse =
            |var: &'static str, reason: &str| Err(ConfigError { var, value: "(hidden)".into(), reason: reason.into() });
        if self.dev_actor_headers {
            return refuse("DEV_ACTOR_HEADERS", "actor headers are development-only; refused with APP_ENV=production");
        }
        match &self.hs256_secret {
            Some(s) if s == DEVELOPMENT_SECRET => {
                refuse("JWT_HS256_SECRET", "the development secret is refused in production")
            }
            Some(s) if s.len() < 32 => refuse("JWT_HS256_SECRET", "use at least 32 random bytes in production"),
            None if self.jwks_file.is_none() && self.jwks_url.is_none() => {
                refuse("JWT_JWKS_URL", "production needs JWT_JWKS_URL, JWT_JWKS_FILE or JWT_HS256_SECRET")
            }
            _ => Ok(()),
        }
    }

    /// The HS256 secret in force: the configured one, or in development the known one.
    pub fn effective_secret(&self) -> Option<&str> {
        match (&self.hs256_secret, self.jwks_file.is_some() || self.jwks_url.is_some()) {
            (Some(secret), _) => Some(secret),
            (None, false) if !self.production => Some(DEVELOPMENT_SECRET),
            _ => None,
        }
    }
}

/// The claims of a portal token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// What the portal knows of the person (all optional): a complainant's complaint is
    /// filed under these, never under details a request body claims.
    #[serde(flatten)]
    pub profile: Profile,
}

/// The person as the portal knows them. `phone_number` and `email` are the OpenID Connect
/// claim names; `ic_number` and `ptj` are MyPKN's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ic_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptj: Option<String>,
}

impl Claims {
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = self.roles.clone();
        if let Some(role) = self.role
            && !roles.contains(&role)
        {
            roles.push(role);
        }
        roles
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token's subject is not a staff id")]
    BadSubject,
    #[error("the token's name is not a name: {0}")]
    BadName(String),
    #[error("the token lives too long: it may expire at most {max_hours} hours from now")]
    LivesTooLong { max_hours: u64 },
    #[error("the token grants no role")]
    NoRole,
    #[error("the token grants several roles; name one in X-Acting-Role")]
    ActingRoleRequired,
    #[error("the token does not grant the role `{0}`")]
    RoleNotGranted(String),
}

/// Clock skew forgiven between the portal and us.
const LEEWAY_SECONDS: u64 = 30;

/// Verification keys: the HS256 secret and/or public keys by key id.
#[derive(Clone, Default)]
struct Keys {
    secret: Option<DecodingKey>,
    public: HashMap<String, (Algorithm, DecodingKey)>,
    /// Keys without a `kid`, tried in turn.
    anonymous: Vec<(Algorithm, DecodingKey)>,
}

fn keys_from_jwks(set: &JwkSet) -> Keys {
    let mut keys = Keys::default();
    for jwk in &set.keys {
        let Some(alg) = jwk.common.key_algorithm.and_then(|a| Algorithm::try_from(a).ok()) else { continue };
        if !matches!(alg, Algorithm::RS256 | Algorithm::ES256) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        match &jwk.common.key_id {
            Some(kid) => {
                keys.public.insert(kid.clone(), (alg, key));
            }
            None => keys.anonymous.push((alg, key)),
        }
    }
    keys
}

/// Verifies tokens; cheap to clone and share.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<RwLock<Keys>>,
    issuer: String,
    audience: String,
    max_lifetime: Duration,
}

impl Verifier {
    /// Builds the key set from configuration, fetching the JWKS URL once.
    pub async fn from_config(config: &AuthConfig) -> Result<Self, String> {
        let mut keys = Keys::default();
        if let Some(path) = &config.jwks_file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("JWT_JWKS_FILE {path}: {e}"))?;
            let set: JwkSet = serde_json::from_str(&text).map_err(|e| format!("JWT_JWKS_FILE {path}: {e}"))?;
            keys = keys_from_jwks(&set);
        }
        let verifier = Self {
            keys: Arc::new(RwLock::new(keys)),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            max_lifetime: config.max_lifetime,
        };
        if let Some(url) = &config.jwks_url {
            verifier.refresh_from(url).await?;
        }
        if let Some(secret) = config.effective_secret() {
            verifier.write().secret = Some(DecodingKey::from_secret(secret.as_bytes()));
        }
        Ok(verifier)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetches the JWKS at `url` and replaces the public keys.
    pub async fn refresh_from(&self, url: &str) -> Result<(), String> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
        let set: JwkSet = client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("JWT_JWKS_URL {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("JWT_JWKS_URL {url}: {e}"))?;
        let fresh = keys_from_jwks(&set);
        let mut keys = self.write();
        keys.public = fresh.public;
        keys.anonymous = fresh.anonymous;
        Ok(())
    }

    /// Keeps the JWKS fresh in the background (key rotation at the portal).
    pub fn refresh_periodically(&self, url: String) {
        let verifier = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(600)).await;
                if let Err(e) = verifier.refresh_from(&url).await {
                    tracing::warn!(error = %e, "JWKS refresh failed; keeping the keys we have");
                }
            }
        });
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_signature(token)?;
        let latest = chrono::Utc::now().timestamp() + self.max_lifetime.as_secs() as i64 + LEEWAY_SECONDS as i64;
        if claims.exp > latest {
            return Err(AuthError::LivesTooLong { max_hours: self.max_lifetime.as_secs() / 3600 });
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let candidates: Vec<(Algorithm, &DecodingKey)> = match header.alg {
            Algorithm::HS256 => keys.secret.iter().map(|k| (Algorithm::HS256, k)).collect(),
            Algorithm::RS256 | Algorithm::ES256 => match &header.kid {
                Some(kid) => keys.public.get(kid).map(|(a, k)| (*a, k)).into_iter().collect(),
                None => keys.anonymous.iter().map(|(a, k)| (*a, k)).collect(),
            },
            other => return Err(AuthError::Invalid(format!("algorithm {other:?} is not accepted"))),
        };
        if candidates.is_empty() {
            return Err(AuthError::Invalid("no key for this token".into()));
        }
        let mut last = AuthError::Invalid("no key matched".into());
        for (alg, key) in candidates {
            if alg != header.alg {
                continue;
            }
            let mut validation = Validation::new(alg);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECONDS;
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = AuthError::Invalid(e.to_string()),
            }
        }
        Err(last)
    }

    /// The actor a verified token stands for, acting in `acting_role` if named.
    pub fn actor(&self, token: &str, acting_role: Option<&str>) -> Result<Actor, AuthError> {
        self.caller(token, acting_role).map(|(actor, _)| actor)
    }

    /// The actor a verified token stands for, and the portal's profile of the person.
    pub fn caller(&self, token: &str, acting_role: Option<&str>) -> Result<(Actor, Profile), AuthError> {
        let claims = self.verify(token)?;
        let id = StaffId::parse("sub", &claims.sub).map_err(|_| AuthError::BadSubject)?;
        let roles = claims.roles();
        let role = match (acting_role, roles.as_slice()) {
            (_, []) => return Err(AuthError::NoRole),
            (Some(raw), granted) => {
                let wanted: Role = raw.parse().map_err(|_| AuthError::RoleNotGranted(raw.to_owned()))?;
                if !granted.contains(&wanted) {
                    return Err(AuthError::RoleNotGranted(raw.to_owned()));
                }
                wanted
            }
            (None, [only]) => *only,
            (None, _) => return Err(AuthError::ActingRoleRequired),
        };
        let name = match claims.name.filter(|n| !n.trim().is_empty()) {
            // The name is written into the permanent log and into notifications: one line, a
            // name's length, as any other name the service accepts.
            Some(name) => crate::validation::Text::single_line("name", &name, crate::validation::limits::NAME)
                .map_err(|e| AuthError::BadName(e.message))?
                .as_str()
                .to_owned(),
            None => id.to_string(),
        };
        Ok((Actor::new(id, role, name), claims.profile))
    }
}

/// Mints an HS256 token (development and tests; the portal issues the real ones).
pub fn mint_hs256(secret: &str, claims: &Claims) -> Result<String, String> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .map_err(|e| e.to_string())
}

/// Claims for `sub` with `roles`, valid from now for `ttl`.
pub fn claims_for(config: &AuthConfig, sub: &str, name: &str, roles: &[Role], ttl: Duration) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: sub.to_owned(),
        name: Some(name.to_owned()),
        roles: roles.to_vec(),
        role: None,
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
        exp: now + ttl.as_secs() as i64,
        nbf: Some(now - 1),
        iat: Some(now),
        profile: Profile::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig {
            issuer: "mypkn".into(),
            audience: "ehelpdesk".into(),
            hs256_secret: Some("a-test-secret-that-is-long-enough-000".into()),
            jwks_file: None,
            jwks_url: None,
            dev_actor_headers: false,
            production: false,
            max_lifetime: Duration::from_secs(12 * 3600),
            bootstrap_admins: BTreeSet::new(),
            staff_cache: Duration::from_secs(5),
        }
    }

    async fn verifier() -> Verifier {
        Verifier::from_config(&config()).await.unwrap()
    }

    fn token(edit: impl FnOnce(&mut Claims)) -> String {
        let c = config();
        let mut claims = claims_for(&c, "pic-aminah", "Aminah", &[Role::Pic], Duration::from_secs(600));
        edit(&mut claims);
        mint_hs256(c.hs256_secret.as_deref().unwrap(), &claims).unwrap()
    }

    #[tokio::test]
    async fn a_good_token_gives_its_actor() {
        let actor = verifier().await.actor(&token(|_| {}), None).unwrap();
        assert_eq!((actor.id.as_str(), actor.role, actor.name.as_str()), ("pic-aminah", Role::Pic, "Aminah"));
    }

    #[tokio::test]
    async fn bad_tokens_are_refused() {
        let v = verifier().await;
        let now = chrono::Utc::now().timestamp();
        for (why, t) in [
            ("expired", token(|c| c.exp = now - 3600)),
            ("not yet valid", token(|c| c.nbf = Some(now + 3600))),
            ("wrong issuer", token(|c| c.iss = "elsewhere".into())),
            ("wrong audience", token(|c| c.aud = "other-app".into())),
            ("bad subject", token(|c| c.sub = "../etc".into())),
            ("no role", token(|c| c.roles.clear())),
            ("lives for ever", token(|c| c.exp = 253_402_300_799)),
            ("name with a line break", token(|c| c.name = Some("Aminah\r\nBcc: semua".into()))),
            ("name of 380 KB", token(|c| c.name = Some("A".repeat(380_000)))),
        ] {
            assert!(v.actor(&t, None).is_err(), "{why}");
        }
        let forged = mint_hs256(
            "another-secret-entirely-0000000000",
            &claims_for(&config(), "x", "X", &[Role::Admin], Duration::from_secs(60)),
        )
        .unwrap();
        assert!(matches!(v.verify(&forged), Err(AuthError::Invalid(_))));
        assert!(v.verify("not.a.token").is_err());
        // "alg: none" and a tampered payload.
        let good = token(|_| {});
        let mut parts: Vec<&str> = good.split('.').collect();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        parts[0] = none_header;
        assert!(v.verify(&parts.join(".")).is_err());
    }

    #[tokio::test]
    async fn several_roles_need_an_acting_role() {
        let v = verifier().await;
        let t = token(|c| c.roles = vec![Role::Pic, Role::Admin]);
        assert_eq!(v.actor(&t, None).unwrap_err(), AuthError::ActingRoleRequired);
        assert_eq!(v.actor(&t, Some("admin")).unwrap().role, Role::Admin);
        assert_eq!(v.actor(&t, Some("auditor")).unwrap_err(), AuthError::RoleNotGranted("auditor".into()));
        let single = token(|c| {
            c.roles.clear();
            c.role = Some(Role::Auditor);
        });
        assert_eq!(v.actor(&single, None).unwrap().role, Role::Auditor);
    }

    fn signed(alg: Algorithm, kid: &str, pem: &str, claims: &Claims) -> String {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    #[tokio::test]
    async fn rs256_and_es256_tokens_verify_against_a_jwks_file() {
        let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/test-jwks.json");
        let c = AuthConfig { hs256_secret: None, jwks_file: Some(jwks.into()), ..config() };
        let v = Verifier::from_config(&c).await.unwrap();
        let claims = claims_for(&c, "audit-devi", "Devi", &[Role::Auditor], Duration::from_secs(600));
        let es = signed(Algorithm::ES256, "test-es256", include_str!("../testdata/test-es256-private.pem"), &claims);
        let rs = signed(Algorithm::RS256, "test-rs256", include_str!("../testdata/test-rs256-private.pem"), &claims);
        assert_eq!(v.actor(&es, None).unwrap().role, Role::Auditor);
        assert_eq!(v.actor(&rs, None).unwrap().id.as_str(), "audit-devi");
        // A key id the set does not hold, and a key used under the wrong id.
        let unknown =
            signed(Algorithm::ES256, "rotated-away", include_str!("../testdata/test-es256-private.pem"), &claims);
        assert!(v.verify(&unknown).is_err());
        let swapped =
            signed(Algorithm::RS256, "test-es256", include_str!("../testdata/test-rs256-private.pem"), &claims);
        assert!(v.verify(&swapped).is_err());
        // With only public keys configured, an HS256 token (e.g. signed with a public key's
        // bytes) has nothing to verify against.
        let hs = mint_hs256(DEVELOPMENT_SECRET, &claims).unwrap();
        assert!(v.verify(&hs).is_err());
    }

    #[test]
    fn production_refuses_development_shortcuts() {
        let mut c = config();
        c.production = true;
        assert!(c.check().is_ok());
        c.hs256_secret = Some(DEVELOPMENT_SECRET.into());
        assert_eq!(c.check().unwrap_err().var, "JWT_HS256_SECRET");
        c.hs256_secret = None;
        assert_eq!(c.check().unwrap_err().var, "JWT_JWKS_URL");
        c.jwks_url = Some("https://portal.example/jwks".into());
        c.dev_actor_headers = true;
        assert_eq!(c.check().unwrap_err().var, "DEV_ACTOR_HEADERS");
        assert!(!format!("{c:?}").contains("secret-that"), "secrets are redacted in Debug");
    }
}
