//! `GET /v1/inbox/badge/stream`: a PIC's "Inbox Helpdesk" badge as server-sent events, so that
//! an open page shows a complaint assigned to them without a reload (the web app relays it).
//!
//! The count is sent at once, then again whenever it changes. It is looked at again after each
//! batch the read models apply (the watch of the applied sequence, which other instances'
//! batches reach through PostgreSQL `LISTEN/NOTIFY`, see [`crate::read_your_writes`]), at most
//! once per [`RECOUNT_EVERY`] however fast batches come, and every [`RECHECK_EVERY`] in any
//! case. A stream ends after [`LONGEST_STREAM`]; `retry:` tells the browser to come back,
//! with its token checked again.
//!
//! Not in the OpenAPI document: OpenAPI 3.0 cannot describe an event stream (README, "API
//! contract deviations").

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use ehelpdesk_shared::http::ApiError;
use ehelpdesk_shared::http::extract::{ApiQuery, CurrentActor};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::queries;
use crate::routes::inbox_owner;
use crate::state::{AppState, database_error};

/// However fast batches land, a stream counts at most this often.
pub const RECOUNT_EVERY: Duration = Duration::from_millis(500);
/// Counted again this often even when no batch was seen (a missed notification).
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// A stream's life; the browser reconnects.
pub const LONGEST_STREAM: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Whose badge: a PIC's own; admins and auditors name one.
    pub pic_id: Option<String>,
}

pub async fn badge_stream(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let pic_id = inbox_owner(&actor, params.pic_id)?;
    let first = queries::badge_for_pic(&state.pool, &pic_id).await.map_err(database_error)?;
    let (events, receiver) = mpsc::channel(4);
    let opening = Event::default().retry(Duration::from_secs(3));
    // A new channel with room for 4 always takes these two.
    let _ = events.try_send(Ok(opening));
    let _ = events.try_send(Ok(badge_event(&pic_id, first)));
    tokio::spawn(follow(state, pic_id, first, events));
    Ok(Sse::new(ReceiverStream::new(receiver)).keep_alive(KeepAlive::default()))
}

fn badge_event(pic_id: &str, count: i64) -> Event {
    Event::default().event("badge").data(serde_json::json!({ "pic_id": pic_id, "count": count }).to_string())
}

/// Sends the count when it changes, until the client goes or the stream's life ends.
async fn follow(state: AppState, pic_id: String, mut last: i64, events: mpsc::Sender<Result<Event, Infallible>>) {
    let mut applied = state.applied.clone();
    let ends = tokio::time::Instant::now() + LONGEST_STREAM;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(ends) => return,
            _ = events.closed() => return,
            _ = tokio::time::sleep(RECHECK_EVERY) => {}
            changed = applied.changed() => {
                if changed.is_err() {
                    return;
                }
                tokio::time::sleep(RECOUNT_EVERY).await;
                // What landed meanwhile is counted now too.
                applied.borrow_and_update();
            }
        }
        match queries::badge_for_pic(&state.pool, &pic_id).await {
            Ok(count) if count != last => {
                last = count;
                if events.send(Ok(badge_event(&pic_id, count))).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "badge stream: counting failed; trying again at the next batch"),
        }
    }
}
