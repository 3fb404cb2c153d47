//! Chatflows: what a chat channel shows on a page. This module owns the shapes of a chatflow's
//! `targeting` (which pages it appears on, [`targeting`]), `availability` (office hours and the
//! away message, [`availability`]) and `branding` (how the widget looks, [`branding`]).
//!
//! The store keeps the three as JSON; only JSON that parsed here is stored (the API parses it
//! with [`Targeting::parse`], [`Availability::parse`] and [`Branding::parse`] and stores the
//! normalized form). A bad value is a [`ShapeError`] naming the exact path, e.g.
//! `targeting[2].value` or `availability.hours.monday[0]`. The bot `flow` is not shaped here.

pub mod availability;
pub mod branding;
pub mod targeting;

pub use availability::{Availability, AvailabilityStatus, RepliesIn};
pub use branding::Branding;
pub use targeting::{PageContext, Rule, Targeting, select};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A value of a chatflow's shape was refused; `field` is the full path, e.g. `branding.color`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ShapeError {
    pub field: String,
    pub message: String,
}

impl ShapeError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Joins a root name and a serde path (`.`, `[2].kind`, `hours.monday[0]`) into one field path.
pub(crate) fn join_path(root: &str, path: &str) -> String {
    if path.is_empty() || path == "." {
        root.to_owned()
    } else if path.starts_with('[') {
        format!("{root}{path}")
    } else {
        format!("{root}.{path}")
    }
}

/// The three shapes are objects or lists; serde would also take a struct from a list.
pub(crate) fn require_object(root: &str, value: &Value) -> Result<(), ShapeError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(ShapeError::new(root, "must be an object"))
    }
}

/// Deserializes `value` as `T`, naming the failing path under `root`.
pub(crate) fn from_value<T: DeserializeOwned>(root: &str, value: &Value) -> Result<T, ShapeError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde reports a missing field at its parent's path; name the field itself.
        let path = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            Some(name) if path == "." => name.to_owned(),
            Some(name) => format!("{path}.{name}"),
            None => path,
        };
        ShapeError::new(join_path(root, &path), message)
    })
}
