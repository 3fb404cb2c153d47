//! Settings: `config/default.toml`, then `config/{PARLEY_ENV}.toml` when present, then
//! environment variables `PARLEY__SECTION__KEY`, each layer winning over the one before.
//!
//! Every struct refuses unknown keys, so a typo in a file or a variable stops start-up with a
//! message that names it. A test keeps `config/default.toml` and these structs in step.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub store: StoreSettings,
    pub bus: BusSettings,
    pub log: LogSettings,
    pub admin: AdminSettings,
    pub auth: AuthSettings,
    pub mail: MailSettings,
    pub forms: FormsSettings,
    pub outbox: OutboxSettings,
    pub messenger: MessengerSettings,
    pub reports: ReportsSettings,
    pub metrics: MetricsSettings,
    pub demo: DemoSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to listen on; `0.0.0.0` to serve other machines.
    pub bind: String,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Largest JSON body accepted, in bytes. Larger bodies are refused with 413 before parsing.
    pub max_body_bytes: usize,
    /// Mark the session cookie `Secure`. On by default; turn off only for plain-HTTP development.
    pub cookie_secure: bool,
    /// How long in-flight requests get to finish after SIGTERM/Ctrl-C, in seconds.
    pub shutdown_grace_secs: u64,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// The address browsers reach Parley at (e.g. `https://chat.example.com`), used in embed
    /// snippets; empty: taken from each request (its `Host` and scheme).
    pub public_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH` (embedded) or `postgres://USER:PASS@HOST:PORT/DB`.
    pub url: SecretString,
    /// PostgreSQL connections per node.
    pub pool_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSettings {
    /// Redis URL for the bus between nodes; empty keeps the in-process bus (one node).
    pub redis_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `parley=debug,info`. `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Email of the first admin, created when the store has no account yet.
    pub email: String,
    /// Their password; empty generates one and prints it once.
    pub password: SecretString,
    /// Name of the first account.
    pub account_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// How long a login session lasts, in hours.
    pub session_ttl_hours: u32,
    /// Login attempts allowed per client IP per minute (burst the same).
    pub login_per_ip_per_minute: u32,
    /// Login attempts allowed per account email per minute (burst the same).
    pub login_per_email_per_minute: u32,
    /// New widget visitors per client IP per minute (burst the same).
    pub visitors_per_ip_per_minute: u32,
    /// WebSocket connection attempts (agent and visitor) per client IP per minute.
    pub socket_connects_per_ip_per_minute: u32,
    /// Public widget reads (the chatflow for a page) per client IP per minute.
    pub widget_requests_per_ip_per_minute: u32,
    /// Frames one socket may send per second, with bursts of `socket_frame_burst`.
    pub socket_frames_per_second: u32,
    pub socket_frame_burst: u32,
    /// Messages one visitor may send per second over all their sockets on a node, with bursts
    /// of `visitor_message_burst`.
    pub visitor_messages_per_second: u32,
    pub visitor_message_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// Domain of every inbox's fallback address (`{local part}@{inbound_domain}`), served by
    /// Parley's own inbound SMTP listener; point the domain's MX record at the nodes.
    pub inbound_domain: String,
    /// Address Parley's inbound SMTP listener binds to.
    pub smtp_bind: String,
    /// Port of the inbound SMTP listener; 0 turns it off.
    pub smtp_port: u16,
    /// Largest message accepted (SMTP `SIZE`, IMAP import), in bytes; larger mail is held as
    /// failed (IMAP) or refused (SMTP).
    pub max_message_bytes: usize,
    /// Largest attachment kept, in bytes; a larger one is left out and named in the message.
    pub max_attachment_bytes: usize,
    /// Seconds between IMAP checks when the server has no IDLE, and the longest an IDLE waits.
    pub imap_poll_secs: u64,
}

/// The public form endpoints (`/api/v1/forms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormsSettings {
    /// Submissions accepted per client IP per minute (burst the same).
    pub submissions_per_ip_per_minute: u32,
    /// Form reads (rendering a form) per client IP per minute.
    pub reads_per_ip_per_minute: u32,
    /// Largest submission body, in bytes.
    pub max_body_bytes: usize,
    /// Longest value of one field, in characters.
    pub max_field_chars: usize,
}

/// Delivery of replies on email and Messenger (see docs/channels-outbox.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// How often each node looks for replies due to be sent, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long one node holds a reply it is sending before another node may take it over,
    /// in seconds. Sends time out at three quarters of it, so a send never outlives its lease.
    pub lease_secs: u64,
    /// Attempts before a reply is given up as `failed`.
    pub max_attempts: u32,
    /// The wait before the first retry, in milliseconds; it doubles with each attempt, up to
    /// an hour.
    pub backoff_base_ms: u64,
    /// Key of the reply tokens in Reply-To addresses, the same on every node. Empty: derived
    /// from the store URL (which every node shares and which holds the database password).
    pub reply_token_secret: SecretString,
}

/// The Facebook Messenger platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessengerSettings {
    /// Base URL of the Graph API, with its version; replies are POSTed to `{base}/me/messages`.
    pub graph_api_base_url: String,
}

/// `GET /metrics` (Prometheus text format, docs/metrics.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` on the main listener (and record the figures at all).
    pub enabled: bool,
    /// A bearer token a scraper must send; empty lets anyone who reaches the listener scrape.
    pub token: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsSettings {
    /// How often, in seconds, the node brings every account's report rollups up to date with
    /// new events (docs/reports.md "Rollups"); 0: only when a report is asked for.
    pub settle_every_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// Serve the demo website at `/` (creating its inbox, channel and chatflows once).
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Invalid(#[from] config::ConfigError),
}

impl Settings {
    /// Loads from `config_dir` with the overlay named by `PARLEY_ENV` (default `local`).
    pub fn load(config_dir: &Path) -> Result<Self, SettingsError> {
        let env = std::env::var("PARLEY_ENV").unwrap_or_else(|_| "local".into());
        Self::load_from(config_dir, &env, std::env::vars())
    }

    /// Loads with an explicit overlay name and environment (for tests).
    pub fn load_from(
        config_dir: &Path,
        env: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let vars: config::Map<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("PARLEY__"))
            .collect();
        let settings = config::Config::builder()
            .add_source(config::File::from(config_dir.join("default.toml")))
            .add_source(config::File::from(config_dir.join(format!("{env}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("PARLEY")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(vars)),
            )
            .build()?;
        Ok(settings.try_deserialize()?)
    }
}
