//! Bearer-token auth. The token is compared as a SHA-256 digest in constant time, so
//! neither its content nor its length leaks through timing.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

#[derive(Clone)]
pub(crate) struct TokenDigest(Arc<[u8; 32]>);

impl TokenDigest {
    pub fn new(token: &str) -> Self {
        Self(Arc::new(Sha256::digest(token.as_bytes()).into()))
    }

    fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(&*self.0))
    }
}

/// Middleware: 401 `{"error":"missing or invalid token"}` unless the request carries
/// `Authorization: Bearer <token>`.
pub(crate) async fn require_token(State(token): State<TokenDigest>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match presented {
        Some(t) if token.accepts(t) => next.run(req).await,
        _ => ApiError::unauthorized().into_response(),
    }
}
