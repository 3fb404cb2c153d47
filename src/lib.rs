//! Parley: a self-hosted, real-time customer conversations server.
//!
//! The crate map (what each module owns):
//! - [`domain`]: identifiers, validated values and records; parsing untrusted input into them.
//! - [`store`]: the source of truth, one [`store::Store`] trait with PostgreSQL and SQLite
//!   backends and their migrations.
//! - [`actors`]: real-time actors (socket sessions, conversations) and the socket protocol.
//! - [`auth`]: password hashing, session and API tokens.
//! - [`bus`]: live updates between actors and nodes (in-process or Redis pub/sub).
//! - [`presence`]: which agents are online and their chosen status.
//! - [`routing`]: which agent a conversation goes to (inbox target, strategy, capacity, sticky
//!   owner), decided from a snapshot of presence and load.
//! - [`bots`]: the versioned JSON bot flow, its validation and a pure, channel-independent step
//!   machine (effects are returned, never performed).
//! - [`channels`]: the ways in (chat, email, messenger, form) and the settings of each kind.
//! - [`chatflows`]: what a chat channel shows on a page: targeting rules and picking the
//!   chatflow for a page, office-hours availability, branding (the shapes of those JSON fields).
//! - [`reports`]: report definitions (docs/reports.md) computed from the append-only events.
//! - [`outbox`]: delivering replies on email and Messenger exactly once across nodes.
//! - [`http`]: the JSON API under `/api/v1`, health endpoints and the OpenAPI document.
//! - [`config`]: layered settings (`config/*.toml`, `PARLEY__…` variables).
//! - [`demo`]: the demo website at `/` and the records it shows.
//! - [`startup`]: building a node from settings and running it until stopped.
//! - [`telemetry`]: structured logs.
//! - [`meters`]: Prometheus metrics (`/metrics`, docs/metrics.md).
//!
//! Real-time delivery (actors, bus, presence, routing), the channel connectors, chatflows and
//! reports arrive as their own modules (see `docs/architecture.md`).

pub mod actors;
pub mod auth;
pub mod bots;
pub mod bus;
pub mod channels;
pub mod chatflows;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod meters;
pub mod outbox;
pub mod presence;
pub mod reports;
pub mod routing;
pub mod startup;
pub mod store;
pub mod telemetry;
