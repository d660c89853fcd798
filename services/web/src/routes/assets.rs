//! The stylesheet and the vendored htmx, compiled into the binary: the app needs no files
//! beside it and no build step.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::PageError;

/// (path under /static/, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../static/app.css")),
    ("vendor/htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../static/vendor/htmx.min.js")),
    (
        "vendor/htmx-ext-sse.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/htmx-ext-sse.min.js"),
    ),
];

pub async fn serve(Path(path): Path<String>) -> Result<Response, PageError> {
    let (_, content_type, bytes) = ASSETS.iter().find(|(p, _, _)| *p == path).ok_or(PageError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        *bytes,
    )
        .into_response())
}
