//! The web assets under `web/` (the chat widget and the agent inbox app), embedded in the
//! binary and served with their content type, a short cache lifetime, and gzip when the browser
//! asks.
//!
//! The widget's files are fetched by other sites' pages (the loader imports `widget.js` as a
//! module), so they are served with `Access-Control-Allow-Origin: *`: they are public code.
//! The app's files are for Parley's own origin only: no CORS header, and a Content-Security-Policy
//! that keeps its page to its own scripts and its own server's API and sockets.
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
    cfg.service(
        web::scope("/app")
            .wrap(Compress::default())
            .route("", web::get().to(app_index))
            .route("/", web::get().to(app_index))
            // The app's modules may live in folders (`/app/settings/agents.js`).
            .route("/{file:.+}", web::get().to(app_file)),
    );
}

/// The app's page may load only its own files and talk only to its own server; images may come
/// from elsewhere (avatars).
const APP_CSP: &str =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' https: data:";

async fn widget_file(file: web::Path<String>) -> HttpResponse {
    serve(&format!("widget/{file}"), Audience::AnySite)
}

async fn app_index() -> HttpResponse {
    serve("app/index.html", Audience::SameOrigin)
}

async fn app_file(file: web::Path<String>) -> HttpResponse {
    if file
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.'))
    {
        return not_found();
    }
    serve(&format!("app/{file}"), Audience::SameOrigin)
}

/// Who fetches a file: decides its cross-origin and content-security headers.
#[derive(Clone, Copy)]
enum Audience {
    /// Other sites' pages (the widget).
    AnySite,
    /// Parley's own pages (the app).
    SameOrigin,
}

/// One embedded file, or 404 in the API's error shape.
fn serve(path: &str, audience: Audience) -> HttpResponse {
    let Some(content_type) = content_type(path) else {
        return not_found();
    };
    let Some(file) = Assets::get(path) else {
        return not_found();
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={MAX_AGE_SECS}"),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    match audience {
        Audience::AnySite => {
            response.insert_header((
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ));
        }
        Audience::SameOrigin => {
            response.insert_header((header::CONTENT_SECURITY_POLICY, APP_CSP));
        }
    }
    response.body(file.data.into_owned())
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
