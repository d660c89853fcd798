//! "Utama": the person's starting page, with the "Inbox Helpdesk" badge for a PIC.

use askama::Template;

use super::Chrome;

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub tiles: Vec<Tile>,
}

pub struct Tile {
    pub href: &'static str,
    pub title: &'static str,
    pub blurb: &'static str,
    /// A count beside the title (the badge), if the tile has one.
    pub badge: Option<i64>,
    pub badge_label: &'static str,
}
