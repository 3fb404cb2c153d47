//! Parley's own inbound SMTP listener (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT; SIZE advertised and enforced). Recipients must be an
//! inbox's fallback address `{fallback_local_part}@{inbound_domain}`, optionally with a reply
//! token `{fallback_local_part}+{token}@{inbound_domain}`; anything else is refused with 550.
//! Mail goes to the inbox's oldest email channel (see [`super::fallback_channel`]); an inbox
//! without one refuses it (550), since replies could not be sent.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{MailContext, fallback_channel, receive};
use crate::domain::{ChannelId, Inbox};

/// How long a client may stay silent before the connection is closed.
const IDLE: Duration = Duration::from_secs(300);
/// Longest command line accepted (RFC 5321 allows 512; some clients send more parameters).
const MAX_LINE: usize = 4096;
/// Most recipients of one message.
const MAX_RECIPIENTS: usize = 100;

/// Serves on `listener` until `stop` turns true.
pub async fn serve(ctx: MailContext, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let ctx = ctx.clone();
                    actix_web::rt::spawn(async move {
                        let (read, write) = stream.into_split();
                        if let Err(e) = session(&ctx, read, write).await {
                            tracing::debug!(%peer, error = %e, "SMTP session ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// A recipient accepted for the current message.
struct Recipient {
    inbox: Inbox,
    channel: ChannelId,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Closed,
}

async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut overflow = false;
    loop {
        let available = tokio::time::timeout(IDLE, reader.fill_buf())
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
        if available.is_empty() {
            return Ok(if line.is_empty() && !overflow {
                Line::Closed
            } else if overflow {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
        let (used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !overflow && line.len() + used <= max {
            line.extend_from_slice(&available[..used]);
        } else {
            overflow = true;
            line.clear();
        }
        reader.consume(used);
        if done {
            return Ok(if overflow {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

/// The address inside `FROM:<…>` / `TO:<…>`, and the parameters after it.
fn path_argument<'a>(rest: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let rest = rest.trim_start();
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], rest[end + 1..].trim()))
}

async fn resolve(ctx: &MailContext, address: &str) -> Result<Recipient, String> {
    let address = address.trim().to_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("550 5.1.3 no such mailbox here".into());
    };
    if !domain.eq_ignore_ascii_case(ctx.settings.mail.inbound_domain.trim()) {
        return Err("550 5.7.1 relaying denied: not a domain of this server".into());
    }
    let inbox_part = local.split_once('+').map_or(local, |(inbox, _)| inbox);
    let inbox = match ctx.store.find_fallback_inbox(inbox_part).await {
        Ok(Some(inbox)) => inbox,
        Ok(None) => return Err("550 5.1.1 no such mailbox here".into()),
        Err(e) => {
            tracing::warn!(error = %e, "SMTP recipient lookup failed");
            return Err("451 4.3.0 temporary failure, try again later".into());
        }
    };
    match fallback_channel(&ctx.store, &inbox).await {
        Ok(Some(channel)) => Ok(Recipient { inbox, channel }),
        Ok(None) => Err("550 5.1.1 this inbox has no email channel to reply from".into()),
        Err(e) => {
            tracing::warn!(error = %e, "SMTP recipient lookup failed");
            Err("451 4.3.0 temporary failure, try again later".into())
        }
    }
}

async fn session<R, W>(ctx: &MailContext, read: R, mut w: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let max = ctx.settings.mail.max_message_bytes;
    let mut reader = BufReader::new(read);
    reply(&mut w, "220 parley ESMTP ready").await?;
    let mut sender: Option<String> = None;
    let mut recipients: Vec<Recipient> = Vec::new();
    loop {
        let line = match read_line(&mut reader, MAX_LINE).await? {
            Line::Closed => return Ok(()),
            Line::TooLong => {
                reply(&mut w, "500 5.5.2 line too long").await?;
                continue;
            }
            Line::Text(line) => line,
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                sender = None;
                recipients.clear();
                let text = format!("250-parley\r\n250-SIZE {max}\r\n250-8BITMIME\r\n250 SMTPUTF8");
                reply(&mut w, &text).await?;
            }
            "HELO" => {
                sender = None;
                recipients.clear();
                reply(&mut w, "250 parley").await?;
            }
            "MAIL" => match path_argument(rest, "FROM:") {
                _ if sender.is_some() => reply(&mut w, "503 5.5.1 sender already given").await?,
                Some((from, params)) => {
                    let declared = params
                        .split_whitespace()
                        .filter_map(|p| p.split_once('='))
                        .find(|(k, _)| k.eq_ignore_ascii_case("SIZE"))
                        .and_then(|(_, v)| v.parse::<usize>().ok());
                    if declared.is_some_and(|size| size > max) {
                        reply(&mut w, "552 5.3.4 message size exceeds the limit").await?;
                    } else {
                        sender = Some(from.to_owned());
                        reply(&mut w, "250 2.1.0 OK").await?;
                    }
                }
                None => reply(&mut w, "501 5.5.4 syntax: MAIL FROM:<address>").await?,
            },
            "RCPT" => match path_argument(rest, "TO:") {
                _ if sender.is_none() => reply(&mut w, "503 5.5.1 MAIL first").await?,
                _ if recipients.len() >= MAX_RECIPIENTS => {
                    reply(&mut w, "452 4.5.3 too many recipients").await?
                }
                Some((to, _)) => match resolve(ctx, to).await {
                    Ok(recipient) => {
                        recipients.push(recipient);
                        reply(&mut w, "250 2.1.5 OK").await?;
                    }
                    Err(refusal) => reply(&mut w, &refusal).await?,
                },
                None => reply(&mut w, "501 5.5.4 syntax: RCPT TO:<address>").await?,
            },
            "DATA" => {
                if recipients.is_empty() {
                    reply(&mut w, "503 5.5.1 RCPT first").await?;
                    continue;
                }
                reply(&mut w, "354 end data with <CR><LF>.<CR><LF>").await?;
                let Some(data) = read_data(&mut reader, max).await? else {
                    reply(&mut w, "552 5.3.4 message size exceeds the limit").await?;
                    sender = None;
                    recipients.clear();
                    continue;
                };
                let answer = deliver(ctx, std::mem::take(&mut recipients), data).await;
                sender = None;
                reply(&mut w, answer).await?;
            }
            "RSET" => {
                sender = None;
                recipients.clear();
                reply(&mut w, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut w, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(&mut w, "221 2.0.0 bye").await?;
                return Ok(());
            }
            _ => reply(&mut w, "502 5.5.2 command not implemented").await?,
        }
    }
}

/// The message up to the lone dot, dot-unstuffed; `None` when over `max` bytes (read to its
/// end anyway, so the session stays in step).
async fn read_data<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        let line = match read_line(reader, 1 << 20).await? {
            Line::Closed => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed during DATA",
                ));
            }
            Line::TooLong => {
                too_big = true;
                continue;
            }
            Line::Text(line) => line,
        };
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_big).then_some(data));
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if !too_big {
            data.extend_from_slice(line);
            too_big = data.len() > max;
            if too_big {
                data = Vec::new();
            }
        }
    }
}

/// Imports the message once per inbox it was addressed to.
async fn deliver(ctx: &MailContext, recipients: Vec<Recipient>, data: Vec<u8>) -> &'static str {
    let mut done = Vec::new();
    for recipient in recipients {
        if done.contains(&recipient.inbox.id) {
            continue;
        }
        done.push(recipient.inbox.id);
        if let Err(e) = receive(ctx, &recipient.inbox, recipient.channel, data.clone()).await {
            tracing::warn!(error = %e, inbox = %recipient.inbox.id, "inbound mail not stored");
            return "451 4.3.0 could not store the message, try again later";
        }
    }
    "250 2.0.0 OK: queued"
}
