//! The Messenger webhook's payload and signature.
//!
//! Facebook signs each POST with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body
//! under the app secret>`; the check is constant-time and happens before anything is stored.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Whether `header` is the right signature of `body` under `app_secret`.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).is_ok()
}

/// The signature header value for `body` (tests and tools).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Deserialize)]
pub struct Payload {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub struct Entry {
    /// The page id.
    pub id: String,
    #[serde(default)]
    pub messaging: Vec<Messaging>,
}

#[derive(Debug, Deserialize)]
pub struct Messaging {
    pub sender: Party,
    pub recipient: Party,
    #[serde(default)]
    pub timestamp: i64,
    pub message: Option<MessagePart>,
    pub postback: Option<Postback>,
}

#[derive(Debug, Deserialize)]
pub struct Party {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct MessagePart {
    pub mid: String,
    pub text: Option<String>,
    #[serde(default)]
    pub is_echo: bool,
    #[serde(default)]
    pub attachments: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Postback {
    pub title: Option<String>,
    pub payload: Option<String>,
    pub mid: Option<String>,
}

/// One event worth storing, as the webhook understood it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The user wrote (or sent attachments, described in the text).
    Message {
        psid: String,
        mid: String,
        text: String,
    },
    /// The user tapped a button; stored as a message with the button's title.
    Postback {
        psid: String,
        mid: String,
        text: String,
    },
    /// The page sent a message from elsewhere (Page inbox, another tool): store, never resend.
    Echo {
        psid: String,
        mid: String,
        text: String,
    },
}

impl Messaging {
    /// The event, if it is one Parley stores (deliveries, reads and the like are not).
    pub fn event(&self) -> Option<Event> {
        if let Some(message) = &self.message {
            let text = match (&message.text, message.attachments.len()) {
                (Some(text), _) if !text.trim().is_empty() => text.clone(),
                (_, 0) => return None,
                (_, 1) => "[attachment]".to_owned(),
                (_, n) => format!("[{n} attachments]"),
            };
            let mid = message.mid.clone();
            return Some(if message.is_echo {
                Event::Echo {
                    psid: self.recipient.id.clone(),
                    mid,
                    text,
                }
            } else {
                Event::Message {
                    psid: self.sender.id.clone(),
                    mid,
                    text,
                }
            });
        }
        let postback = self.postback.as_ref()?;
        let text = postback
            .title
            .clone()
            .or_else(|| postback.payload.clone())
            .filter(|t| !t.trim().is_empty())?;
        // Older postbacks carry no mid: the sender and the timestamp identify a redelivery.
        let mid = postback
            .mid
            .clone()
            .unwrap_or_else(|| format!("postback:{}:{}", self.sender.id, self.timestamp));
        Some(Event::Postback {
            psid: self.sender.id.clone(),
            mid,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn only_the_right_signature_over_the_exact_body_passes() {
        let body = br#"{"object":"page"}"#;
        let good = sign("secret", body);
        assert!(signature_valid("secret", body, Some(&good)));
        assert!(!signature_valid("other", body, Some(&good)));
        assert!(!signature_valid(
            "secret",
            b"{\"object\": \"page\"}",
            Some(&good)
        ));
        assert!(!signature_valid("secret", body, None));
        assert!(!signature_valid(
            "secret",
            body,
            Some(&good.replace("sha256=", "sha1="))
        ));
        assert!(!signature_valid("secret", body, Some("sha256=zz")));
    }
}
