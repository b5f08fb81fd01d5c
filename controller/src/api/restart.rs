//! `POST /api/v1/resources/{kind}/{name}/restart?service=`: `docker restart` of a resource's
//! containers through the controller, recorded as an event of the resource.

use axum::{
    extract::{Path, Query, State},
    Json,
};
use serde::Deserialize;

use super::{error::ApiError, operate::RestartResult, routes::AppState};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RestartQuery {
    service: Option<String>,
}

pub(crate) async fn restart(
    State(app): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<RestartQuery>,
) -> Result<Json<RestartResult>, ApiError> {
    let kind = super::routes::parse_kind(&kind)?;
    let Some(op) = app.api.operate.clone() else {
        return Err(ApiError::not_found("restarts are not served by this API"));
    };
    Ok(Json(
        op.restart(kind, name, q.service.filter(|s| !s.is_empty()))
            .await?,
    ))
}
