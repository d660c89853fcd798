//! The inbox table, with the guide's columns, filtered by status and category, a page at a time.

use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{Choice, Chrome};
use crate::format;

#[derive(Template)]
#[template(path = "inbox.html")]
pub struct InboxPage {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub rows: Vec<InboxRow>,
    pub filters: Filters,
    pub statuses: Vec<Choice>,
    pub categories: Vec<Choice>,
    /// The link to the next page, if there is one.
    pub next_page: Option<String>,
    /// The status and category filters (not on the triage queue, which is all new).
    pub with_filters: bool,
}

/// The filters as the person chose them (kept in the form after a search).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub cursor: String,
}

/// One complaint in a list, as the query API answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedComplaint {
    pub complaint_id: Uuid,
    pub number: String,
    pub title: String,
    pub category: String,
    pub category_name_ms: String,
    pub complainant: ListedComplainant,
    pub status_label_ms: String,
    pub pic_name: Option<String>,
    pub logged_at: DateTime<Utc>,
    pub age_working_days: i32,
    pub solved_within_working_days: Option<i32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListedComplainant {
    /// Masked by the API (`******-**-5678`).
    pub ic_number: String,
    pub name: String,
    pub ptj: String,
}

/// A page of the search (`GET /v1/complaints`).
#[derive(Debug, Deserialize)]
pub struct SearchPage {
    pub items: Vec<ListedComplaint>,
    pub next_cursor: Option<String>,
}

/// A row as the table shows it.
pub struct InboxRow {
    pub href: String,
    pub number: String,
    pub ic_number: String,
    pub name: String,
    pub ptj: String,
    pub title: String,
    pub received: String,
    pub category: String,
    pub pic: String,
    pub status: String,
    pub aging: String,
}

impl From<ListedComplaint> for InboxRow {
    fn from(c: ListedComplaint) -> Self {
        let aging = match c.solved_within_working_days {
            Some(days) => format!("Selesai dalam masa: {days} hari"),
            None => format!("{} hari", c.age_working_days),
        };
        Self {
            href: format!("/complaints/{}", c.complaint_id),
            number: c.number,
            ic_number: c.complainant.ic_number,
            name: c.complainant.name,
            ptj: c.complainant.ptj,
            title: c.title,
            received: format::date(c.logged_at),
            category: format!("{} ({})", c.category_name_ms, c.category),
            pic: c.pic_name.unwrap_or_else(|| "-".into()),
            status: c.status_label_ms,
            aging,
        }
    }
}
