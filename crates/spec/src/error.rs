//! The crate's error type.
//!
//! Where Docker has a user-visible message for a condition, the `Display` text
//! is Docker's text verbatim (capitalisation included), because the engine
//! returns it to Docker clients unchanged.

use std::path::PathBuf;

/// Everything that can go wrong while building or validating a spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A `--cap-add`/`--cap-drop` name that this kernel does not know.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),

    /// A capability the engine itself does not hold (not in its bounding
    /// set), so no container started by it can have it.
    #[error("capability {0} is not available: the engine's own bounding set lacks it")]
    CapabilityUnavailable(String),

    /// A resource setting rejected by Docker's `verifyPlatformContainerResources`
    /// (or the host-config checks next to it); the message is Docker's.
    #[error("{0}")]
    InvalidResources(String),

    /// A sysctl that Docker/runc refuse; the message says why.
    #[error("{0}")]
    InvalidSysctl(String),

    /// An unknown `--ulimit` name.
    #[error("invalid ulimit type: {0}")]
    InvalidUlimit(String),

    /// A ulimit whose soft value exceeds its hard value.
    #[error("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")]
    UlimitRange {
        /// Soft limit.
        soft: i64,
        /// Hard limit.
        hard: i64,
    },

    /// A `--device-cgroup-rule` that does not match `^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`.
    #[error("invalid device cgroup rule format: '{0}'")]
    InvalidDeviceCgroupRule(String),

    /// A `--device` path that is neither a device node nor a directory holding some.
    #[error("error gathering device information while adding custom device {path:?}: {reason}")]
    Device {
        /// Host path given by the user.
        path: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A tmpfs option Docker's `MergeTmpfsOptions` refuses.
    #[error("invalid tmpfs option [{0:?}]")]
    InvalidTmpfsOption(String),

    /// A mount propagation mode outside private|rprivate|shared|rshared|slave|rslave.
    #[error("invalid mount propagation {0:?}")]
    InvalidPropagation(String),

    /// A seccomp profile that could not be decoded (Docker's wording).
    #[error("Decoding seccomp profile failed: {0}")]
    SeccompDecode(#[source] serde_json::Error),

    /// A seccomp profile that decoded but is not usable.
    #[error("{0}")]
    SeccompInvalid(String),

    /// A seccomp profile (or one of its lists) over this crate's size limits.
    #[error("seccomp profile too large: {what} is {actual}, limit {limit}")]
    SeccompTooLarge {
        /// Which quantity is over the limit.
        what: &'static str,
        /// Observed size.
        actual: usize,
        /// The limit.
        limit: usize,
    },

    /// The host kernel version could not be determined but a rule needs it.
    #[error("failed to parse kernel version {0:?}")]
    KernelVersion(String),

    /// User lookup failed (runc's wording, e.g.
    /// "unable to find user foo: no matching entries in passwd file").
    #[error("{0}")]
    User(String),

    /// Reading a file inside the rootfs failed for a reason other than absence.
    #[error("reading {path} in rootfs {rootfs}: {source}")]
    RootfsRead {
        /// Rootfs directory.
        rootfs: PathBuf,
        /// Path inside the rootfs.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },

    /// A file inside the rootfs exceeded the read cap.
    #[error("{path} in rootfs {rootfs} is larger than {limit} bytes")]
    RootfsFileTooLarge {
        /// Rootfs directory.
        rootfs: PathBuf,
        /// Path inside the rootfs.
        path: String,
        /// The limit.
        limit: u64,
    },

    /// oci-spec refused a value (should not happen with valid input).
    #[error("building oci spec: {0}")]
    Oci(#[source] oci_spec::OciSpecError),
}

impl From<oci_spec::OciSpecError> for SpecError {
    fn from(e: oci_spec::OciSpecError) -> Self {
        SpecError::Oci(e)
    }
}
