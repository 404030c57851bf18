//! `/static/{file}`: the stylesheet, the script and the icon, embedded in
//! the binary at build time (no build step, nothing to install).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::WebError;

/// The embedded files: name, content type, content.
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("static/icon.svg")),
];

/// One embedded file, cached for a day (page links carry the version).
pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *body,
        )
            .into_response(),
        None => WebError::not_found("There is no such file.").into_response(),
    }
}
