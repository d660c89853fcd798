//! Every form carries a token that only a page of this app can know: an HMAC, under the app's
//! secret, of a random seed kept in the browser's own cookie (HttpOnly, SameSite=Strict). Another
//! site can make a browser post a form here, but cannot read the seed or compute the token.
//! A form posted without it, or with another's, is refused and changes nothing.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::error::PageError;
use crate::session::{cookie_value, header_value};
use crate::state::AppState;

pub const SEED_COOKIE: &str = "ehd_csrf";
/// The form field that carries the token.
pub const FIELD: &str = "_csrf";
/// The most a form may send (the longest is a complaint's description).
const FORM_LIMIT: usize = 64 * 1024;

/// This browser's seed, from its cookie or made for this request.
#[derive(Debug, Clone)]
pub struct Seed(String);

/// The token a page puts into its forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn token(secret: &[u8], seed: &Seed) -> Result<Hmac<Sha256>, PageError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| PageError::Internal(e.to_string()))?;
    mac.update(b"ehelpdesk-csrf:");
    mac.update(seed.0.as_bytes());
    Ok(mac)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

impl CsrfToken {
    pub fn for_seed(secret: &[u8], seed: &Seed) -> Result<Self, PageError> {
        Ok(Self(hex(&token(secret, seed)?.finalize().into_bytes())))
    }
}

/// Gives every request a seed; a browser without one gets its cookie with the answer.
pub async fn ensure_seed(state: axum::extract::State<AppState>, mut request: Request, next: Next) -> Response {
    let existing = cookie_value(request.headers(), SEED_COOKIE)
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let fresh = existing.is_none();
    let seed = Seed(existing.unwrap_or_else(|| hex(&rand::random::<[u8; 32]>())));
    request.extensions_mut().insert(seed.clone());
    let mut response = next.run(request).await;
    if fresh {
        let cookie = Cookie::build((SEED_COOKIE, seed.0))
            .path("/")
            .http_only(true)
            .secure(state.settings.secure_cookies())
            .same_site(SameSite::Strict)
            .build();
        response.headers_mut().append(header::SET_COOKIE, header_value(&cookie));
    }
    response
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CsrfToken
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, PageError> {
        let state = <AppState as axum::extract::FromRef<S>>::from_ref(state);
        let seed = parts.extensions.get::<Seed>().ok_or_else(|| PageError::Internal("no CSRF seed".into()))?;
        CsrfToken::for_seed(&state.settings.session_secret.0, seed)
    }
}

/// A form whose CSRF token was checked, decoded into `T` (which ignores the token field).
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request<Body>, state: &AppState) -> Result<Self, PageError> {
        let seed = request.extensions().get::<Seed>().cloned().ok_or(PageError::FormExpired)?;
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError::BadForm("Borang mesti dihantar sebagai application/x-www-form-urlencoded.".into()));
        }
        let body = axum::body::to_bytes(request.into_body(), FORM_LIMIT)
            .await
            .map_err(|_| PageError::BadForm("Borang terlalu besar. / The form is too large.".into()))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| PageError::BadForm(format!("Borang tidak dapat dibaca. / The form cannot be read: {e}")))?;
        let sent = pairs.iter().find(|(k, _)| k == FIELD).and_then(|(_, v)| unhex(v)).ok_or(PageError::FormExpired)?;
        token(&state.settings.session_secret.0, &seed)?.verify_slice(&sent).map_err(|_| PageError::FormExpired)?;
        let form = serde_urlencoded::from_bytes(&body).map_err(|e| PageError::BadForm(e.to_string()))?;
        Ok(Self(form))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_belongs_to_its_seed_and_secret() {
        let seed = Seed("a".repeat(64));
        let token = CsrfToken::for_seed(b"secret-one", &seed).unwrap();
        assert_eq!(token.0.len(), 64);
        assert_eq!(token.0, CsrfToken::for_seed(b"secret-one", &seed).unwrap().0);
        assert_ne!(token.0, CsrfToken::for_seed(b"secret-two", &seed).unwrap().0);
        assert_ne!(token.0, CsrfToken::for_seed(b"secret-one", &Seed("b".repeat(64))).unwrap().0);
        assert_eq!(unhex(&token.0).map(|b| hex(&b)), Some(token.0));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }
}
