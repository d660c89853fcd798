//! `/inbox/badge/events`: the badge on an open page, live. The query service's event stream
//! (`/v1/inbox/badge/stream`) relayed to the browser with the person's token; the htmx SSE
//! extension swaps each count into the badge. Only the number is passed on, never the
//! upstream's text.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};

use crate::error::PageError;
use crate::session::Session;
use crate::state::AppState;

pub async fn events(
    State(state): State<AppState>,
    session: Session,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let upstream = state.api.open_stream(&session, "/v1/inbox/badge/stream").await?;
    let mut pending = String::new();
    let counts = upstream
        .bytes_stream()
        .take_while(|chunk| std::future::ready(chunk.is_ok()))
        .flat_map(move |chunk| {
            let text = chunk.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
            futures::stream::iter(badge_counts(&mut pending, &text))
        })
        .map(|count| Ok(Event::default().event("badge").data(count.to_string())));
    Ok(Sse::new(counts).keep_alive(KeepAlive::default()))
}

/// The counts of the complete `badge` events in `pending` + `chunk`; what is incomplete stays
/// in `pending` for the next chunk.
pub fn badge_counts(pending: &mut String, chunk: &str) -> Vec<i64> {
    pending.push_str(&chunk.replace("\r\n", "\n"));
    let mut counts = vec![];
    while let Some(end) = pending.find("\n\n") {
        let block: String = pending.drain(..end + 2).collect();
        let is_badge = block.lines().any(|l| l.trim_end() == "event: badge" || l.trim_end() == "event:badge");
        let data: String =
            block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect::<Vec<_>>().join("\n");
        let count = serde_json::from_str::<serde_json::Value>(&data).ok().and_then(|v| v["count"].as_i64());
        if let (true, Some(count)) = (is_badge, count) {
            counts.push(count);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_read_from_whole_badge_events_only() {
        let mut pending = String::new();
        assert!(badge_counts(&mut pending, "retry: 3000\n\n").is_empty());
        assert!(badge_counts(&mut pending, "event: badge\ndata: {\"pic_id\":\"p\",\"co").is_empty());
        assert_eq!(
            badge_counts(&mut pending, "unt\":2}\n\n:keep-alive\n\nevent: badge\r\ndata: {\"count\":3}\r\n\r\n"),
            [2, 3]
        );
        assert!(pending.is_empty());
        assert!(badge_counts(&mut pending, "event: other\ndata: {\"count\":9}\n\n").is_empty());
        assert!(badge_counts(&mut pending, "event: badge\ndata: <script>\n\n").is_empty());
    }
}
