//! Report tables as CSV (RFC 4180: comma separated, CRLF line ends, a header row, fields with a
//! comma, quote or line break quoted). Empty cells stand for `null`; durations are whole seconds.
//! A text cell a spreadsheet would run as a formula (starting `=`, `+`, `-` or `@`) gets a
//! leading `'`, since step names come from flow authors.

use super::{AgentRow, BotRow, BotStepRow, DayCount, Durations};

fn field(raw: &str) -> String {
    if raw.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw.to_owned()
    }
}

fn text(raw: &str) -> String {
    if raw.starts_with(['=', '+', '-', '@']) {
        field(&format!("'{raw}"))
    } else {
        field(raw)
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn table<S: AsRef<str>>(header: &[S], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = header
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A day-count table; `key` names the id column (`channel_id`, `inbox_id`, `team_id`).
pub fn day_counts(rows: &[DayCount], key: &str) -> String {
    let with_kind = key == "channel_id";
    let mut header = vec!["day", key];
    if with_kind {
        header.push("channel_kind");
    }
    header.push("conversations");
    table(
        &header,
        rows.iter().map(|r| {
            let mut cells = vec![r.day.clone(), opt(r.key)];
            if with_kind {
                cells.push(text(r.channel_kind.as_deref().unwrap_or("")));
            }
            cells.push(r.conversations.to_string());
            cells
        }),
    )
}

fn durations(d: &Durations) -> [String; 3] {
    [
        d.count.to_string(),
        opt(d.median_seconds),
        opt(d.p90_seconds),
    ]
}

pub fn agents(rows: &[AgentRow]) -> String {
    let mut header: Vec<String> = ["agent_id", "conversations_replied", "replies_sent"]
        .map(String::from)
        .to_vec();
    for prefix in [
        "first_response",
        "first_response_office_hours",
        "time_to_close",
        "time_to_close_office_hours",
    ] {
        header.extend([
            format!("{prefix}_count"),
            format!("{prefix}_median_seconds"),
            format!("{prefix}_p90_seconds"),
        ]);
    }
    table(
        &header,
        rows.iter().map(|r| {
            let mut cells = vec![
                opt(r.agent_id),
                r.conversations_replied.to_string(),
                r.replies_sent.to_string(),
            ];
            for d in [
                &r.first_response,
                &r.first_response_office_hours,
                &r.time_to_close,
                &r.time_to_close_office_hours,
            ] {
                cells.extend(durations(d));
            }
            cells
        }),
    )
}

pub fn bots(rows: &[BotRow]) -> String {
    table(
        &[
            "chatflow_id",
            "started",
            "completed",
            "handed_off",
            "abandoned",
            "in_progress",
            "resolution_rate",
        ],
        rows.iter().map(|r| {
            vec![
                r.chatflow_id.to_string(),
                r.started.to_string(),
                r.completed.to_string(),
                r.handed_off.to_string(),
                r.abandoned.to_string(),
                r.in_progress.to_string(),
                opt(r.resolution_rate.map(|x| format!("{x:.4}"))),
            ]
        }),
    )
}

pub fn bot_steps(rows: &[BotStepRow]) -> String {
    table(
        &[
            "chatflow_id",
            "step",
            "entered",
            "completed",
            "handed_off",
            "abandoned",
            "drop_off_rate",
        ],
        rows.iter().map(|r| {
            vec![
                r.chatflow_id.to_string(),
                text(&r.step),
                r.entered.to_string(),
                r.completed.to_string(),
                r.handed_off.to_string(),
                r.abandoned.to_string(),
                opt(r.drop_off_rate.map(|x| format!("{x:.4}"))),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_formulas_are_quoted_and_neutralised() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(text("-1,2"), "\"'-1,2\"");
    }
}
