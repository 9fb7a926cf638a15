//! Cross-site request protection: state-changing requests must come from Ferry's own pages.
//!
//! Server functions are plain HTTP endpoints with cookies, so without this check another site
//! could make a signed-in browser call them. Browsers send `Sec-Fetch-Site` and `Origin`;
//! clients that send neither (scripts, curl) are not browsers and carry no ambient cookies.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};

/// Rejects cross-site `POST`, `PUT`, `PATCH` and `DELETE` requests with 403.
pub async fn reject_cross_site_writes(request: Request, next: Next) -> Response {
    if is_safe_method(request.method()) || is_same_site(request.headers()) {
        next.run(request).await
    } else {
        tracing::warn!(method = %request.method(), uri = %request.uri(), "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            "Cross-site requests are not allowed.",
        )
            .into_response()
    }
}

/// Server functions that take a multipart form. Their decoder gives up (panics) on a request
/// without a multipart boundary, so such requests are answered here with a clear 400 first.
const MULTIPART_ENDPOINTS: [&str; 1] = ["/api/profiles/import"];

/// Refuses a request to a multipart endpoint that is not a multipart form.
pub async fn require_multipart_forms(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && MULTIPART_ENDPOINTS.contains(&request.uri().path()) {
        let has_boundary = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| multer::parse_boundary(ct).is_ok());
        if !has_boundary {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"Invalid":"Send the file as a multipart form (multipart/form-data with a boundary)."}"#,
            )
                .into_response();
        }
    }
    next.run(request).await
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True unless the browser says the request came from another site.
fn is_same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let origin_host = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://").map(|(_, rest)| rest));
            matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(is_same_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_same_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(!is_same_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!is_same_site(&headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn origin_must_match_host_when_fetch_metadata_is_absent() {
        assert!(is_same_site(&headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(!is_same_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(!is_same_site(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(is_same_site(&headers(&[("host", "127.0.0.1:3000")])));
    }
}
