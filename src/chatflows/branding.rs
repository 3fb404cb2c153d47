//! Branding: how a chatflow's widget looks and who it says is answering.
//!
//! JSON shape, every field optional (defaults shown):
//! `{"color": "#2563eb", "welcome_message": "Hi! How can we help?", "display_name": "Support",
//!   "avatar_url": null, "meeting_link": null}`.
//! `color` is `#rrggbb`; `welcome_message` 1..=500 characters; `display_name` (the agent or
//! team name) 1..=80; `avatar_url` and `meeting_link` absolute `https://` URLs or `null`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ShapeError, from_value, require_object};

pub const MAX_WELCOME_CHARS: usize = 500;
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;
pub const MAX_URL_CHARS: usize = 2048;

/// A chatflow's parsed branding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    #[serde(default = "default_color", deserialize_with = "color")]
    pub color: String,
    #[serde(default = "default_welcome", deserialize_with = "welcome")]
    pub welcome_message: String,
    #[serde(default = "default_display_name", deserialize_with = "display_name")]
    pub display_name: String,
    #[serde(default, deserialize_with = "https_url")]
    pub avatar_url: Option<String>,
    /// A booking page the widget offers, e.g. a calendar link.
    #[serde(default, deserialize_with = "https_url")]
    pub meeting_link: Option<String>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            color: default_color(),
            welcome_message: default_welcome(),
            display_name: default_display_name(),
            avatar_url: None,
            meeting_link: None,
        }
    }
}

impl Branding {
    /// Parses the `branding` JSON of a chatflow; errors name `branding.<field>`.
    pub fn parse(value: &Value) -> Result<Self, ShapeError> {
        require_object("branding", value)?;
        from_value("branding", value)
    }

    /// The normalized JSON to store.
    pub fn to_stored(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn default_color() -> String {
    "#2563eb".to_owned()
}

fn default_welcome() -> String {
    "Hi! How can we help?".to_owned()
}

fn default_display_name() -> String {
    "Support".to_owned()
}

fn err<E: serde::de::Error>(message: impl std::fmt::Display) -> E {
    E::custom(message)
}

fn color<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let hex = raw.trim().strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(err(format!(
            "'{raw}' is not a colour; write it as #rrggbb, e.g. #2563eb"
        )))
    }
}

fn text<E: serde::de::Error>(raw: &str, max: usize) -> Result<String, E> {
    let text = raw.trim();
    if text.is_empty() {
        Err(err("must not be empty"))
    } else if text.chars().count() > max {
        Err(err(format!("at most {max} characters")))
    } else {
        Ok(text.to_owned())
    }
}

fn welcome<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(&String::deserialize(d)?, MAX_WELCOME_CHARS)
}

fn display_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(&String::deserialize(d)?, MAX_DISPLAY_NAME_CHARS)
}

fn https_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let url = raw.trim();
    let host = url
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    if url.chars().count() > MAX_URL_CHARS {
        return Err(err(format!("at most {MAX_URL_CHARS} characters")));
    }
    // A whitespace or control character would break the widget's markup or be a smuggled value.
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(format!(
            "'{raw}' is not an https URL; write it as https://example.com/…"
        )));
    }
    Ok(Some(url.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_fill_what_is_left_out_and_values_are_normalized() {
        assert_eq!(Branding::parse(&json!({})).unwrap(), Branding::default());
        let b = Branding::parse(&json!({
            "color": "#AABBCC", "welcome_message": "  Hello!  ", "display_name": "Sales team",
            "avatar_url": "https://cdn.test/a.png", "meeting_link": null,
        }))
        .unwrap();
        assert_eq!(b.color, "#aabbcc");
        assert_eq!(b.welcome_message, "Hello!");
        assert_eq!(b.avatar_url.as_deref(), Some("https://cdn.test/a.png"));
        assert_eq!(b.meeting_link, None);
        assert_eq!(Branding::parse(&b.to_stored()).unwrap(), b);
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (json!({"color": "blue"}), "branding.color"),
            (json!({"color": "#12345"}), "branding.color"),
            (json!({"welcome_message": ""}), "branding.welcome_message"),
            (
                json!({"welcome_message": "x".repeat(501)}),
                "branding.welcome_message",
            ),
            (json!({"display_name": "  "}), "branding.display_name"),
            (
                json!({"avatar_url": "http://cdn.test/a.png"}),
                "branding.avatar_url",
            ),
            (json!({"avatar_url": "https://"}), "branding.avatar_url"),
            (
                json!({"meeting_link": "https://cal.test/x y"}),
                "branding.meeting_link",
            ),
            (
                json!({"meeting_link": "javascript:alert(1)"}),
                "branding.meeting_link",
            ),
            (json!({"logo": "x"}), "branding.logo"),
            (json!(["#aabbcc"]), "branding"),
        ];
        for (input, field) in cases {
            let e = Branding::parse(&input).unwrap_err();
            assert_eq!(e.field, field, "{input}: {e}");
        }
        assert!(Branding::parse(&json!({"welcome_message": "x".repeat(500)})).is_ok());
    }
}
