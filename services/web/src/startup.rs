//! Building and running the web app: the token verifier, the API client, the pages, and the
//! headers every answer carries.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use ehelpdesk_shared::auth::Verifier;
use ehelpdesk_shared::http::observe::HttpMetrics;
use ehelpdesk_shared::http::serve::{self, HttpSettings};
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::ApiClient;
use crate::configuration::Settings;
use crate::state::AppState;
use crate::{csrf, routes};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("JWT settings: {0}")]
    Tokens(String),
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// No inline script or style, nothing from elsewhere, never in a frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub struct Application {
    listener: TcpListener,
    router: Router,
    http: HttpSettings,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let verifier = Verifier::from_config(&settings.auth).await.map_err(StartError::Tokens)?;
        if let Some(url) = settings.auth.jwks_url.clone() {
            verifier.refresh_periodically(url);
        }
        let api = ApiClient::new(settings.command_url.clone(), settings.query_url.clone(), settings.api_timeout)?;
        if settings.production {
            tracing::info!("production: sign-in through the MyPKN portal only");
        } else {
            tracing::warn!("development: the sign-in page offers a picker of invented people (never in production)");
        }
        let listener = TcpListener::bind(settings.listen).await?;
        let http = settings.http.clone();
        let state = AppState { api, verifier, settings: Arc::new(settings) };
        let registry = prometheus::Registry::new();
        let router = serve::wrap(pages(state), HttpMetrics::register(&registry), &http);
        Ok(Self { listener, router, http })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr()?, "web app listening");
        serve::serve(vec![(self.listener, self.router)], &self.http, shutdown).await
    }
}

/// axum's own refusals of a malformed path or query (a 4xx in plain English text) become the
/// app's error page, as every other mistake does.
async fn readable_rejections(response: axum::response::Response) -> axum::response::Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(plain && response.status().is_client_error()) {
        return response;
    }
    crate::error::PageError::BadForm(
        "Alamat ini tidak sah; semak pautan dan cuba lagi. / This address is not valid; check the link and try again."
            .into(),
    )
    .into_response_with(response.status())
}

/// The routes with the CSRF seed and the security headers around them.
fn pages(state: AppState) -> Router {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    routes::router(state.clone())
        .layer(axum::middleware::map_response(readable_rejections))
        .layer(axum::middleware::from_fn_with_state(state, csrf::ensure_seed))
        .layer(header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(header(header::CACHE_CONTROL, "no-store"))
}
