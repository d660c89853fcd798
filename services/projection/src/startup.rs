//! Building and running the projection service: database (migrations, calendar), NATS,
//! the projector, the outbox relay and the receipt recorder in the background, and the
//! query API in front.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use ehelpdesk_shared::http::extract::Authenticator;

use ehelpdesk_shared::http::observe::HttpMetrics;
use ehelpdesk_shared::http::serve::{self, HttpSettings};

use crate::configuration::Settings;
use crate::consumer::Projector;
use crate::metrics::ProjectionMetrics;
use crate::read_your_writes::{ReadYourWrites, follow_checkpoints};
use crate::receipts::ReceiptRecorder;
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
    admin_listener: TcpListener,
    admin_router: Router,
    http: HttpSettings,
    state: AppState,
    projector: Option<Projector>,
    relay: Option<Relay>,
    receipts: Option<ReceiptRecorder>,
    /// Fed by the projector here and by other instances' checkpoint notifications.
    applied: watch::Sender<u64>,
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
        let projector = settings.projector.then(|| Projector {
            pool: pool.clone(),
            jetstream: jetstream.clone(),
            event_log: settings.event_log.clone(),
            consumer: settings.consumer.clone(),
            batch_size: settings.batch_size,
            applied: applied_tx.clone(),
            metrics: metrics.clone(),
        });
        let relay = settings.relay_outbox.then(|| Relay {
            pool: pool.clone(),
            jetstream: jetstream.clone(),
            notify: settings.notify.clone(),
            metrics: Some(metrics.clone()),
            assignment_batch: settings.assignment_batch,
            clock: Arc::new(chrono::Utc::now),
        });
        let receipts = settings.receipts.then(|| ReceiptRecorder {
            pool: pool.clone(),
            jetstream: jetstream.clone(),
            notify: settings.notify.clone(),
            consumer: settings.receipts_consumer.clone(),
            batch_size: settings.batch_size,
            metrics: metrics.clone(),
        });
        let staff = crate::audit::staff_lookup(jetstream.clone(), settings.event_log.clone());
        let auth = Authenticator::from_config(&settings.auth, staff).await.map_err(StartError::Auth)?;
        let listener = TcpListener::bind(settings.listen).await?;
        let admin_listener = TcpListener::bind(settings.admin_listen).await?;
        let http = settings.http.clone();
        let working_days = Arc::new(crate::db::working_days(&settings.working_week, &settings.holidays));
        let read_your_writes = ReadYourWrites::new(
            jetstream.clone(),
            settings.event_log.stream.clone(),
            applied_rx.clone(),
            settings.min_seq_wait,
            settings.min_seq_waiters,
            metrics.min_seq_waiters.clone(),
        );
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
            read_your_writes,
        };
        let router = serve::wrap(routes::router(state.clone()), http_metrics.clone(), &http);
        let admin_router = serve::wrap(crate::metrics::admin_router(state.clone()), http_metrics, &http);
        Ok(Self {
            listener,
            router,
            admin_listener,
            admin_router,
            http,
            state,
            projector,
            relay,
            receipts,
            applied: applied_tx,
        })
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

    /// Serves queries and projects events until `shutdown` completes; then stops the
    /// background work and finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr()?, admin = %self.admin_addr()?, "projection service listening");
        let (stop_tx, stop_rx) = watch::channel(false);
        let projector = self.projector.map(|projector| tokio::spawn(projector.run(stop_rx.clone())));
        let follower = tokio::spawn(follow_checkpoints(
            self.state.pool.clone(),
            self.state.settings.schema.clone(),
            self.applied,
            stop_rx.clone(),
        ));
        let receipts = self.receipts.map(|receipts| tokio::spawn(receipts.run(stop_rx.clone())));
        let digest = self.relay.as_ref().and(self.state.settings.daily_digest_at).map(|at| {
            tokio::spawn(crate::digest::run(
                self.state.pool.clone(),
                self.state.working_days.clone(),
                std::sync::Arc::new(chrono::Utc::now),
                at,
                stop_rx.clone(),
            ))
        });
        let relay = self.relay.map(|relay| tokio::spawn(relay.run(self.state.applied.clone(), stop_rx)));
        let servers = vec![(self.listener, self.router), (self.admin_listener, self.admin_router)];
        let served = serve::serve(servers, &self.http, shutdown).await;
        let _ = stop_tx.send(true);
        if let Some(projector) = projector {
            let _ = projector.await;
        }
        let _ = follower.await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        if let Some(digest) = digest {
            let _ = digest.await;
        }
        if let Some(receipts) = receipts {
            let _ = receipts.await;
        }
        served
    }
}
