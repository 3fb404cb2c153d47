//! Folding quoted history out of a reply's plain text, for display. The full text is kept
//! (`email_messages.text`); the message item's body is the part the sender wrote.
//!
//! The cut is at the first attribution or separator the common clients write (Gmail and Apple
//! Mail "On … wrote:", Outlook's "-----Original Message-----" or a rule followed by
//! "From:", German "Am … schrieb …:", French "Le … a écrit :"); then `>`-quoted lines are
//! dropped wherever they are. If nothing would be left, the whole text is shown.

/// The visible part of `text`.
pub fn visible_part(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let cut = (0..lines.len())
        .find(|&i| starts_history(&lines, i))
        .unwrap_or(lines.len());
    let kept: Vec<&str> = lines[..cut]
        .iter()
        .copied()
        .filter(|line| !line.trim_start().starts_with('>'))
        .collect();
    let visible = kept.join("\n").trim().to_owned();
    if visible.is_empty() {
        text.trim().to_owned()
    } else {
        visible
    }
}

fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let lower = line.to_lowercase();
    let next = lines.get(i + 1).map_or("", |l| l.trim());
    let attribution = |start: &str, end: &str| {
        lower.starts_with(start)
            && (lower.ends_with(end) || (!next.is_empty() && next.to_lowercase().ends_with(end)))
    };
    if attribution("on ", "wrote:")
        || attribution("am ", "schrieb:")
        || attribution("le ", "a écrit :")
        || attribution("le ", "a écrit:")
    {
        return true;
    }
    if lower.starts_with("-----") && lower.contains("original message") {
        return true;
    }
    let is_rule = line.len() >= 10 && line.chars().all(|c| c == '_' || c == '-');
    if is_rule {
        let below = lines
            .get(i + 1..(i + 3).min(lines.len()))
            .unwrap_or(&[])
            .iter()
            .any(|l| {
                let l = l.trim_start().to_lowercase();
                l.starts_with("from:") || l.starts_with("von:") || l.starts_with("de :")
            });
        return below;
    }
    // Outlook's plain-text header block without a rule: From:, then Sent:/Date: next.
    lower.starts_with("from:")
        && (next.to_lowercase().starts_with("sent:") || next.to_lowercase().starts_with("date:"))
}

#[cfg(test)]
mod tests {
    use super::visible_part;

    #[test]
    fn gmail_apple_and_outlook_history_is_folded() {
        let gmail = "Thanks, that works.\n\nOn Mon, 3 Mar 2025 at 10:00, Acme <s@acme.test> wrote:\n> Try again.\n";
        assert_eq!(visible_part(gmail), "Thanks, that works.");
        let wrapped =
            "Yes.\n\nOn Mon, 3 Mar 2025 at 10:00, Acme Support\n<s@acme.test> wrote:\n> Try again.";
        assert_eq!(visible_part(wrapped), "Yes.");
        let outlook = "Still broken.\n\n________________________________\nFrom: Acme <s@acme.test>\nSent: Monday\nSubject: Order\n\nTry again.";
        assert_eq!(visible_part(outlook), "Still broken.");
        let original = "Hi\n-----Original Message-----\nFrom: x";
        assert_eq!(visible_part(original), "Hi");
        let inline = "> question?\nanswer\n> another?\nsecond answer";
        assert_eq!(visible_part(inline), "answer\nsecond answer");
        assert_eq!(visible_part("> only quoted"), "> only quoted");
    }
}
