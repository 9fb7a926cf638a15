//! The HTTP router: Leptos pages and server functions, static assets, health check and the
//! layers every response passes through (compression, caching, cross-site protection).

use axum::Router;
use std::sync::LazyLock;

use axum::middleware;
use axum::routing::get;
use http::{HeaderValue, header};
use leptos_axum::{AxumRouteListing, LeptosRoutes, file_and_error_handler, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use app::state::AppState;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::SessionSettings;
use crate::session_store::DbSessionStore;
use app::{App, shell};

/// Hashed asset names change with every build, so browsers may keep them forever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unhashed names must be revalidated (cheap: ServeDir answers 304 when unchanged).
const REVALIDATE: &str = "no-cache";

/// The app's routes, discovered once per process. Route discovery runs the app with resource
/// loading suppressed by a process-wide flag, so a page rendered by another server in the same
/// process at that moment would wait forever (leptos#4773); doing it once, before any server
/// is built, rules that out for the tests that start many servers.
static ROUTES: LazyLock<Vec<AxumRouteListing>> = LazyLock::new(|| generate_route_list(App));

/// Builds the complete application router for the given state.
pub fn build(state: AppState, sessions: SessionSettings) -> Router {
    let options = state.leptos_options.clone();
    let routes = ROUTES.clone();
    let pkg_dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let cache_control = if options.hash_files {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let assets = tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ))
        .service(ServeDir::new(pkg_dir));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .nest_service(&format!("/{}", options.site_pkg_dir), assets)
        .leptos_routes_with_context(&state, routes, || (), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(
            crate::security::require_multipart_forms,
        ))
        .layer(middleware::from_fn(
            crate::security::reject_cross_site_writes,
        ))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        // Outermost, so every page render and server function sees the session.
        .layer(session_layer(&state, sessions))
        .with_state(state)
}

/// Session cookie `ferry_session`: HttpOnly, SameSite=Lax, Secure when configured, renewed on
/// activity until the idle limit; records live in the database.
fn session_layer(
    state: &AppState,
    settings: SessionSettings,
) -> SessionManagerLayer<DbSessionStore> {
    let idle = time::Duration::seconds(settings.idle.num_seconds());
    SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("ferry_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookie)
        .with_expiry(Expiry::OnInactivity(idle))
}
