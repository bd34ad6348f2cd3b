//! Docker's error body: every non-2xx answer carries `{"message": "..."}`.

use serde::{Deserialize, Serialize};

/// The JSON body of every error answer, as Docker sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// Serialises the body; a struct of one string cannot fail to encode, but
    /// we still fall back to a hand-built body rather than panic.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"message":"internal error"}"#.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_serialises_as_docker_does() {
        let body = ErrorBody::new("page not found");
        assert_eq!(body.to_json(), br#"{"message":"page not found"}"#);
    }

    #[test]
    fn error_body_escapes_quotes() {
        let body = ErrorBody::new(r#"no such image: "x""#);
        assert_eq!(
            String::from_utf8(body.to_json()).unwrap(),
            r#"{"message":"no such image: \"x\""}"#
        );
    }
}
