//! Clients that hold a connection by sending slowly: a header byte at a time, or a body byte
//! at a time after valid headers. Both services must end such a connection (timeouts set
//! short here); the wait is bounded at many times the configured timeout.

use std::net::SocketAddr;
use std::time::Duration;

use ehelpdesk_shared::http::serve::HttpSettings;
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Timeouts short enough for a test.
fn short() -> HttpSettings {
    HttpSettings {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

/// Many times the short timeouts; the connection must end before it.
const BOUND: Duration = Duration::from_secs(20);

/// Both services with short timeouts, on a stream and database of their own.
async fn both(log: &TestEventLog, db: &TestDatabase) -> (CommandApp, ProjectionApp) {
    let command = CommandApp::spawn_with(&log.config, |s| s.http = short()).await;
    let mut settings = projection_settings(&log.config, db);
    settings.http = short();
    (command, ProjectionApp::spawn(settings).await)
}

/// Sends `head` at once, then `trickle` one byte every half second, reading meanwhile.
/// Returns what the server sent once it closed the connection, or `None` if it was still
/// open at `BOUND`.
async fn trickle(addr: SocketAddr, head: &[u8], trickle: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head).await.expect("write head");
    let (mut reader, mut writer) = stream.into_split();
    let trickle = trickle.to_vec();
    let writing = tokio::spawn(async move {
        for byte in trickle.iter().cycle() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let read_all = async {
        let mut received = vec![];
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&received).into_owned(),
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    let outcome = tokio::time::timeout(BOUND, read_all).await.ok();
    writing.abort();
    outcome
}

fn body_head(method: &str, path: &str, token: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"title\": \""
    )
    .into_bytes()
}

#[tokio::test]
async fn a_header_sent_byte_by_byte_is_cut_off_on_both_services() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let (command, projection) = both(&log, &db).await;
    for addr in [command.addr, projection.addr] {
        let closed = trickle(addr, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n").await;
        assert!(closed.is_some(), "{addr}: a header trickled byte by byte held the connection open");
    }
}

#[tokio::test]
async fn a_body_sent_byte_by_byte_is_cut_off_on_both_services() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let (command, projection) = both(&log, &db).await;
    let writes = body_head("POST", "/v1/complaints", &COMPLAINANT.token());
    let queries = body_head("GET", "/v1/triage", &ADMIN.token());
    let answer = trickle(command.addr, &writes, b"x").await;
    let answer = answer.expect("a body trickled byte by byte held the command service's connection open");
    // A body the handler waits for meets the request deadline: 408, and the connection goes.
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("content-type: application/problem+json"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // A body nobody reads is not waited for either.
    let answer = trickle(projection.addr, &queries, b"x").await;
    assert!(answer.is_some(), "a body trickled byte by byte held the projection's connection open");
}
