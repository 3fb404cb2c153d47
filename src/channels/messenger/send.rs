//! Replies through the Messenger Send API (`POST {graph_api_base_url}/me/messages`).

use serde_json::{Value, json};

use crate::outbox::SendError;

/// Longest text one Messenger message may carry, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// Sends `text` to the user `psid` as the page; returns Facebook's message id. A 4xx answer
/// (other than 429) is permanent, with Facebook's own message as the reason.
pub async fn send_text(
    client: &reqwest::Client,
    base_url: &str,
    page_access_token: &str,
    psid: &str,
    text: &str,
) -> Result<String, SendError> {
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(SendError::Permanent(format!(
            "Messenger messages are limited to {MAX_TEXT_CHARS} characters"
        )));
    }
    let token = serde_urlencoded::to_string([("access_token", page_access_token)])
        .map_err(|e| SendError::Permanent(format!("the page access token: {e}")))?;
    let url = format!("{}/me/messages?{token}", base_url.trim_end_matches('/'));
    let answer = client
        .post(url)
        .json(&json!({
            "recipient": {"id": psid},
            "messaging_type": "RESPONSE",
            "message": {"text": text},
        }))
        .send()
        .await
        .map_err(|e| SendError::Transient(format!("Send API: {e}")))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return body
            .get("message_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SendError::Transient("Send API answered without a message_id".into()));
    }
    let reason = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no reason given");
    let error = format!("Send API answered {}: {reason}", status.as_u16());
    if status.as_u16() == 429 || status.is_server_error() {
        Err(SendError::Transient(error))
    } else {
        Err(SendError::Permanent(error))
    }
}
