//! Placeholder: written in its own change.
