//! The engine's error classes. Only the API server turns a class into an
//! HTTP status and Docker's `{"message"}` body.

use std::path::PathBuf;

/// The class of an error, as the API server needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    Unauthorized,
    Forbidden,
    NotModified,
    Unavailable,
    NotImplemented,
    Internal,
}

/// Errors of the engine itself (not of a sub-store).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The operation is not allowed on this object (e.g. removing a
    /// predefined network): 403.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Corrupt(String),
    /// The client went away; nothing is reported to anyone.
    #[error("operation cancelled")]
    Cancelled,
    /// Nothing to do (Docker answers 304).
    #[error("not modified")]
    NotModified,
    /// Kernel networking work failed (netlink, iptables, namespaces).
    #[error("{op}: {source}")]
    Network {
        op: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Kernel work on a container's cgroups failed: 500.
    #[error("{context}: {source}")]
    Cgroup {
        context: String,
        #[source]
        source: crate::cgroups::CgroupError,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Registry(registry::RegistryError),
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Io { .. } => ErrorKind::Internal,
            EngineError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            EngineError::NotFound(_) => ErrorKind::NotFound,
            EngineError::Conflict(_) => ErrorKind::Conflict,
            EngineError::Forbidden(_) => ErrorKind::Forbidden,
            EngineError::Network { .. } => ErrorKind::Internal,
            EngineError::Corrupt(_) => ErrorKind::Internal,
            EngineError::Cgroup { .. } => ErrorKind::Internal,
            EngineError::Cancelled => ErrorKind::Unavailable,
            EngineError::NotModified => ErrorKind::NotModified,
            EngineError::Registry(e) => match e.kind() {
                registry::ErrorKind::NotFound => ErrorKind::NotFound,
                registry::ErrorKind::Unauthorized => ErrorKind::Unauthorized,
                registry::ErrorKind::Denied => ErrorKind::Forbidden,
                registry::ErrorKind::Invalid => ErrorKind::InvalidArgument,
                registry::ErrorKind::Unavailable => ErrorKind::Unavailable,
            },
            EngineError::Store(e) => match e {
                store::StoreError::LayerNotFound(_) | store::StoreError::ImageNotFound(_) => {
                    ErrorKind::NotFound
                }
                store::StoreError::Invalid(_) | store::StoreError::DiffIdMismatch { .. } => {
                    ErrorKind::InvalidArgument
                }
                _ => ErrorKind::Internal,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_internal_and_name_the_path() {
        let e = EngineError::Io {
            op: "read",
            path: PathBuf::from("/x"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.to_string().starts_with("read /x: "));
    }

    #[test]
    fn argument_errors_keep_their_message() {
        let e = EngineError::InvalidArgument("bad value".into());
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.to_string(), "bad value");
    }
}
