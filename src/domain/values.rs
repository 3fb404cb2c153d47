//! Validated values. Each `parse` names what is wrong in its error, so the HTTP layer can answer
//! with the field and a sentence a person can act on.

use serde::{Deserialize, Serialize};

/// Why a value was refused. The message is written for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValue {
    pub message: String,
}

impl InvalidValue {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Longest display name, team, inbox or channel name, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest message or comment body, in characters. Long enough for an email, short enough that
/// one message cannot fill a socket's buffers.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Shortest password an agent may choose.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password; argon2 hashes anything, but a megabyte password is an attack on CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;

fn trimmed_nonempty(raw: &str, what: &str, max: usize) -> Result<String, InvalidValue> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InvalidValue::new(format!("{what} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(InvalidValue::new(format!(
            "{what} must be at most {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(value.to_owned())
}

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_value! {
    /// A name shown to people: an agent's display name, a team, inbox, channel or contact name.
    Name
}

impl Name {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        trimmed_nonempty(raw, "name", MAX_NAME_CHARS).map(Self)
    }
}

string_value! {
    /// An email address, lower-cased. Checked for shape only (one `@`, a dotted domain, no
    /// spaces); whether it receives mail is the mail server's business.
    EmailAddress
}

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim().to_lowercase();
        let bad = || InvalidValue::new(format!("'{}' is not an email address", raw.trim()));
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad());
        }
        Ok(Self(value))
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

/// Longest external user id a host site may pass for a widget visitor, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;

string_value! {
    /// The host site's own id for a person (its user id), from a verified widget identity.
    /// Kept exactly as sent (it is the signed value), so surrounding spaces are refused rather
    /// than trimmed.
    ExternalId
}

impl ExternalId {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = trimmed_nonempty(raw, "the user id", MAX_EXTERNAL_ID_CHARS)?;
        if value != raw {
            return Err(InvalidValue::new(
                "the user id must not start or end with spaces",
            ));
        }
        Ok(Self(value))
    }
}

string_value! {
    /// A phone number as the person wrote it, kept to digits and `+ - ( ) .` and spaces.
    Phone
}

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let allowed = value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !allowed || !(5..=20).contains(&digits) {
            return Err(InvalidValue::new(format!(
                "'{value}' is not a phone number (5 to 20 digits, with + - ( ) . or spaces)"
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

string_value! {
    /// An absolute `http`/`https` URL (avatars, meeting links). Other schemes such as
    /// `javascript:` are refused because these end up in `href`/`src` attributes.
    WebUrl
}

impl WebUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(|| {
                InvalidValue::new(format!("'{value}' must start with https:// or http://"))
            })?;
        if rest.is_empty()
            || value.len() > 2048
            || value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidValue::new(format!("'{value}' is not a URL")));
        }
        Ok(Self(value.to_owned()))
    }
}

string_value! {
    /// The text of a message or comment: not blank, at most [`MAX_BODY_CHARS`].
    Body
}

impl Body {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.trim().is_empty() {
            return Err(InvalidValue::new("body must not be empty"));
        }
        if raw.chars().count() > MAX_BODY_CHARS {
            return Err(InvalidValue::new(format!(
                "body must be at most {MAX_BODY_CHARS} characters"
            )));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A password as typed. Never serialized, never printed.
#[derive(Clone)]
pub struct Password(secrecy::SecretString);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(InvalidValue::new(format!(
                "password must be at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(InvalidValue::new(format!(
                "password must be at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        Ok(Self(raw.into()))
    }

    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Declares a closed set of snake_case words stored as text, with `as_str` and `parse`.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                match raw {
                    $($word => Ok($name::$variant),)+
                    other => Err(InvalidValue::new(format!(
                        "'{}' is not one of: {}", other, [$($word),+].join(", ")
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum! {
    /// What an agent may do. Admins manage agents, teams, inboxes and channels and see every inbox.
    AgentRole { Admin => "admin", Agent => "agent" }
}

word_enum! {
    /// The status an agent chooses; whether they are online is a separate, live fact.
    AgentStatus { Available => "available", Away => "away" }
}

word_enum! {
    /// A way in.
    ChannelKind { Chat => "chat", Email => "email", Messenger => "messenger", Form => "form" }
}

word_enum! {
    /// What a chat or messenger channel shows.
    ChatflowKind { LiveChat => "live_chat", Bot => "bot" }
}

word_enum! {
    /// Where a conversation stands.
    ConversationStatus { Open => "open", Pending => "pending", Closed => "closed" }
}

word_enum! {
    /// The three kinds of timeline item.
    ItemKind { Message => "message", Comment => "comment", Event => "event" }
}

word_enum! {
    /// Whether a message came from the contact (`in`) or went to them (`out`).
    Direction { In => "in", Out => "out" }
}

word_enum! {
    /// Delivery of an outbound message through its channel.
    DeliveryStatus { Pending => "pending", Sent => "sent", Failed => "failed" }
}

word_enum! {
    /// A ticket's place in the pipeline.
    TicketStage { New => "new", WaitingOnContact => "waiting_on_contact", WaitingOnUs => "waiting_on_us", Closed => "closed" }
}

word_enum! {
    /// How urgent a ticket is.
    TicketPriority { Low => "low", Medium => "medium", High => "high", Urgent => "urgent" }
}

word_enum! {
    /// How the router picks among eligible agents.
    RoutingStrategy {
        /// The agent assigned least recently.
        RoundRobin => "round_robin",
        /// The agent with the fewest open conversations.
        LeastBusy => "least_busy"
    }
}
