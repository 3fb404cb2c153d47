//! Building and running a node: open the store (migrating it), create the first admin when the
//! store is empty, bind the listener, serve until stopped, then drain.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, web};
use secrecy::ExposeSecret;
use utoipa_actix_web::AppExt;

use crate::actors;
use crate::auth;
use crate::bus::{Bus, InProcessBus, RedisBus};
use crate::config::Settings;
use crate::domain::{AgentProfile, AgentRole, EmailAddress, Name, NewAgent, Password};
use crate::http::{self, AppState};
use crate::presence::{self, MemoryPresence, Presence, RedisPresence};
use crate::store::{self, DynStore};

pub struct Application {
    port: u16,
    server: Server,
    store: DynStore,
    /// The email connectors (IMAP import, inbound SMTP), stopped with the server.
    mail: crate::channels::email::MailHandle,
    /// The node's outbox worker, stopped with the server.
    outbox: tokio::task::JoinHandle<()>,
    /// The node's report rollup settler (none when `reports.settle_every_secs` is 0).
    rollups: Option<tokio::task::JoinHandle<()>>,
}

/// The first admin, as created at first start. The password is present only when generated.
#[derive(Debug)]
pub struct Bootstrapped {
    pub email: EmailAddress,
    pub generated_password: Option<String>,
}

impl Application {
    /// Opens the store, bootstraps it, and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store =
            store::connect(settings.store.url.expose_secret(), settings.store.pool_size).await?;
        if let Some(admin) = bootstrap(&store, &settings).await? {
            match &admin.generated_password {
                Some(password) => println!(
                    "Parley: created the first admin {} with password {password}\n        (shown once; change it after logging in)",
                    admin.email
                ),
                None => println!("Parley: created the first admin {}", admin.email),
            }
        }
        let demo = if settings.demo.enabled {
            let site = crate::demo::ensure(&store, &settings.admin.email).await?;
            if site.is_none() {
                tracing::warn!(
                    "demo: no admin {} to show it with; the demo is off",
                    settings.admin.email
                );
            }
            site
        } else {
            None
        };
        Self::build_with_store(settings, store, demo)
    }

    /// Binds the listener and builds the server over an opened store.
    pub fn build_with_store(
        settings: Settings,
        store: DynStore,
        demo: Option<crate::demo::DemoSite>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.http.bind.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let settings = Arc::new(settings);
        // Before any task or actor of the node starts (start-up's own store calls go unrecorded).
        // One recorder per process: a second node in the same process shares it
        // (docs/metrics.md).
        let metrics = if settings.metrics.enabled {
            Some(web::Data::new(http::metrics::MetricsEndpoint {
                handle: crate::meters::install()?,
                token: settings.metrics.token.clone(),
            }))
        } else {
            None
        };
        let bus: Arc<dyn Bus> = if settings.bus.redis_url.is_empty() {
            Arc::new(InProcessBus::new())
        } else {
            // A malformed URL stops start-up; a Redis that is merely down does not (the node
            // serves local traffic and `/readyz` says the bus is not ready).
            Arc::new(RedisBus::connect(&settings.bus.redis_url)?)
        };
        let presence: Arc<dyn Presence> = if settings.bus.redis_url.is_empty() {
            Arc::new(MemoryPresence::new(bus.clone(), presence::DEFAULT_GRACE))
        } else {
            // Cluster: presence lives in Redis with a TTL, so a crashed node's agents go offline.
            Arc::new(RedisPresence::new(
                &settings.bus.redis_url,
                bus.clone(),
                presence::DEFAULT_TTL,
            )?)
        };
        // One registry per node, shared by every worker, so a conversation has one actor.
        let conversations = web::Data::new(actors::ConversationRegistry::new(
            store.clone(),
            bus.clone(),
        ));
        let assignments = actors::Assignments::new(store.clone(), bus.clone(), presence.clone());
        install_crypto_provider();
        let webhooks = reqwest::Client::builder()
            .timeout(actors::bots::WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Parley/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mail = crate::channels::email::start(crate::channels::email::MailContext {
            store: store.clone(),
            bus: bus.clone(),
            assignments: assignments.clone(),
            settings: settings.clone(),
        })?;
        let outbox = crate::outbox::OutboxWorker::new(
            store.clone(),
            bus.clone(),
            settings.outbox.clone(),
            settings.messenger.graph_api_base_url.clone(),
            crate::outbox::reply_token::secret(&settings),
        )?
        .spawn();
        let rollups = (settings.reports.settle_every_secs > 0).then(|| {
            crate::reports::rollup::spawn_settler(
                store.clone(),
                std::time::Duration::from_secs(settings.reports.settle_every_secs),
            )
        });
        let state = web::Data::new(AppState {
            store: store.clone(),
            appends: store::AppendBatcher::spawn(
                store.clone(),
                store::batcher::lanes_for(
                    settings.store.url.expose_secret(),
                    settings.store.pool_size,
                ),
            ),
            bus,
            presence,
            assignments,
            settings: settings.clone(),
            visitor_limits: http::state::per_ip_limiter(settings.auth.visitors_per_ip_per_minute),
            socket_limits: http::state::per_ip_limiter(
                settings.auth.socket_connects_per_ip_per_minute,
            ),
            widget_limits: http::state::per_ip_limiter(
                settings.auth.widget_requests_per_ip_per_minute,
            ),
            form_limits: http::forms::FormLimits::new(&settings.forms),
            webhooks,
            visitor_messages: http::state::per_second_limiter(
                settings.auth.visitor_messages_per_second,
                settings.auth.visitor_message_burst,
            ),
            login_limits: http::state::LoginLimits::new(
                settings.auth.login_per_ip_per_minute,
                settings.auth.login_per_email_per_minute,
            ),
        });
        let max_body = settings.http.max_body_bytes;
        let mut server = actix_web::HttpServer::new(move || {
            let (app, api) = App::new()
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(state.clone())
                .configure(|cfg| http::extractor_config(cfg, max_body))
                .into_utoipa_app()
                .openapi(<http::ApiDoc as utoipa::OpenApi>::openapi())
                .configure(http::routes)
                .split_for_parts();
            let api = web::Data::new(api);
            let app = match demo {
                Some(site) => app
                    .app_data(web::Data::new(site))
                    .configure(crate::demo::routes),
                None => app,
            };
            let app = match &metrics {
                Some(endpoint) => app.configure(|cfg| http::metrics::routes(cfg, endpoint.clone())),
                None => app,
            };
            app.app_data(api)
                .app_data(conversations.clone())
                .route("/api/openapi.json", web::get().to(openapi_json))
                .configure(actors::routes)
                .configure(http::assets::routes)
                .default_service(web::to(http::not_found))
        })
        .shutdown_timeout(settings.http.shutdown_grace_secs)
        // Signals are handled by the binary (see `main`), registered before it reports that it
        // listens, so a SIGTERM right after start-up is a graceful stop and never a kill.
        .disable_signals()
        // A chat frame is small and must leave at once: with Nagle's algorithm on (the OS
        // default) an answer written while the client has not yet ACKed the previous frames
        // waits for its delayed ACK, about 40 ms (docs/performance.md "Load tests").
        .tcp_nodelay(true)
        .listen(listener)?;
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            store,
            mail,
            outbox,
            rollups,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> DynStore {
        self.store.clone()
    }

    /// A handle that stops the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Self::handle`], letting in-flight requests finish
    /// within `http.shutdown_grace_secs`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.mail.stop();
        self.outbox.abort();
        if let Some(rollups) = &self.rollups {
            rollups.abort();
        }
        served
    }

    /// The port of the inbound SMTP listener, when it is on.
    pub fn smtp_port(&self) -> Option<u16> {
        self.mail.smtp_port()
    }
}

/// Makes ring the process's TLS crypto provider (outbound webhooks), once; later calls do
/// nothing. Two providers compiled in with none chosen would panic at the first TLS client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn openapi_json(api: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(api.get_ref())
}

/// Creates the first account and admin when the store has no account. Returns what it created.
pub async fn bootstrap(
    store: &DynStore,
    settings: &Settings,
) -> anyhow::Result<Option<Bootstrapped>> {
    if store.count_accounts().await? > 0 {
        return Ok(None);
    }
    let email = EmailAddress::parse(&settings.admin.email)
        .map_err(|e| anyhow::anyhow!("admin.email: {e}"))?;
    let configured = settings.admin.password.expose_secret();
    let (password, generated) = if configured.is_empty() {
        let generated = auth::random_hex()?[..24].to_owned();
        (generated.clone(), Some(generated))
    } else {
        (configured.to_owned(), None)
    };
    let password =
        Password::parse(&password).map_err(|e| anyhow::anyhow!("admin.password: {e}"))?;
    let password_hash =
        tokio::task::spawn_blocking(move || auth::hash_password(&password)).await??;
    let account_name = Name::parse(&settings.admin.account_name)
        .map_err(|e| anyhow::anyhow!("admin.account_name: {e}"))?;
    let account = store.create_account(account_name).await?;
    store
        .create_agent(
            account.id,
            NewAgent {
                email: email.clone(),
                role: AgentRole::Admin,
                profile: AgentProfile {
                    display_name: Name::parse("Admin")?,
                    avatar_url: None,
                    meeting_link: None,
                },
                password_hash,
            },
        )
        .await?;
    Ok(Some(Bootstrapped {
        email,
        generated_password: generated,
    }))
}
