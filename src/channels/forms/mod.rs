//! Forms to tickets: checking one submission of a `form` channel against its fields and turning
//! it into what the store writes (contact details, the readable message, the ticket's title).
//!
//! Must not: touch HTTP or the store. The public routes (`http::forms`) read the body, check
//! origin, rate and size, call [`check_submission`], and store the result in one transaction.

use serde_json::{Map, Number, Value};

use super::{FormField, FormFieldKind, FormSettings};
use crate::domain::{
    Body, ChannelId, EmailAddress, MAX_PROPERTY_TEXT_CHARS, Name, NewFormSubmission, Phone,
};

/// The hidden field people never see or fill; a bot filling every input fills it too. Field
/// names start with a letter, so it can never be one of the form's own fields.
pub const HONEYPOT_FIELD: &str = "_website";

/// Field names whose value becomes the contact's name.
const NAME_FIELDS: &[&str] = &["name", "full_name", "your_name"];
/// Field names whose value becomes the conversation's subject and the ticket's title.
const SUBJECT_FIELDS: &[&str] = &["subject", "title", "topic"];

/// A submission that was refused, naming the form field at fault (or the whole body).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmissionError {
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    /// The readable message would exceed what a message may hold.
    #[error("{0}")]
    TooLarge(String),
}

fn refuse(field: &str, message: impl Into<String>) -> SubmissionError {
    SubmissionError::Field {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// What became of a submission that passed the checks.
#[derive(Debug, Clone)]
pub enum Checked {
    /// Store it.
    Accepted(Box<NewFormSubmission>),
    /// The honeypot was filled: answer as if accepted, store nothing.
    Honeypot,
}

/// Checks `input` (field name to value, from JSON or a urlencoded body) against the form's
/// fields. Every value is text (numbers may also be JSON numbers); empty text counts as absent.
/// Refuses unknown names, missing required fields, values over `max_field_chars` and values
/// that are not of the field's kind, each naming the field.
pub fn check_submission(
    channel_id: ChannelId,
    form_name: &Name,
    settings: &FormSettings,
    mut input: Map<String, Value>,
    max_field_chars: usize,
) -> Result<Checked, SubmissionError> {
    let honeypot = input.remove(HONEYPOT_FIELD);
    if honeypot.is_some_and(|v| !is_blank(&v)) {
        return Ok(Checked::Honeypot);
    }
    if let Some(unknown) = input.keys().find(|k| {
        !settings
            .fields
            .iter()
            .any(|f| f.name.as_str() == k.as_str())
    }) {
        return Err(refuse(unknown, "this form has no such field"));
    }

    let mut answers: Vec<(&FormField, Value)> = Vec::new();
    for field in &settings.fields {
        let name = field.name.as_str();
        let value = match input.remove(name) {
            Some(v) if !is_blank(&v) => v,
            _ if field.required => {
                return Err(refuse(
                    name,
                    format!("{} is required", field.label.as_str()),
                ));
            }
            _ => continue,
        };
        answers.push((field, check_value(field, value, max_field_chars)?));
    }

    let mut submission = NewFormSubmission {
        channel_id,
        email: None,
        name: None,
        phone: None,
        properties: Map::new(),
        title: form_name.clone(),
        body: body_of(&answers)?,
        ticket_owner_id: settings.ticket_owner_id,
    };
    for (field, value) in &answers {
        let name = field.name.as_str();
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match field.kind {
            FormFieldKind::Email if submission.email.is_none() => {
                submission.email = EmailAddress::parse(&text).ok();
            }
            FormFieldKind::Phone if submission.phone.is_none() => {
                submission.phone = Phone::parse(&text).ok();
            }
            FormFieldKind::Text | FormFieldKind::Select
                if NAME_FIELDS.contains(&name) && submission.name.is_none() =>
            {
                submission.name = Some(Name::parse(&text).map_err(|e| refuse(name, e.message))?);
            }
            FormFieldKind::Text | FormFieldKind::Select if SUBJECT_FIELDS.contains(&name) => {
                let short: String = text.chars().take(crate::domain::MAX_NAME_CHARS).collect();
                if let Ok(title) = Name::parse(&short) {
                    submission.title = title;
                }
            }
            // Long free text lives in the message only; a property holds one short value.
            FormFieldKind::Textarea => {}
            _ if text.chars().count() <= MAX_PROPERTY_TEXT_CHARS => {
                submission.properties.insert(name.to_owned(), value.clone());
            }
            _ => {}
        }
    }
    Ok(Checked::Accepted(Box::new(submission)))
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The value as stored: trimmed text, or a number for `number` fields.
fn check_value(
    field: &FormField,
    value: Value,
    max_chars: usize,
) -> Result<Value, SubmissionError> {
    let name = field.name.as_str();
    let label = field.label.as_str();
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) if field.kind == FormFieldKind::Number => n.to_string(),
        _ => return Err(refuse(name, format!("{label} must be text"))),
    };
    if text.chars().count() > max_chars {
        return Err(refuse(
            name,
            format!("{label} must be at most {max_chars} characters"),
        ));
    }
    let multiline = field.kind == FormFieldKind::Textarea;
    if text
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(refuse(
            name,
            format!("{label} must not contain control characters"),
        ));
    }
    match field.kind {
        FormFieldKind::Email => EmailAddress::parse(&text)
            .map(|e| Value::String(e.as_str().to_owned()))
            .map_err(|_| refuse(name, format!("{label} must be an email address"))),
        FormFieldKind::Phone => Phone::parse(&text)
            .map(|p| Value::String(p.as_str().to_owned()))
            .map_err(|_| refuse(name, format!("{label} must be a phone number"))),
        FormFieldKind::Number => text
            .parse::<f64>()
            .ok()
            .and_then(|n| {
                // Whole numbers stay integers, so "3" reads back as 3, not 3.0.
                text.parse::<i64>()
                    .ok()
                    .map(Number::from)
                    .or_else(|| Number::from_f64(n))
            })
            .map(Value::Number)
            .ok_or_else(|| refuse(name, format!("{label} must be a number"))),
        FormFieldKind::Select => {
            let options = field.options.as_deref().unwrap_or_default();
            if options.iter().any(|o| o.as_str() == text) {
                Ok(Value::String(text))
            } else {
                Err(refuse(name, format!("{label} must be one of its options")))
            }
        }
        FormFieldKind::Text | FormFieldKind::Textarea => Ok(Value::String(text)),
    }
}

/// The submission as a person reads it: one "Label: value" line per answered field, in the
/// form's order; multi-line answers start on the line after their label.
fn body_of(answers: &[(&FormField, Value)]) -> Result<Body, SubmissionError> {
    let mut lines = Vec::with_capacity(answers.len());
    for (field, value) in answers {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let label = field.label.as_str();
        if text.contains('\n') {
            lines.push(format!("{label}:\n{text}"));
        } else {
            lines.push(format!("{label}: {text}"));
        }
    }
    Body::parse(&lines.join("\n")).map_err(|e| {
        SubmissionError::TooLarge(format!("the submission is too long: {}", e.message))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;
    use crate::channels::ChannelSettings;
    use crate::domain::ChannelKind;

    fn form() -> FormSettings {
        let input = json!({"fields": [
            {"name": "email", "label": "Email", "kind": "email", "required": true},
            {"name": "name", "label": "Your name", "kind": "text"},
            {"name": "subject", "label": "Subject", "kind": "text"},
            {"name": "seats", "label": "Seats", "kind": "number"},
            {"name": "plan", "label": "Plan", "kind": "select", "options": ["Basic", "Pro"]},
            {"name": "message", "label": "Message", "kind": "textarea", "required": true},
        ]});
        let Value::Object(input) = input else {
            panic!()
        };
        match ChannelSettings::parse_new(ChannelKind::Form, &input).unwrap() {
            ChannelSettings::Form(f) => f,
            _ => panic!("not a form"),
        }
    }

    fn check(input: Value) -> Result<Checked, SubmissionError> {
        let Value::Object(input) = input else {
            panic!()
        };
        check_submission(
            ChannelId::new(),
            &Name::parse("Contact us").unwrap(),
            &form(),
            input,
            500,
        )
    }

    fn field_of(result: Result<Checked, SubmissionError>) -> String {
        match result {
            Err(SubmissionError::Field { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_answered_form_becomes_contact_details_a_title_and_readable_lines() {
        let Checked::Accepted(s) = check(json!({
            "email": " Ann@Example.com ", "name": "Ann", "subject": "Billing question",
            "seats": "3", "plan": "Pro", "message": "Hello\nthere",
        }))
        .unwrap() else {
            panic!("not accepted")
        };
        assert_eq!(s.email.unwrap().as_str(), "ann@example.com");
        assert_eq!(s.name.unwrap().as_str(), "Ann");
        assert_eq!(s.title.as_str(), "Billing question");
        assert_eq!(s.properties["seats"], json!(3));
        assert_eq!(s.properties["plan"], json!("Pro"));
        assert!(!s.properties.contains_key("message"));
        assert_eq!(
            s.body.as_str(),
            "Email: ann@example.com\nYour name: Ann\nSubject: Billing question\nSeats: 3\n\
             Plan: Pro\nMessage:\nHello\nthere"
        );
    }

    #[test]
    fn without_a_subject_the_title_is_the_form_name() {
        let Checked::Accepted(s) = check(json!({"email": "a@b.co", "message": "Hi"})).unwrap()
        else {
            panic!("not accepted")
        };
        assert_eq!(s.title.as_str(), "Contact us");
    }

    #[test]
    fn each_refusal_names_its_field() {
        assert_eq!(field_of(check(json!({"message": "Hi"}))), "email");
        assert_eq!(
            field_of(check(json!({"email": "a@b.co", "message": "  "}))),
            "message"
        );
        assert_eq!(
            field_of(check(json!({"email": "nope", "message": "Hi"}))),
            "email"
        );
        let base = |k: &str, v: Value| {
            let mut input = json!({"email": "a@b.co", "message": "Hi"});
            input[k] = v;
            check(input)
        };
        assert_eq!(field_of(base("seats", json!("many"))), "seats");
        assert_eq!(field_of(base("plan", json!("Gold"))), "plan");
        assert_eq!(field_of(base("name", json!(["x"]))), "name");
        assert_eq!(field_of(base("colour", json!("red"))), "colour");
        assert_eq!(field_of(base("message", json!("x".repeat(501)))), "message");
        assert_eq!(field_of(base("subject", json!("a\u{0}b"))), "subject");
    }

    #[test]
    fn a_filled_honeypot_is_recognised_before_any_other_check() {
        assert!(matches!(
            check(json!({HONEYPOT_FIELD: "http://spam"})),
            Ok(Checked::Honeypot)
        ));
        assert!(matches!(
            check(json!({HONEYPOT_FIELD: "", "email": "a@b.co", "message": "Hi"})),
            Ok(Checked::Accepted(_))
        ));
    }
}
