//! Building and running the service: connect to NATS, set up the stream and the number
//! bucket, bind the listener, serve until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;

use ehelpdesk_shared::access::Lookup;
use ehelpdesk_shared::http::extract::Authenticator;
use ehelpdesk_shared::staff::StaffMember;

use ehelpdesk_shared::http::observe::HttpMetrics;
use ehelpdesk_shared::http::serve::{self, HttpSettings};

use crate::configuration::Settings;
use crate::event_store::{EventStore, StoreError};
use crate::executor::Executor;
use crate::metrics::CommandMetrics;
use crate::notifications::Notifications;
use crate::numbers::ComplaintNumbers;
use crate::rate_limit::WriteLimiter;
use crate::routes;
use crate::state::AppState;

pub struct Application {
    listener: TcpListener,
    router: Router,
    admin_listener: TcpListener,
    admin_router: Router,
    http: HttpSettings,
    state: AppState,
}

impl Application {
    /// Connects and binds. NATS being down is not fatal: the service starts, answers 503
    /// and `readyz` says why, and sets the stream up as soon as NATS answers.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("ehelpdesk-command")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(&settings.event_log.nats_url)
            .await
            .map_err(std::io::Error::other)?;
        let store = EventStore::new(client.clone(), settings.event_log.clone());
        let registry = prometheus::Registry::new();
        let command_metrics = CommandMetrics::register(&registry);
        let http_metrics = HttpMetrics::register(&registry);
        let staff = Arc::new(Executor::new(store.clone(), settings.cache_capacity, command_metrics.clone()));
        let auth = Authenticator::from_config(&settings.auth, staff_lookup(staff.clone()))
            .await
            .map_err(std::io::Error::other)?;
        let notifications = Arc::new(Notifications::new(store.jetstream().clone(), settings.notify.clone()));
        let state = AppState {
            notifications,
            complaints: Arc::new(Executor::new(store.clone(), settings.cache_capacity, command_metrics.clone())),
            staff,
            numbers: Arc::new(OnceCell::new()),
            store,
            client,
            auth,
            limiter: WriteLimiter::new(settings.rate_limit),
            complaint_id_secret: settings.complaint_id_secret.as_str().into(),
            registry,
            metrics: command_metrics,
        };
        // Try once in the foreground so a healthy start is ready when `build` returns.
        match tokio::time::timeout(Duration::from_secs(5), set_up(&state)).await {
            Ok(Ok(())) => {}
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                tracing::warn!(%why, "event log not ready yet; retrying in the background");
                let state = state.clone();
                tokio::spawn(async move {
                    while let Err(e) = set_up(&state).await {
                        tracing::warn!(error = %e, "event log still not ready");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    tracing::info!("event log ready");
                });
            }
        }
        let listener = TcpListener::bind(settings.listen).await?;
        let admin_listener = TcpListener::bind(settings.admin_listen).await?;
        let router = serve::wrap(routes::router(state.clone()), http_metrics.clone(), &settings.http);
        let admin_router = serve::wrap(routes::admin_router(state.clone()), http_metrics, &settings.http);
        Ok(Self { listener, router, admin_listener, admin_router, http: settings.http, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin_listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr()?, admin = %self.admin_addr()?, "command service listening");
        let servers = vec![(self.listener, self.router), (self.admin_listener, self.admin_router)];
        serve::serve(servers, &self.http, shutdown).await
    }
}

/// The staff directory as the log has it now: who may act in which role.
fn staff_lookup(staff: Arc<Executor<StaffMember>>) -> Lookup {
    Arc::new(move |id| {
        let staff = staff.clone();
        Box::pin(async move { Ok(staff.current(&id).await?.state.map(|member| member.standing())) })
    })
}

async fn set_up(state: &AppState) -> Result<(), StoreError> {
    let config = state.store.config();
    state.store.ensure_stream().await?;
    let numbers = ComplaintNumbers::open(state.store.jetstream(), config, state.metrics.number_faults.clone()).await?;
    // Another set-up may have won the race; either bucket handle is the same bucket.
    let _ = state.numbers.set(numbers);
    Ok(())
}
