//! Building and running the notifier: NATS, the NOTIFY stream and the delivery records, the
//! providers, the worker in the background and the probes in front.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ehelpdesk_shared::http::observe::HttpMetrics;
use ehelpdesk_shared::http::serve::{self, HttpSettings};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::configuration::Settings;
use crate::email::{Letterhead, Mailer};
use crate::metrics::NotifierMetrics;
use crate::receipts::Receipts;
use crate::record::RecordStore;
use crate::routes::{self, Probes};
use crate::whatsapp::WhatsApp;
use crate::worker::{Worker, WorkerParts, channel_rate, worker_id};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("{0}")]
    Provider(String),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Application {
    listener: TcpListener,
    admin_listener: TcpListener,
    router: Router,
    admin_router: Router,
    http: HttpSettings,
    worker: Worker,
}

impl Application {
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        let client = async_nats::ConnectOptions::new()
            .name("ehelpdesk-notifier")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(&settings.event_log.nats_url)
            .await
            .map_err(|e| StartError::Nats(e.to_string()))?;
        let jetstream = async_nats::jetstream::new(client.clone());
        // The relay may not have run yet; the stream is the same either way.
        ehelpdesk_shared::streams::ensure(&jetstream, settings.notify.stream_config())
            .await
            .map_err(StartError::Nats)?;
        let records = RecordStore::open(&jetstream, &settings.notify.deliveries_bucket(), settings.notify.replicas)
            .await
            .map_err(StartError::Nats)?;
        let mailer = Mailer::new(&settings.mail, settings.smtp_connections, settings.send_timeout)
            .map_err(StartError::Provider)?;
        let whatsapp = WhatsApp::new(&settings.whatsapp, settings.send_timeout).map_err(StartError::Provider)?;
        announce(&mailer, &whatsapp).await;
        let registry = Arc::new(prometheus::Registry::new());
        let metrics = NotifierMetrics::register(&registry);
        let http_metrics = HttpMetrics::register(&registry);
        let probes = Probes {
            client,
            jetstream: jetstream.clone(),
            stream: settings.notify.stream.clone(),
            records: records.clone(),
            mailer: mailer.clone(),
            whatsapp: whatsapp.describe(),
            registry,
        };
        let worker = Worker(Arc::new(WorkerParts {
            receipts: Receipts { jetstream: jetstream.clone(), notify: settings.notify.clone() },
            jetstream,
            notify: settings.notify.clone(),
            consumer: settings.consumer.clone(),
            records,
            letterhead: Letterhead {
                from: settings.mail_from.clone(),
                reply_to: settings.mail_reply_to.clone(),
                public_base_url: settings.public_base_url.clone(),
            },
            mailer,
            whatsapp,
            policy: settings.retry,
            lease: settings.lease,
            ack_wait: settings.ack_wait,
            concurrency: settings.concurrency,
            quiet_hours: settings.quiet_hours,
            email_rate: channel_rate(settings.email_per_second),
            whatsapp_rate: channel_rate(settings.whatsapp_per_second),
            hold_recheck: settings.hold_recheck,
            fault: settings.fault,
            metrics,
            clock,
            worker_id: worker_id(),
        }));
        let router = serve::wrap(routes::router(probes.clone()), http_metrics.clone(), &settings.http);
        let admin_router = serve::wrap(routes::admin_router(probes), http_metrics, &settings.http);
        Ok(Self {
            listener: TcpListener::bind(settings.listen).await?,
            admin_listener: TcpListener::bind(settings.admin_listen).await?,
            router,
            admin_router,
            http: settings.http,
            worker,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin_listener.local_addr()
    }

    /// Delivers and serves the probes until `shutdown`; then finishes the messages in hand.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr()?, admin = %self.admin_addr()?, "notifier listening");
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(self.worker.clone().run(stop_rx.clone()));
        let backlog = tokio::spawn(self.worker.clone().watch_backlog(stop_rx));
        let servers = vec![(self.listener, self.router), (self.admin_listener, self.admin_router)];
        let served = serve::serve(servers, &self.http, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = worker.await;
        let _ = backlog.await;
        served
    }
}

/// Says where messages go, and whether the mail server answers now (a server that does not
/// is no reason to exit: readiness reports it and sends retry until it does).
async fn announce(mailer: &Mailer, whatsapp: &WhatsApp) {
    tracing::info!(email = %mailer.describe(), whatsapp = %whatsapp.describe(), "notifications go out by");
    if let Mailer::Files { dir } = mailer {
        tracing::warn!(dir = %dir.display(), "no SMTP server configured (MAIL_DELIVERY=files): e-mails are written as .eml files");
    }
    if let WhatsApp::Files { dir, .. } = whatsapp {
        tracing::warn!(dir = %dir.display(), "no WhatsApp Cloud API configured (WHATSAPP_DELIVERY=files): messages are written as .json files");
    }
    if let Err(e) = mailer.check().await {
        tracing::error!(error = %e, "SMTP_URL: the mail server does not answer; e-mails wait and retry until it does");
    }
}
