//! Email in: turning a raw message into a conversation, whichever way it arrived (IMAP import
//! of an email channel, or Parley's own inbound SMTP listener for fallback addresses).
//!
//! [`receive`] is the one path: parse (`parse`), keep filtered or broken mail out of the inbox
//! in `mail_held` (`filters`), thread (`threading`, and the store's Message-ID and subject
//! rules), import in one store transaction, then tell the inbox's agents and route a new
//! conversation. It never fails on the mail's content: a bad mail is held as `failed`.
//!
//! Must not: speak a protocol (that is `smtp` and `imap`), or write anything outside the store
//! call that imports or holds the mail.

pub mod filters;
pub mod fold;
pub mod imap;
pub mod parse;
pub mod smtp;
pub mod threading;

use std::sync::Arc;

use crate::actors::Assignments;
use crate::actors::assignments::{announce, publish_item};
use crate::actors::notifications::notify;
use crate::actors::protocol::NotificationReason;
use crate::bus::Bus;
use crate::config::Settings;
use crate::domain::{
    ChannelId, ChannelKind, ConversationId, EmailImport, HeldReason, InboundEmail, Inbox,
    NewHeldMail,
};
use crate::store::{DynStore, StoreResult};

/// What the connectors need to import mail.
#[derive(Clone)]
pub struct MailContext {
    pub store: DynStore,
    pub bus: Arc<dyn Bus>,
    pub assignments: Assignments,
    pub settings: Arc<Settings>,
}

/// What became of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Imported {
        conversation_id: ConversationId,
        created: bool,
    },
    /// Already imported (same Message-ID in the account).
    Duplicate,
    Held(HeldReason),
}

impl MailContext {
    fn limits(&self) -> parse::Limits {
        parse::Limits {
            max_message_bytes: self.settings.mail.max_message_bytes,
            max_attachment_bytes: self.settings.mail.max_attachment_bytes,
        }
    }

    /// The key of reply tokens, the outbox's: the tokens it puts in `Reply-To` are the ones
    /// read here.
    fn reply_secret(&self) -> Vec<u8> {
        crate::outbox::reply_token::secret(&self.settings)
    }
}

/// The email channel that mail to an inbox's fallback address goes to: the inbox's oldest
/// email channel (replies then go out through its SMTP settings). `None` when it has none.
pub async fn fallback_channel(store: &DynStore, inbox: &Inbox) -> StoreResult<Option<ChannelId>> {
    let channels = store
        .list_channels(inbox.account_id, Some(inbox.id))
        .await?;
    Ok(channels
        .into_iter()
        .filter(|c| c.kind == ChannelKind::Email)
        .min_by_key(|c| (c.created_at, c.id))
        .map(|c| c.id))
}

/// Imports (or holds) one raw message that arrived for `inbox` on `channel`. Errors are the
/// store's only; the mail's own faults end in `mail_held`.
pub async fn receive(
    ctx: &MailContext,
    inbox: &Inbox,
    channel: ChannelId,
    raw: Vec<u8>,
) -> StoreResult<Outcome> {
    let account = inbox.account_id;
    let parsed = match parse::parse(&raw, ctx.limits()) {
        Ok(parsed) => parsed,
        Err(e) => {
            let envelope = parse::envelope(&raw);
            return hold(
                ctx,
                inbox,
                channel,
                HeldReason::Failed,
                e.to_string(),
                envelope,
                raw,
            )
            .await;
        }
    };
    if let Some((reason, detail)) = filters::check(&inbox.email_filters, &parsed) {
        let envelope = parse::Envelope {
            from_address: Some(parsed.from_address.as_str().to_owned()),
            subject: parsed.subject.clone(),
            message_id: Some(parsed.message_id.clone()),
        };
        return hold(ctx, inbox, channel, reason, detail, envelope, raw).await;
    }
    let token_conversation = threading::token_conversation(
        parsed.recipients.iter().map(String::as_str),
        &ctx.reply_secret(),
    );
    let mail = InboundEmail {
        channel_id: channel,
        from_address: parsed.from_address,
        from_name: parsed.from_name,
        message_id: parsed.message_id,
        in_reply_to: parsed.in_reply_to,
        references: parsed.references,
        subject: parsed.subject,
        token_conversation,
        visible: parsed.visible,
        text: parsed.text,
        html: parsed.html,
        raw,
        attachments: parsed.attachments,
    };
    match ctx.store.import_email(account, mail).await? {
        EmailImport::Duplicate => Ok(Outcome::Duplicate),
        EmailImport::Imported {
            conversation,
            created_conversation,
            item,
            ..
        } => {
            announce(ctx.bus.as_ref(), &conversation).await;
            publish_item(ctx.bus.as_ref(), &item).await;
            if created_conversation {
                ctx.assignments.route(account, conversation.id).await;
            } else if let Some(agent) = conversation.assignee_id {
                notify(ctx.bus.as_ref(), agent, NotificationReason::Message, &item).await;
            }
            tracing::info!(conversation = %conversation.id, created = created_conversation, "mail imported");
            Ok(Outcome::Imported {
                conversation_id: conversation.id,
                created: created_conversation,
            })
        }
    }
}

async fn hold(
    ctx: &MailContext,
    inbox: &Inbox,
    channel: ChannelId,
    reason: HeldReason,
    detail: String,
    envelope: parse::Envelope,
    raw: Vec<u8>,
) -> StoreResult<Outcome> {
    tracing::info!(inbox = %inbox.id, reason = reason.as_str(), %detail, "mail held");
    ctx.store
        .hold_mail(
            inbox.account_id,
            NewHeldMail {
                inbox_id: inbox.id,
                channel_id: Some(channel),
                reason,
                detail,
                from_address: envelope.from_address,
                subject: envelope.subject,
                message_id: envelope.message_id,
                raw,
            },
        )
        .await?;
    Ok(Outcome::Held(reason))
}

/// The running email connectors of a node; [`MailHandle::stop`] ends them.
pub struct MailHandle {
    stop: tokio::sync::watch::Sender<bool>,
    smtp_port: Option<u16>,
}

impl Drop for MailHandle {
    /// A node dropped without being run stops its connectors too.
    fn drop(&mut self) {
        self.stop();
    }
}

impl MailHandle {
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    pub fn smtp_port(&self) -> Option<u16> {
        self.smtp_port
    }
}

/// Starts the inbound SMTP listener (when `mail.smtp_port` is not 0) and the IMAP import of
/// every email channel. They run on a thread of their own with an actor system, because routing
/// a new conversation may start background work with `actix::spawn` (queue drains), which needs
/// one.
pub fn start(ctx: MailContext) -> std::io::Result<MailHandle> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let listener = match ctx.settings.mail.smtp_port {
        0 => None,
        port => {
            let listener =
                std::net::TcpListener::bind((ctx.settings.mail.smtp_bind.as_str(), port))?;
            listener.set_nonblocking(true)?;
            Some(listener)
        }
    };
    let smtp_port = match &listener {
        Some(l) => Some(l.local_addr()?.port()),
        None => None,
    };
    std::thread::Builder::new()
        .name("parley-mail".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let mut tasks = Vec::new();
                if let Some(listener) = listener {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => tasks.push(actix_web::rt::spawn(smtp::serve(
                            ctx.clone(),
                            listener,
                            stopped.clone(),
                        ))),
                        Err(e) => tracing::error!(error = %e, "inbound SMTP listener not started"),
                    }
                }
                tasks.push(actix_web::rt::spawn(imap::supervise(ctx, stopped)));
                for task in tasks {
                    let _ = task.await;
                }
            });
        })?;
    Ok(MailHandle { stop, smtp_port })
}
