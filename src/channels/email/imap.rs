//! IMAP import of email channels. One task per email channel per node, but only the node
//! holding the channel's lease (`imap_leases`, renewed while it works) imports; another node
//! takes over when a lease runs out. Import resumes after `imap_state.last_uid` under the same
//! UIDVALIDITY (a changed UIDVALIDITY starts over, and the Message-ID unique index keeps the
//! second import of a mail out), and the position moves only after a mail is stored or held,
//! so a restart never skips one. New mail is awaited with IDLE when the server has it, else by
//! polling every `mail.imap_poll_secs`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use uuid::Uuid;

use super::{MailContext, receive};
use crate::channels::{EmailSettings, TlsMode};
use crate::domain::{Channel, ChannelId, ImapPosition};
use crate::store::StoreError;

const MAILBOX: &str = "INBOX";
/// How often the supervisor looks for new or removed email channels.
const RESCAN: Duration = Duration::from_secs(10);
/// How long a lease lasts without renewal: a dead node's channels move on after this.
const LEASE: Duration = Duration::from_secs(60);
/// How often a node without the lease checks whether it ran out.
const LEASE_RETRY: Duration = Duration::from_secs(5);
/// Longest pause between failed connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
enum ImapError {
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("settings: {0}")]
    Settings(String),
    #[error("the lease moved to another node")]
    LeaseLost,
    #[error("stopped")]
    Stopped,
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Conn for T {}
type Session = async_imap::Session<Box<dyn Conn>>;

/// Runs the import of every email channel until `stop` turns true.
pub async fn supervise(ctx: MailContext, mut stop: watch::Receiver<bool>) {
    let holder = Uuid::new_v4();
    let mut running: HashMap<ChannelId, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        if *stop.borrow() {
            break;
        }
        match ctx.store.all_email_channels().await {
            Ok(channels) => {
                running.retain(|_, task| !task.is_finished());
                for channel in channels {
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        running.entry(channel.id)
                    {
                        slot.insert(actix_web::rt::spawn(run_channel(
                            ctx.clone(),
                            channel,
                            holder,
                            stop.clone(),
                        )));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list email channels"),
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(RESCAN) => {}
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}

fn lease_times() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now, now + LEASE)
}

async fn run_channel(
    ctx: MailContext,
    channel: Channel,
    holder: Uuid,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            break;
        }
        // A removed channel ends its task; a changed one is read again on every connection.
        let channel = match ctx.store.get_channel(channel.account_id, channel.id).await {
            Ok(channel) => channel,
            Err(StoreError::NotFound { .. }) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read an email channel");
                channel.clone()
            }
        };
        let (now, until) = lease_times();
        let pause = match ctx
            .store
            .take_imap_lease(channel.id, holder, now, until)
            .await
        {
            Ok(false) => LEASE_RETRY,
            Ok(true) => match import(&ctx, &channel, holder, &mut stop).await {
                Err(ImapError::Stopped) => break,
                Err(ImapError::LeaseLost) => LEASE_RETRY,
                Err(e) => {
                    tracing::warn!(channel = %channel.id, error = %e, "IMAP import failed; retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    backoff
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "could not take an IMAP lease");
                LEASE_RETRY
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
    if let Err(e) = ctx.store.release_imap_lease(channel.id, holder).await {
        tracing::warn!(error = %e, "could not release an IMAP lease");
    }
}

fn settings_of(channel: &Channel) -> Result<EmailSettings, ImapError> {
    serde_json::from_value(serde_json::Value::Object(channel.settings.clone()))
        .map_err(|e| ImapError::Settings(e.to_string()))
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, ImapError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::Settings(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn wrap_tls(host: &str, stream: TcpStream) -> Result<Box<dyn Conn>, ImapError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| ImapError::Settings(format!("imap_host: {e}")))?;
    Ok(Box::new(tls_connector()?.connect(name, stream).await?))
}

async fn connect(settings: &EmailSettings) -> Result<Session, ImapError> {
    let host = settings.imap_host.as_str();
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((host, settings.imap_port.get())),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let stream: Box<dyn Conn> = match settings.imap_tls {
        TlsMode::Tls => wrap_tls(host, tcp).await?,
        TlsMode::Unencrypted => Box::new(tcp),
        TlsMode::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            client.read_response().await?;
            client.run_command_and_check_ok("STARTTLS", None).await?;
            wrap_tls(host, client.into_inner()).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    if settings.imap_tls != TlsMode::StartTls {
        client.read_response().await?;
    }
    let session = client
        .login(
            settings.imap_username.as_str(),
            settings.imap_password.as_str(),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok(session)
}

/// Holds the lease and imports until stopped, the lease is lost, or the connection fails.
async fn import(
    ctx: &MailContext,
    channel: &Channel,
    holder: Uuid,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), ImapError> {
    let settings = settings_of(channel)?;
    let mut session = connect(&settings).await?;
    let idle = session.capabilities().await?.has_str("IDLE");
    let wait = Duration::from_secs(ctx.settings.mail.imap_poll_secs.max(1)).min(LEASE / 2);
    loop {
        sync(ctx, channel, &mut session).await?;
        let (now, until) = lease_times();
        if !ctx
            .store
            .take_imap_lease(channel.id, holder, now, until)
            .await?
        {
            return Err(ImapError::LeaseLost);
        }
        if idle {
            let mut handle = session.idle();
            handle.init().await?;
            let (waiting, interrupt) = handle.wait_with_timeout(wait);
            let stopped = tokio::select! {
                result = waiting => { result?; false }
                _ = stop.changed() => true,
            };
            drop(interrupt);
            session = handle.done().await?;
            if stopped {
                let _ = session.logout().await;
                return Err(ImapError::Stopped);
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {
                    let _ = session.logout().await;
                    return Err(ImapError::Stopped);
                }
            }
        }
    }
}

/// Imports every message after the stored position, oldest first.
async fn sync(
    ctx: &MailContext,
    channel: &Channel,
    session: &mut Session,
) -> Result<(), ImapError> {
    let mailbox = session.select(MAILBOX).await?;
    let uidvalidity = mailbox.uid_validity.unwrap_or(0);
    let start = match ctx.store.imap_position(channel.id).await? {
        Some(p) if p.uidvalidity == uidvalidity => p.last_uid.saturating_add(1),
        _ => 1,
    };
    if mailbox.exists == 0 {
        return Ok(());
    }
    // `N:*` also answers the last message when it is below N; keep only the new ones.
    let mut uids: Vec<u32> = session
        .uid_search(format!("UID {start}:*"))
        .await?
        .into_iter()
        .filter(|&uid| uid >= start)
        .collect();
    uids.sort_unstable();
    if uids.is_empty() {
        return Ok(());
    }
    let inbox = ctx
        .store
        .get_inbox(channel.account_id, channel.inbox_id)
        .await?;
    for uid in uids {
        let raw = {
            let fetched: Vec<_> = session
                .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                .await?
                .try_collect()
                .await?;
            fetched
                .iter()
                .find_map(|f| f.body().map(<[u8]>::to_vec))
                .unwrap_or_default()
        };
        receive(ctx, &inbox, channel.id, raw).await?;
        ctx.store
            .save_imap_position(
                channel.id,
                MAILBOX,
                ImapPosition {
                    uidvalidity,
                    last_uid: uid,
                },
            )
            .await?;
    }
    Ok(())
}
