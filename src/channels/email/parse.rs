//! Parsing one raw message with `mail-parser` into what the import needs: sender, threading
//! headers, recipients (for reply tokens), text (full and visible), sanitized HTML,
//! attachments within the size limit, and the signs of an auto-reply or a bounce.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use super::fold::visible_part;
use crate::domain::{Body, EmailAddress, MAX_BODY_CHARS, Name, NewAttachment};

/// Why a message cannot be imported; kept with it as a failed import.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the message is {size} bytes, over the limit of {limit} bytes")]
    TooBig { size: usize, limit: usize },
    #[error("the message could not be parsed as MIME")]
    Unparseable,
    #[error("the message has no usable From address")]
    NoSender,
}

/// Size limits from `[mail]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_attachment_bytes: usize,
}

/// A message as the import and the filters see it.
#[derive(Debug, Clone)]
pub struct ParsedMail {
    pub from_address: EmailAddress,
    pub from_name: Option<Name>,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub subject: Option<String>,
    /// To and Cc addresses, lower-case.
    pub recipients: Vec<String>,
    pub text: String,
    pub visible: Body,
    pub html: Option<String>,
    pub attachments: Vec<NewAttachment>,
    /// Set when the headers mark an automatic reply (the header that did, in words).
    pub auto_reply: Option<String>,
    /// Set when the message is a delivery status notification.
    pub bounce: Option<String>,
}

/// Header fields and what they say, for held mail whose body is not trusted.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
}

/// Whatever can be read of a message's headers, even when it will not import.
pub fn envelope(raw: &[u8]) -> Envelope {
    let Some(message) = MessageParser::default().parse_headers(raw) else {
        return Envelope::default();
    };
    Envelope {
        from_address: message
            .from()
            .and_then(Address::first)
            .and_then(|a| a.address())
            .map(str::to_lowercase),
        subject: message.subject().map(str::to_owned),
        message_id: message.message_id().map(str::to_owned),
    }
}

pub fn parse(raw: &[u8], limits: Limits) -> Result<ParsedMail, ParseError> {
    if raw.len() > limits.max_message_bytes {
        return Err(ParseError::TooBig {
            size: raw.len(),
            limit: limits.max_message_bytes,
        });
    }
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or(ParseError::Unparseable)?;
    let from = message.from().and_then(Address::first);
    let from_address = from
        .and_then(|a| a.address())
        .and_then(|a| EmailAddress::parse(a).ok())
        .ok_or(ParseError::NoSender)?;
    let from_name = from
        .and_then(|a| a.name())
        .map(|n| n.trim().trim_matches('"').trim())
        .and_then(|n| Name::parse(n).ok());
    // A message without Message-ID gets a stable one from its bytes, so a re-import of the
    // same mail is still recognised.
    let message_id = message
        .message_id()
        .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("{}@parley.invalid", hex::encode(Sha256::digest(raw))));
    let in_reply_to = ids(message.in_reply_to()).into_iter().next_back();
    let references = ids(message.references());
    let subject = message
        .subject()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let recipients = message
        .to()
        .into_iter()
        .chain(message.cc())
        .flat_map(Address::iter)
        .filter_map(|a| a.address())
        .map(str::to_lowercase)
        .collect();
    let text = message
        .body_text(0)
        .map(|t| t.replace("\r\n", "\n"))
        .unwrap_or_default();
    let html = message
        .body_html(0)
        .filter(|_| message.html_body_count() > 0)
        .map(|h| ammonia::clean(&h));
    let mut visible = visible_part(&text);
    if visible.chars().count() > MAX_BODY_CHARS {
        visible = visible.chars().take(MAX_BODY_CHARS - 1).collect();
        visible.push('…');
    }
    let mut attachments = Vec::new();
    let mut left_out = Vec::new();
    for part in message.attachments() {
        let name = part.attachment_name().map(str::to_owned);
        let content = part.contents();
        if content.len() > limits.max_attachment_bytes {
            left_out.push(format!(
                "[attachment {} ({} bytes) not kept: over the limit of {} bytes]",
                name.as_deref().unwrap_or("without a name"),
                content.len(),
                limits.max_attachment_bytes
            ));
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_lowercase();
        attachments.push(NewAttachment {
            filename: name,
            content_type,
            content: content.to_vec(),
        });
    }
    if !left_out.is_empty() {
        visible = format!("{visible}\n\n{}", left_out.join("\n"));
    }
    let visible = Body::parse(&visible)
        .or_else(|_| Body::parse(subject.as_deref().unwrap_or("")))
        .or_else(|_| Body::parse("(no text)"))
        .map_err(|_| ParseError::Unparseable)?;
    Ok(ParsedMail {
        auto_reply: auto_reply(&message),
        bounce: bounce(&message, &from_address),
        from_address,
        from_name,
        message_id,
        in_reply_to,
        references,
        subject,
        recipients,
        text,
        visible,
        html,
        attachments,
    })
}

/// Message ids of an In-Reply-To or References header, without angle brackets.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
        .filter(|id| !id.is_empty())
        .collect()
}

fn raw_header(message: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    message
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_lowercase())
}

/// RFC 3834 `Auto-Submitted`, the de-facto `Precedence` values, and the X- headers of
/// common vacation responders.
fn auto_reply(message: &mail_parser::Message<'_>) -> Option<String> {
    if let Some(value) = raw_header(message, "Auto-Submitted")
        && value != "no"
    {
        return Some(format!("Auto-Submitted: {value}"));
    }
    if let Some(value) = raw_header(message, "Precedence")
        && matches!(value.as_str(), "bulk" | "auto_reply" | "junk" | "list")
    {
        return Some(format!("Precedence: {value}"));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"] {
        if let Some(value) = raw_header(message, name)
            && (name != "X-Auto-Response-Suppress" || value.contains("all"))
        {
            return Some(format!("{name}: {value}"));
        }
    }
    None
}

/// A delivery status notification (`multipart/report; report-type=delivery-status`), or mail
/// from a mailer daemon.
fn bounce(message: &mail_parser::Message<'_>, from: &EmailAddress) -> Option<String> {
    if let Some(ct) = message.content_type()
        && ct.ctype().eq_ignore_ascii_case("multipart")
        && ct
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && ct
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    {
        return Some("a delivery status report (multipart/report)".into());
    }
    let local = from.as_str().split('@').next().unwrap_or("");
    if local == "mailer-daemon" || local == "postmaster" {
        return Some(format!("sent by {}", from.as_str()));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LIMITS: Limits = Limits {
        max_message_bytes: 100_000,
        max_attachment_bytes: 10,
    };

    #[test]
    fn multipart_with_encoded_words_charsets_and_attachments() {
        let raw = concat!(
            "From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <Joerg@Example.COM>\r\n",
            "To: support+tok@acme.test\r\n",
            "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n",
            "Message-ID: <abc@example.com>\r\n",
            "In-Reply-To: <x1@acme.test>\r\n",
            "References: <x0@acme.test> <x1@acme.test>\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
            "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            "Sch=F6n.\r\n\r\nOn Mon, 3 Mar 2025, Acme wrote:\r\n> old\r\n",
            "--b\r\nContent-Type: text/plain; name=a.txt\r\n",
            "Content-Disposition: attachment; filename=a.txt\r\n\r\nsmall\r\n",
            "--b\r\nContent-Type: application/pdf; name=big.pdf\r\n",
            "Content-Disposition: attachment; filename=big.pdf\r\n\r\n",
            "0123456789012345\r\n--b--\r\n"
        );
        let mail = parse(raw.as_bytes(), LIMITS).unwrap();
        assert_eq!(mail.from_address.as_str(), "joerg@example.com");
        assert_eq!(mail.from_name.unwrap().as_str(), "Jörg Müller");
        assert_eq!(mail.subject.as_deref(), Some("Grüße"));
        assert_eq!(mail.message_id, "abc@example.com");
        assert_eq!(mail.in_reply_to.as_deref(), Some("x1@acme.test"));
        assert_eq!(mail.references, ["x0@acme.test", "x1@acme.test"]);
        assert!(mail.visible.as_str().starts_with("Schön."));
        assert!(mail.visible.as_str().contains("big.pdf"));
        assert!(mail.text.contains("> old"));
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.attachments[0].filename.as_deref(), Some("a.txt"));
        assert_eq!(mail.recipients, ["support+tok@acme.test"]);
    }

    #[test]
    fn html_is_sanitized_and_auto_replies_and_bounces_are_recognised() {
        let raw = "From: a@b.test\r\nAuto-Submitted: auto-replied\r\nContent-Type: text/html\r\n\r\n<p onclick=\"x()\">Hi<script>alert(1)</script></p>";
        let mail = parse(raw.as_bytes(), LIMITS).unwrap();
        let html = mail.html.unwrap();
        assert!(
            !html.contains("script") && !html.contains("onclick"),
            "{html}"
        );
        assert!(mail.auto_reply.is_some());
        let dsn = "From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n\r\nfailed\r\n--x--\r\n";
        assert!(parse(dsn.as_bytes(), LIMITS).unwrap().bounce.is_some());
        assert_eq!(
            parse(b"Subject: no sender\r\n\r\nhi", LIMITS).unwrap_err(),
            ParseError::NoSender
        );
    }
}
