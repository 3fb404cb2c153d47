//! A form submission as the store takes it: already checked against the form's fields by
//! `channels::forms`, so the store only has to write it.

use serde_json::{Map, Value};

use super::{
    AgentId, Body, ChannelId, Contact, Conversation, EmailAddress, Name, Phone, Ticket,
    TimelineItem,
};

/// One accepted submission of a `form` channel.
#[derive(Debug, Clone)]
pub struct NewFormSubmission {
    pub channel_id: ChannelId,
    /// Finds the contact to reuse; a submission without one creates a new contact.
    pub email: Option<EmailAddress>,
    /// Filled into the contact when it has none.
    pub name: Option<Name>,
    pub phone: Option<Phone>,
    /// Other answers, as contact properties the contact does not have yet.
    pub properties: Map<String, Value>,
    /// The conversation's subject and the ticket's title.
    pub title: Name,
    /// The submission as the contact's inbound message ("Label: value" lines).
    pub body: Body,
    /// The ticket's owner (the form's `ticket_owner_id`).
    pub ticket_owner_id: Option<AgentId>,
}

/// What one submission wrote, in one transaction.
#[derive(Debug, Clone)]
pub struct FormSubmissionStored {
    pub contact: Contact,
    /// False when an existing contact (same email) was reused.
    pub contact_created: bool,
    pub conversation: Conversation,
    pub item: TimelineItem,
    pub ticket: Ticket,
}

impl NewFormSubmission {
    /// Fills what an existing contact lacks: an empty name or phone, properties it does not
    /// have (up to [`super::MAX_PROPERTIES`]). Never overwrites: anyone can type any email into
    /// a public form, so a submission must not change what is known about that address's owner.
    /// Returns whether anything changed.
    pub fn fill(&self, contact: &mut Contact) -> bool {
        let mut changed = false;
        if contact.name.is_none() && self.name.is_some() {
            contact.name = self.name.clone();
            changed = true;
        }
        if contact.phone.is_none() && self.phone.is_some() {
            contact.phone = self.phone.clone();
            changed = true;
        }
        for (key, value) in &self.properties {
            if contact.properties.len() >= super::MAX_PROPERTIES {
                break;
            }
            if !contact.properties.contains_key(key) {
                contact.properties.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        changed
    }
}
