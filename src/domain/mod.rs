//! The domain: identifiers, validated values and the records every other module passes around.
//!
//! Owns the rules of what a valid value is (an email address, a display name, a message body) and
//! turns untrusted input into those values through fallible `parse` constructors, so code past the
//! parsing line cannot hold a bad one. Must not know about HTTP, SQL or sockets.

mod email;
mod forms;
mod ids;
mod properties;
mod records;
mod values;

pub use email::*;
pub use forms::*;
pub use ids::*;
pub use properties::*;
pub use records::*;
pub use values::*;
