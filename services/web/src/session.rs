//! Who is asking: the session cookie holds the portal's token (MyPKN's JWT, or in development
//! one the picker minted), checked on every request exactly as the APIs check it. The app keeps
//! nothing else; the cookie expires with the token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};
use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::Claims;

use crate::pages::{self, Render};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "ehd_session";

/// The signed-in person, as their token says.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub person: SignedIn,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id: String,
    pub name: String,
    /// The role the app acts in (sent as `X-Acting-Role`): the token's first.
    pub role: Role,
}

impl Session {
    /// The session `token` stands for, if it is valid now.
    pub fn from_token(state: &AppState, token: &str) -> Option<Self> {
        let claims: Claims = state.verifier.verify(token).ok()?;
        let role = *claims.roles().first()?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0)?;
        let name = claims.name.clone().unwrap_or_else(|| claims.sub.clone());
        Some(Self { token: token.to_owned(), person: SignedIn { id: claims.sub, name, role }, expires_at })
    }

    /// The cookie that keeps it: HttpOnly, SameSite=Strict, Secure over https, gone when the
    /// token expires.
    pub fn cookie(&self, secure: bool) -> HeaderValue {
        let seconds = (self.expires_at - Utc::now()).num_seconds().max(0);
        let cookie = Cookie::build((SESSION_COOKIE, self.token.clone()))
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .max_age(cookie::time::Duration::seconds(seconds))
            .build();
        header_value(&cookie)
    }
}

/// The cookie that ends a session.
pub fn removal(secure: bool) -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    header_value(&cookie)
}

pub(crate) fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // A cookie built from our own names and token characters is always a valid header.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` in the request.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Session {
    type Rejection = SignInRequired;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        cookie_value(&parts.headers, SESSION_COOKIE)
            .and_then(|token| Session::from_token(state, token))
            .ok_or_else(|| SignInRequired::for_request(parts))
    }
}

/// No valid session: the person signs in and comes back to where they were.
#[derive(Debug)]
pub struct SignInRequired {
    next: String,
    htmx: bool,
    /// A link followed from another site (an e-mail, WhatsApp): a SameSite=Strict cookie is
    /// not sent on that first request, so the page reloads itself once from our own origin,
    /// which does send it.
    from_another_site: bool,
}

impl SignInRequired {
    fn for_request(parts: &Parts) -> Self {
        let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
        let header_is = |name: &str, value: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()) == Some(value);
        Self {
            next: local_path(&next).to_owned(),
            htmx: parts.headers.contains_key("hx-request"),
            from_another_site: parts.method == axum::http::Method::GET && header_is("sec-fetch-site", "cross-site"),
        }
    }

    pub fn sign_in_url(&self) -> String {
        sign_in_url(&self.next)
    }
}

/// `/masuk?next=<path>`.
pub fn sign_in_url(next: &str) -> String {
    let query = serde_urlencoded::to_string([("next", local_path(next))]).unwrap_or_default();
    format!("/masuk?{query}")
}

/// `next` if it is a path on this site, else `/`: sign-in never sends anyone elsewhere.
pub fn local_path(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    if local { next } else { "/" }
}

impl IntoResponse for SignInRequired {
    fn into_response(self) -> Response {
        if self.htmx {
            // htmx follows HX-Redirect with a full page load.
            return (StatusCode::UNAUTHORIZED, [("hx-redirect", self.sign_in_url())]).into_response();
        }
        if self.from_another_site {
            return pages::Reload { url: self.next }.render_page(StatusCode::OK);
        }
        Redirect::to(&self.sign_in_url()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/complaints/1?x=2"), "/complaints/1?x=2");
        for outside in ["https://evil.example", "//evil.example", "/\\evil.example", "", "javascript:alert(1)"] {
            assert_eq!(local_path(outside), "/", "{outside}");
        }
        assert_eq!(sign_in_url("/inbox?status=new"), "/masuk?next=%2Finbox%3Fstatus%3Dnew");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; ehd_session=tok.en.x"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("tok.en.x"));
        assert_eq!(cookie_value(&headers, "b"), Some("2"));
        assert_eq!(cookie_value(&headers, "c"), None);
    }
}
