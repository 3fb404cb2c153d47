//! Bots: the versioned JSON flow a `bot` chatflow runs, its validation, and a pure step machine.
//!
//! Channel-independent on purpose (chat today, Messenger later): nothing here touches the store,
//! the network, sockets or actors. The caller validates a flow when it is saved
//! ([`validate::validate`]), keeps each conversation's [`engine::BotState`] as JSON, feeds
//! visitor text and webhook results to [`engine::on_input`], and performs the returned
//! [`engine::Output`]s (send a message, save a property, hand off, open a ticket, POST a signed
//! webhook, record a report event). The format is documented in `docs/bots.md`.

pub mod engine;
pub mod flow;
pub mod validate;

pub use engine::{
    BotState, Context, Input, Outcome, Output, QuickReply, StepEventKind, abandon, on_input, start,
};
pub use flow::{Flow, HandoffTarget, Step};
pub use validate::{FlowError, validate};
