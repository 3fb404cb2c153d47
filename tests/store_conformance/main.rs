//! Store conformance: the contract of `src/store/mod.rs` and `docs/store.md`, checked case by
//! case on both backends (`sqlite::` and `postgres::` in every module), against real databases.
//!
//! Each module covers one part of the contract; `fixtures` builds the records the cases share.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod accounts_agents;
mod batch;
mod bots;
mod channels_chatflows;
mod concurrency;
mod contacts;
mod conversations;
mod email;
mod errors;
mod events;
mod fixtures;
mod forms;
mod identity;
mod isolation;
mod migrations;
mod outbox;
mod paging;
mod realtime;
mod rollups;
mod sessions_tokens;
mod store_url;
mod teams_inboxes;
mod tickets;
mod timeline;
