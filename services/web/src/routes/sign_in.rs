//! Signing in and out. Production: the MyPKN portal signs the person in and posts their token
//! back (docs/security.md, "Signing in to the web app"). Development: a picker of invented people.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use ehelpdesk_shared::demo_people::EVERYONE;
use serde::Deserialize;

use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::PageError;
use crate::pages::sign_in::{PickerPerson, SignInPage};
use crate::pages::{Chrome, Render};
use crate::people;
use crate::session::{self, Session, cookie_value, header_value, local_path};
use crate::state::AppState;

/// The cookie that carries the portal round trip's nonce and where to go after it.
const PORTAL_STATE_COOKIE: &str = "ehd_mypkn_state";

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    #[serde(default)]
    next: String,
}

pub async fn show(
    State(state): State<AppState>,
    Query(Next { next }): Query<Next>,
    headers: HeaderMap,
    csrf: CsrfToken,
) -> Response {
    let next = local_path(&next).to_owned();
    // Already signed in: nothing to choose.
    if cookie_value(&headers, session::SESSION_COOKIE).and_then(|t| Session::from_token(&state, t)).is_some() {
        return Redirect::to(&next).into_response();
    }
    let production = state.settings.production;
    let people = match production {
        true => vec![],
        false => EVERYONE
            .iter()
            .map(|p| PickerPerson {
                id: p.id,
                role: p.role,
                name: p.name,
                role_label: p.role.parse().map(people::role_label).unwrap_or(p.role),
                ptj: p.ptj,
            })
            .collect(),
    };
    let portal_url = state.settings.portal_sign_in_url.as_ref().map(|_| {
        let query = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
        format!("/masuk/mypkn?{query}")
    });
    SignInPage { chrome: Chrome::signed_out(csrf.0), next, people, portal_url, production }.render_page(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct Pick {
    id: String,
    role: String,
    #[serde(default)]
    next: String,
}

/// Development only: sign in as one of the invented people.
pub async fn sign_in_as(State(state): State<AppState>, CsrfForm(pick): CsrfForm<Pick>) -> Result<Response, PageError> {
    let person = people::find(&pick.id, &pick.role).ok_or(PageError::NotFound)?;
    let token = people::token_for(&state.settings.auth, person).map_err(PageError::Internal)?;
    let session = Session::from_token(&state, &token)
        .ok_or_else(|| PageError::Internal("a freshly minted token does not verify".into()))?;
    Ok(signed_in(&state, &session, local_path(&pick.next)))
}

fn signed_in(state: &AppState, session: &Session, next: &str) -> Response {
    let cookie = session.cookie(state.settings.secure_cookies());
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, location(next))]).into_response()
}

fn location(path: &str) -> HeaderValue {
    HeaderValue::from_str(local_path(path)).unwrap_or_else(|_| HeaderValue::from_static("/"))
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

pub async fn sign_out(State(state): State<AppState>, CsrfForm(_): CsrfForm<Nothing>) -> Response {
    let removal = session::removal(state.settings.secure_cookies());
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, removal), (header::LOCATION, HeaderValue::from_static("/masuk"))])
        .into_response()
}

/// Production: off to the portal, with a nonce this browser keeps (the portal posts it back).
pub async fn to_portal(
    State(state): State<AppState>,
    Query(Next { next }): Query<Next>,
) -> Result<Response, PageError> {
    let portal = state.settings.portal_sign_in_url.clone().ok_or(PageError::NotFound)?;
    let nonce: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
    let mut target = portal;
    let back = state.settings.public_base_url.join("/masuk/mypkn").map_err(|e| PageError::Internal(e.to_string()))?;
    target.query_pairs_mut().append_pair("redirect_uri", back.as_str()).append_pair("state", &nonce);
    // SameSite=None: the portal's POST back is cross-site, and must carry it. It holds no
    // authority, only the nonce and where to go.
    let cookie = Cookie::build((PORTAL_STATE_COOKIE, format!("{nonce}.{}", local_path(&next))))
        .path("/masuk/mypkn")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::None)
        .max_age(cookie::time::Duration::minutes(10))
        .build();
    Ok((
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, header_value(&cookie)), (header::LOCATION, location_of(target.as_str()))],
    )
        .into_response())
}

fn location_of(url: &str) -> HeaderValue {
    HeaderValue::from_str(url).unwrap_or_else(|_| HeaderValue::from_static("/"))
}

#[derive(Debug, Deserialize)]
pub struct PortalPost {
    token: String,
    state: String,
}

/// Production: the portal posts the signed-in person's token back, with the nonce.
pub async fn from_portal(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(post): axum::Form<PortalPost>,
) -> Result<Response, PageError> {
    let kept = cookie_value(&headers, PORTAL_STATE_COOKIE).ok_or(PageError::FormExpired)?;
    let (nonce, next) = kept.split_once('.').ok_or(PageError::FormExpired)?;
    if nonce.is_empty() || nonce != post.state {
        return Err(PageError::FormExpired);
    }
    let session = Session::from_token(&state, &post.token).ok_or_else(|| {
        PageError::BadForm(
            "Token MyPKN tidak sah atau telah tamat tempoh. / The MyPKN token is not valid or has expired.".into(),
        )
    })?;
    Ok(signed_in(&state, &session, next))
}
