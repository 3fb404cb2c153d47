//! Real-time actors of a node: socket sessions and conversation actors, and the frame protocol
//! they speak.
//!
//! - [`protocol`]: client and server frames; server frames are encoded once and shared.
//! - [`conversation`]: `ConversationActor`, one per live conversation per node, forwarding each
//!   timeline item to each listener once, in `seq` order; and the registry that starts them.
//! - [`assignments`]: the node's router, and the fan-out of every assignment.
//! - [`bots`]: bot chatflows running in conversations (the engine is `crate::bots`).
//! - [`notifications`]: frames on one agent's topic for mentions and their contacts' messages.
//! - [`session`]: one actor per socket (`/ws/agent`, `/ws/visitor`), and the WebSocket transport.
//!
//! Must not: hold state the store does not have. Actors may be stopped or lost with a node at
//! any time; clients recover everything by resuming with `after_seq`.

pub mod assignments;
pub mod bots;
pub mod conversation;
pub mod notifications;
pub mod protocol;
pub mod session;

use actix_web::web;

pub use assignments::Assignments;
pub use conversation::{ConversationActor, ConversationRegistry};
pub use session::{AgentSessionActor, VisitorSessionActor};

/// Registers the socket endpoints (outside the OpenAPI app, like `/api/openapi.json`). The app
/// must carry a `web::Data<ConversationRegistry>` shared by all workers.
pub fn routes(cfg: &mut web::ServiceConfig) {
    session::routes(cfg);
}
