//! The two services, called with the signed-in person's token. The app is one more client of
//! the public APIs: it sees and does exactly what its person may (docs/security.md).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::session::Session;

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// For event streams: no deadline on the whole answer, which is meant to last.
    streams: reqwest::Client,
    command: Url,
    query: Url,
}

/// Which service a call goes to.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    Command,
    Query,
}

/// What a service answered instead of what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A problem document: the service refused, with its code and a detail for people.
    #[error("{status} {code}: {detail}")]
    Problem { status: StatusCode, code: String, detail: String, field: Option<String> },
    /// The service could not be reached, or answered something that is not its API.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(serde::Deserialize)]
struct ProblemBody {
    code: Option<String>,
    detail: Option<String>,
    field: Option<String>,
}

/// A command's answer (`stream_sequence`: what `min_seq` waits for on the next read).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Receipt {
    #[serde(default)]
    pub complaint_id: Option<uuid::Uuid>,
    #[serde(default)]
    pub stream_sequence: Option<u64>,
    #[serde(default)]
    pub warnings: Vec<serde_json::Value>,
}

impl ApiClient {
    pub fn new(command: Url, query: Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(64).build()?;
        let streams = reqwest::Client::builder().connect_timeout(timeout).build()?;
        Ok(Self { http, streams, command, query })
    }

    fn url(&self, service: Service, path: &str) -> Result<Url, ApiError> {
        let base = match service {
            Service::Command => &self.command,
            Service::Query => &self.query,
        };
        base.join(path).map_err(|e| ApiError::Unavailable(format!("{path}: {e}")))
    }

    /// GET `path` (with its query) from `service` as `session`'s person.
    pub async fn get<T: DeserializeOwned>(
        &self,
        session: &Session,
        service: Service,
        path: &str,
    ) -> Result<T, ApiError> {
        let request = self.http.request(Method::GET, self.url(service, path)?);
        self.send(session, request).await
    }

    /// Opens the query service's event stream at `path` as `session`'s person; the answer's
    /// body is the stream.
    pub async fn open_stream(&self, session: &Session, path: &str) -> Result<reqwest::Response, ApiError> {
        let response = self
            .streams
            .get(self.url(Service::Query, path)?)
            .bearer_auth(&session.token)
            .header("x-acting-role", session.person.role.as_str())
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
        match response.status() {
            status if status.is_success() => Ok(response),
            status => {
                Err(ApiError::Problem { status, code: "stream_refused".into(), detail: String::new(), field: None })
            }
        }
    }

    /// POST `body` to `path` on the command service. `idempotency_key` makes a form sent twice
    /// (a double click, a reload) one command.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        session: &Session,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut request = self.http.request(Method::POST, self.url(Service::Command, path)?).json(body);
        if let Some(key) = idempotency_key.filter(|k| !k.is_empty()) {
            request = request.header("idempotency-key", key);
        }
        self.send(session, request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        session: &Session,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let response = request
            .bearer_auth(&session.token)
            .header("x-acting-role", session.person.role.as_str())
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Unavailable(format!("unexpected answer: {e}")));
        }
        let problem: ProblemBody = serde_json::from_slice(&bytes)
            .map_err(|_| ApiError::Unavailable(format!("{status} without a problem document")))?;
        Err(ApiError::Problem {
            status,
            code: problem.code.unwrap_or_else(|| "unknown".into()),
            detail: problem.detail.unwrap_or_default(),
            field: problem.field,
        })
    }

    /// Whether both services answer their readiness probe.
    pub async fn ready(&self) -> Result<(), String> {
        for service in [Service::Command, Service::Query] {
            let url = self.url(service, "/readyz").map_err(|e| e.to_string())?;
            let status = self.http.get(url.clone()).send().await.map(|r| r.status()).map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("{url}: {status}"));
            }
        }
        Ok(())
    }
}
