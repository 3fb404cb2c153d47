//! An inbox's email filters: blocked senders and domains always; bounces and auto-replies
//! when the inbox keeps them out (`filter_auto_replies`). What matches is held, not dropped.

use super::parse::ParsedMail;
use crate::domain::{EmailFilters, HeldReason};

/// Why the mail stays out of the inbox, if it does.
pub fn check(filters: &EmailFilters, mail: &ParsedMail) -> Option<(HeldReason, String)> {
    let from = mail.from_address.as_str();
    if filters.blocked_senders.iter().any(|b| b.as_str() == from) {
        return Some((HeldReason::Blocked, format!("the sender {from} is blocked")));
    }
    let domain = mail.from_address.domain();
    if let Some(blocked) = filters
        .blocked_domains
        .iter()
        .find(|d| domain == d.as_str() || domain.ends_with(&format!(".{d}")))
    {
        return Some((
            HeldReason::Blocked,
            format!("the sender's domain {blocked} is blocked"),
        ));
    }
    if filters.filter_auto_replies {
        if let Some(why) = &mail.bounce {
            return Some((HeldReason::Bounce, format!("a bounce: {why}")));
        }
        if let Some(why) = &mail.auto_reply {
            return Some((HeldReason::AutoReply, format!("an automatic reply: {why}")));
        }
    }
    None
}
