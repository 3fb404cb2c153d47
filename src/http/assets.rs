//! The web assets under `web/` (the chat widget; later the inbox app), embedded in the binary
//! and served with their content type, a short cache lifetime, and gzip when the browser asks.
//!
//! The widget's files are fetched by other sites' pages (the loader imports `widget.js` as a
//! module), so they are served with `Access-Control-Allow-Origin: *`: they are public code.
//!
//! Must not: serve anything outside `web/`, or anything computed per request.

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Compress;
use actix_web::{HttpResponse, web};

/// Everything under `web/` (read from disk in debug builds, so edits show without a rebuild).
#[derive(rust_embed::Embed)]
#[folder = "web/"]
pub struct Assets;

/// How long browsers may keep an asset before asking again (the URLs are not versioned yet).
const MAX_AGE_SECS: u32 = 300;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/widget")
            .wrap(Compress::default())
            .route("/{file}", web::get().to(widget_file)),
    );
}

async fn widget_file(file: web::Path<String>) -> HttpResponse {
    serve(&format!("widget/{file}"))
}

/// One embedded file, or 404 in the API's error shape.
fn serve(path: &str) -> HttpResponse {
    let Some(content_type) = content_type(path) else {
        return not_found();
    };
    match Assets::get(path) {
        Some(file) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, content_type))
            .insert_header((
                header::CACHE_CONTROL,
                format!("public, max-age={MAX_AGE_SECS}"),
            ))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(file.data.into_owned()),
        None => not_found(),
    }
}

fn not_found() -> HttpResponse {
    use actix_web::ResponseError;
    super::ApiError::not_found("file").error_response()
}

/// Only the kinds of file Parley ships are served.
fn content_type(path: &str) -> Option<&'static str> {
    match path.rsplit_once('.')?.1 {
        "js" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "html" => Some("text/html; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        "png" => Some("image/png"),
        _ => None,
    }
}
