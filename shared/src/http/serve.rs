//! Serving the routers: connections with a deadline for the request head, a cap on open
//! connections, and the layers every answer passes through: request ids, metrics, a deadline
//! for the answer, a panic catcher and `nosniff`. Both services serve their public and admin
//! routers through [`wrap`] and [`serve`], so a slow or hostile client meets the same limits
//! everywhere.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::http::observe::{HttpMetrics, observe};
use crate::http::problem::ApiError;

/// Limits on what one client can hold (environment variables; see README's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `HTTP_HEADER_READ_TIMEOUT_MS`, default 10000: from the connection opening (or the
    /// previous answer) to the end of the request head; then the connection is closed.
    pub header_read_timeout: Duration,
    /// `HTTP_REQUEST_TIMEOUT_MS`, default 30000: from the request head to the answer's head,
    /// reading the body included; then 408. A streamed answer body is not cut.
    pub request_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS`, default 512 per listener: further clients wait in the
    /// kernel's backlog until one closes.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// Every layer an answer passes through, innermost first. Both services wrap every router
/// they serve with this one function.
pub fn wrap(router: Router, metrics: Arc<HttpMetrics>, settings: &HttpSettings) -> Router {
    let router = router
        .layer(CatchPanicLayer::custom(answer_panic))
        .layer(middleware::from_fn_with_state(settings.request_timeout, deadline));
    observe(router, metrics)
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
}

/// The answer's head must be ready within `timeout`; its body may stream for longer (the
/// auditors' exports).
async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// A panic is our fault: 500 problem+json, the message in our log and never in the answer.
fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::Internal(format!("handler panicked: {}", crate::telemetry::mask_ic_numbers(&message))).into_response()
}

/// Serves each `(listener, router)` until `shutdown` completes; then stops accepting, lets
/// the requests in flight finish, and returns once every connection has closed.
pub async fn serve(
    servers: Vec<(TcpListener, Router)>,
    settings: &HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let tasks: Vec<_> = servers
        .into_iter()
        .map(|(listener, router)| tokio::spawn(accept_loop(listener, router, settings.clone(), stop_rx.clone())))
        .collect();
    for task in tasks {
        task.await.map_err(std::io::Error::other)?;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, router: Router, settings: HttpSettings, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout);
    loop {
        // At the cap, stop accepting: new clients wait in the backlog rather than each
        // costing a file descriptor.
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit,
            () = stopped(&mut stop) => break,
        };
        let Ok(permit) = permit else { break };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    wait_after_accept_error(e).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once shutdown was sent.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A client that gave up between connect and accept is nothing; anything else (out of file
/// descriptors) is worth a log line and a pause before trying again.
async fn wait_after_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tower::ServiceExt;

    async fn panicking() -> &'static str {
        panic!("secret 900101-03-5678 in a panic")
    }

    /// Three chunks, 100 ms apart: an export in miniature.
    async fn streaming() -> Body {
        Body::from_stream(futures::stream::unfold(0, |n| async move {
            if n == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::convert::Infallible>(format!("chunk {n}\n")), n + 1))
        }))
    }

    async fn scrape(registry: &prometheus::Registry) -> String {
        let body = crate::http::observe::render(registry).into_body();
        String::from_utf8(axum::body::to_bytes(body, 1 << 20).await.expect("body").to_vec()).expect("utf-8")
    }

    fn wrapped(settings: &HttpSettings) -> (Router, prometheus::Registry) {
        let registry = prometheus::Registry::new();
        let router = Router::new()
            .route("/panic", get(panicking))
            .route("/slow", get(|| async { tokio::time::sleep(Duration::from_secs(600)).await }))
            .route("/ok", get(|| async { "ok" }))
            .route("/brief", get(|| async { tokio::time::sleep(Duration::from_millis(300)).await }))
            .route("/stream", get(streaming));
        (wrap(router, HttpMetrics::register(&registry), settings), registry)
    }

    async fn call(router: &Router, request: Request) -> (Response, String) {
        let response = router.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
        (Response::from_parts(parts, Body::empty()), String::from_utf8_lossy(&bytes).into_owned())
    }

    fn get_request(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).expect("request")
    }

    #[tokio::test]
    async fn a_panic_is_a_500_problem_that_keeps_its_message_to_itself() {
        let (router, registry) = wrapped(&HttpSettings::default());
        let (response, body) = call(&router, get_request("/panic")).await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(body.contains(r#""code":"internal_error""#), "{body}");
        assert!(!body.contains("secret") && !body.contains("5678"), "{body}");
        // The service goes on serving.
        assert_eq!(call(&router, get_request("/ok")).await.0.status(), 200);
        let text = scrape(&registry).await;
        assert!(text.contains(r#"http_requests_total{method="GET",route="/panic",status="500"} 1"#), "{text}");
    }

    #[tokio::test]
    async fn an_answer_late_past_the_deadline_is_a_408_problem() {
        let settings = HttpSettings { request_timeout: Duration::from_millis(50), ..Default::default() };
        let (router, _) = wrapped(&settings);
        let (response, body) = call(&router, get_request("/slow")).await;
        assert_eq!(response.status(), 408);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(response.headers()["connection"], "close");
        assert!(body.contains(r#""code":"request_timeout""#), "{body}");
    }

    #[tokio::test]
    async fn a_streamed_body_may_outlast_the_deadline() {
        let settings = HttpSettings { request_timeout: Duration::from_millis(50), ..Default::default() };
        let (router, _) = wrapped(&settings);
        let (response, body) = call(&router, get_request("/stream")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(body, "chunk 0\nchunk 1\nchunk 2\n");
    }

    #[tokio::test]
    async fn every_answer_says_nosniff_even_a_404() {
        let (router, _) = wrapped(&HttpSettings::default());
        for path in ["/ok", "/nowhere"] {
            let (response, _) = call(&router, get_request(path)).await;
            assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
        }
    }

    #[tokio::test]
    async fn a_request_id_is_kept_only_when_short_and_visible() {
        let (router, _) = wrapped(&HttpSettings::default());
        let with_id =
            |id: &[u8]| Request::builder().uri("/ok").header("x-request-id", id).body(Body::empty()).expect("request");
        let (response, _) = call(&router, with_id(b"client-id-1")).await;
        assert_eq!(response.headers()["x-request-id"], "client-id-1");
        for unfit in [vec![b'a'; 129], b"has space".to_vec(), vec![b'x'; 400 * 1024], b"tab\there".to_vec()] {
            let (response, _) = call(&router, with_id(&unfit)).await;
            let id = response.headers()["x-request-id"].to_str().expect("ascii");
            assert_eq!(id.len(), 36, "a generated UUID instead of {} bytes", unfit.len());
        }
        let two = Request::builder()
            .uri("/ok")
            .header("x-request-id", "one")
            .header("x-request-id", "two")
            .body(Body::empty())
            .expect("request");
        assert_eq!(call(&router, two).await.0.headers()["x-request-id"].len(), 36);
    }

    #[tokio::test]
    async fn invented_methods_share_one_label() {
        let (router, registry) = wrapped(&HttpSettings::default());
        for n in 0..50 {
            let method = axum::http::Method::from_bytes(format!("INVENTED{n}").as_bytes()).expect("method");
            let request = Request::builder().method(method).uri("/ok").body(Body::empty()).expect("request");
            call(&router, request).await;
        }
        let text = scrape(&registry).await;
        assert!(!text.contains("INVENTED"), "{text}");
        assert!(text.contains(r#"method="other""#), "{text}");
    }

    /// Answers `GET /ok` on a raw connection; `None` if nothing came back within `wait`.
    async fn ask(stream: &mut TcpStream, wait: Duration) -> Option<String> {
        stream.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buffer = [0u8; 1024];
        match tokio::time::timeout(wait, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buffer[..n]).into_owned()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_until_one_closes() {
        let settings = HttpSettings { max_connections: 1, ..Default::default() };
        let (router, _) = wrapped(&settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(vec![(listener, router)], &settings, async {
                let _ = stopped.await;
            })
            .await
        });
        let mut first = TcpStream::connect(addr).await.expect("connect");
        assert!(ask(&mut first, Duration::from_secs(10)).await.expect("first answered").contains("200 OK"));
        let mut second = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(ask(&mut second, Duration::from_millis(300)).await, None, "served past the cap");
        drop(first);
        let mut buffer = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), second.read(&mut buffer))
            .await
            .expect("answered once the first closed")
            .expect("read");
        assert!(String::from_utf8_lossy(&buffer[..n]).contains("200 OK"));
        drop(second);
        let _ = stop.send(());
        server.await.expect("joined").expect("served");
    }

    #[tokio::test]
    async fn shutdown_lets_a_request_in_flight_finish() {
        let settings = HttpSettings::default();
        let (router, _) = wrapped(&settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(vec![(listener, router)], &settings, async {
                let _ = stopped.await;
            })
            .await
        });
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"GET /brief HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        // The request is in flight (its handler sleeps) when the shutdown comes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = stop.send(());
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_string(&mut answer))
            .await
            .expect("answered and closed")
            .expect("read");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        tokio::time::timeout(Duration::from_secs(10), server).await.expect("stopped").expect("joined").expect("ok");
        assert!(TcpStream::connect(addr).await.is_err(), "no longer listening");
    }
}
