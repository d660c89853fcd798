//! Building and running the projection service: database (migrations, calendar), NATS,
//! the projector and outbox relay in the background, and the query API in front.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use ehelpdesk_shared::http::extract::Authenticator;

use ehelpdesk_shared::http::observe::{HttpMetrics, observe};

use crate::configuration::Settings;
use crate::consumer::Projector;
use crate::metrics::ProjectionMetrics;
use crate::relay::Relay;
use crate::routes;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    #[error("authentication: {0}")]
    Auth(String),
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    projector: Projector,
    relay: Option<Relay>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let pool =
            crate::db::connect(&settings.database_url, &settings.schema, settings.database_max_connections).await?;
        crate::db::prepare(&pool, &settings.schema, &settings.working_week, &settings.holidays).await?;
        let client = async_nats::ConnectOptions::new()
            .name("ehelpdesk-projection")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(&settings.event_log.nats_url)
            .await
            .map_err(|e| StartError::Nats(e.to_string()))?;
        let jetstream = async_nats::jetstream::new(client.clone());
        let (applied_tx, applied_rx) = watch::channel(crate::db::checkpoint(&pool).await?);
        let registry = prometheus::Registry::new();
        let metrics = ProjectionMetrics::register(&registry);
        let http_metrics = HttpMetrics::register(&registry);
        let projector = Projector {
            pool: pool.clone(),
            jetstream: jetstream.clone(),
            event_log: settings.event_log.clone(),
            consumer: settings.consumer.clone(),
            batch_size: settings.batch_size,
            applied: applied_tx,
            metrics: metrics.clone(),
        };
        let relay = settings.relay_outbox.then(|| Relay {
            pool: pool.clone(),
            jetstream: jetstream.clone(),
            notify: settings.notify.clone(),
            metrics: Some(metrics.clone()),
        });
        let auth = Authenticator::from_config(&settings.auth, crate::db::staff_lookup(pool.clone()))
            .await
            .map_err(StartError::Auth)?;
        let listener = TcpListener::bind(settings.listen).await?;
        let working_days = Arc::new(crate::db::working_days(&settings.working_week, &settings.holidays));
        let state = AppState {
            pool,
            settings: Arc::new(settings),
            client,
            jetstream,
            applied: applied_rx,
            auth,
            registry,
            metrics,
            reports: Default::default(),
            working_days,
        };
        let router = observe(routes::router(state.clone()), http_metrics);
        Ok(Self { listener, router, state, projector, relay })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves queries and projects events until `shutdown` completes; then stops the
    /// background work and finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let projector = tokio::spawn(self.projector.clone().run(stop_rx.clone()));
        let relay = self.relay.map(|relay| tokio::spawn(relay.run(self.state.applied.clone(), stop_rx)));
        tracing::info!(addr = %self.listener.local_addr()?, "projection service listening");
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await;
        let _ = stop_tx.send(true);
        let _ = projector.await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        served
    }
}
