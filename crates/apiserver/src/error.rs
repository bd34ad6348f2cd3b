//! The one place where an error becomes an HTTP status and Docker's body.

use engine::ErrorKind;
use http::StatusCode;

/// An error on its way to the client.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// Docker's mapping of error classes to statuses (errdefs/http_helpers.go).
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<engine::EngineError> for ApiError {
    fn from(e: engine::EngineError) -> Self {
        Self::new(status_for(e.kind()), e.to_string())
    }
}

impl From<api::version::VersionError> for ApiError {
    fn from(e: api::version::VersionError) -> Self {
        Self::bad_request(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_docker_statuses() {
        assert_eq!(status_for(ErrorKind::NotFound), 404);
        assert_eq!(status_for(ErrorKind::Conflict), 409);
        assert_eq!(status_for(ErrorKind::InvalidArgument), 400);
        assert_eq!(status_for(ErrorKind::Unauthorized), 401);
        assert_eq!(status_for(ErrorKind::Forbidden), 403);
        assert_eq!(status_for(ErrorKind::NotModified), 304);
        assert_eq!(status_for(ErrorKind::Unavailable), 503);
        assert_eq!(status_for(ErrorKind::NotImplemented), 501);
        assert_eq!(status_for(ErrorKind::Internal), 500);
    }

    #[test]
    fn engine_errors_keep_their_message() {
        let e: ApiError = engine::EngineError::NotFound("no such container: x".into()).into();
        assert_eq!(e.status, 404);
        assert_eq!(e.message, "no such container: x");
    }

    #[test]
    fn version_errors_are_bad_requests() {
        let e: ApiError = api::version::check_supported("1.45").unwrap_err().into();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("too new"));
    }
}
