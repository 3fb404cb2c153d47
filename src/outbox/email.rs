//! Email out: composes an agent's reply as a mail with the channel's sender, signature and
//! threading headers, and sends it over the channel's SMTP server with `lettre`.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{EmailHeaders, OutboundEmail, SendError};
use crate::channels::{EmailSettings, TlsMode};
use crate::domain::{Contact, Direction, TimelineItemId};

/// Most message ids kept in `References`: the first of the thread and the newest ones.
const MAX_REFERENCES: usize = 20;

/// The stable Message-ID of the mail carrying message `item`: every attempt (and every node)
/// sends the same one, so a receiver can tell a resend from a new mail.
pub fn message_id(item: TimelineItemId, settings: &EmailSettings) -> String {
    let domain = domain_of(settings.sender_address.as_str());
    format!("parley.{}@{domain}", item.0.simple())
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(_, d)| d)
}

/// The `Reply-To` address carrying the conversation's reply token: `local+TOKEN@domain`.
pub fn reply_to_address(settings: &EmailSettings, token: &str) -> String {
    let address = settings.sender_address.as_str();
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}+{token}@{domain}"),
        None => address.to_owned(),
    }
}

/// `Re: <subject>` of the newest mail in the thread (else the conversation's subject), without
/// stacking prefixes.
pub fn reply_subject(thread: &[EmailHeaders], conversation_subject: Option<&str>) -> String {
    let subject = thread
        .iter()
        .rev()
        .filter_map(|h| h.subject.as_deref())
        .find(|s| !s.trim().is_empty())
        .or(conversation_subject.filter(|s| !s.trim().is_empty()));
    match subject {
        Some(s) => {
            let s = s.trim();
            let lower = s.to_ascii_lowercase();
            if lower.starts_with("re:") {
                s.to_owned()
            } else {
                format!("Re: {s}")
            }
        }
        None => "Re: your message".to_owned(),
    }
}

/// `In-Reply-To` (the contact's newest mail, else the newest of any) and `References` (every
/// id of the thread in order, the first kept and the newest up to [`MAX_REFERENCES`]).
pub fn threading(thread: &[EmailHeaders]) -> (Option<String>, Vec<String>) {
    let in_reply_to = thread
        .iter()
        .rev()
        .find(|h| h.direction == Direction::In)
        .or(thread.last())
        .map(|h| h.message_id.clone());
    let mut refs: Vec<String> = Vec::new();
    for header in thread {
        for id in header
            .refs
            .iter()
            .chain(std::iter::once(&header.message_id))
        {
            if !refs.contains(id) {
                refs.push(id.clone());
            }
        }
    }
    if refs.len() > MAX_REFERENCES {
        let tail = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
        refs.truncate(1);
        refs.extend(tail);
    }
    (in_reply_to, refs)
}

/// The body as sent: the reply, then the signature after the standard `-- ` separator.
pub fn body_with_signature(body: &str, settings: &EmailSettings) -> String {
    match settings.signature.as_ref().map(|s| s.as_str().trim_end()) {
        Some(signature) if !signature.is_empty() => format!("{body}\n\n-- \n{signature}\n"),
        _ => format!("{body}\n"),
    }
}

/// The mail for one reply, and the headers to keep for threading.
pub struct Composed {
    pub message: Message,
    pub headers: OutboundEmail,
}

pub fn compose(
    item: TimelineItemId,
    body: &str,
    settings: &EmailSettings,
    contact: &Contact,
    thread: &[EmailHeaders],
    conversation_subject: Option<&str>,
    token: &str,
) -> Result<Composed, SendError> {
    let to = contact.email.as_ref().ok_or_else(|| {
        SendError::Permanent("the contact has no email address to reply to".into())
    })?;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        SendError::Permanent(format!("{what} is not a usable address: {e}"))
    };
    let from_address: lettre::Address = settings
        .sender_address
        .as_str()
        .parse()
        .map_err(|e| bad("the sender address", &e))?;
    let from = Mailbox::new(Some(settings.sender_name.as_str().to_owned()), from_address);
    let to_address: lettre::Address = to
        .as_str()
        .parse()
        .map_err(|e| bad("the contact's email", &e))?;
    let to = Mailbox::new(
        contact.name.as_ref().map(|n| n.as_str().to_owned()),
        to_address,
    );
    let reply_to: lettre::Address = reply_to_address(settings, token)
        .parse()
        .map_err(|e| bad("the reply-to address", &e))?;
    let reply_to = Mailbox::new(Some(settings.sender_name.as_str().to_owned()), reply_to);
    let id = message_id(item, settings);
    let subject = reply_subject(thread, conversation_subject);
    let (in_reply_to, refs) = threading(thread);
    let mut builder = Message::builder()
        .from(from)
        .reply_to(reply_to)
        .to(to)
        .subject(subject.clone())
        .message_id(Some(format!("<{id}>")));
    if let Some(parent) = &in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    if !refs.is_empty() {
        let joined: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
        builder = builder.references(joined.join(" "));
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body_with_signature(body, settings))
        .map_err(|e| SendError::Permanent(format!("the mail could not be built: {e}")))?;
    Ok(Composed {
        message,
        headers: OutboundEmail {
            message_id: id,
            in_reply_to,
            refs,
            subject: Some(subject),
            from_address: Some(settings.sender_address.as_str().to_owned()),
        },
    })
}

/// Sends over the channel's SMTP server. A 5xx answer is permanent; 4xx answers, refused
/// connections and timeouts are worth retrying.
pub async fn send(
    settings: &EmailSettings,
    message: Message,
    timeout: Duration,
) -> Result<(), SendError> {
    let host = settings.smtp_host.as_str();
    let builder = match settings.smtp_tls {
        TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        TlsMode::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        TlsMode::Unencrypted => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| SendError::Permanent(format!("SMTP settings: {e}")))?;
    let transport = builder
        .port(settings.smtp_port.get())
        .credentials(Credentials::new(
            settings.smtp_username.as_str().to_owned(),
            settings.smtp_password.as_str().to_owned(),
        ))
        .timeout(Some(timeout))
        .build();
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::Permanent(format!(
            "the SMTP server refused the mail: {e}"
        ))),
        Err(e) => Err(SendError::Transient(format!("SMTP: {e}"))),
    }
}
