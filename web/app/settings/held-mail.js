// Settings › Held mail: mail kept out of an inbox (failed imports, blocked senders and domains,
// auto-replies, bounces), newest first, per inbox. Admins review each one and can download the
// message as received. Nothing here changes the mail; it is a record.

import { api } from "../api.js";
import { el, formatTime } from "../ui.js";
import { back, draw, empty } from "./forms.js";

const REASONS = {
  failed: "Could not be imported",
  blocked: "Blocked sender",
  auto_reply: "Automatic reply",
  bounce: "Bounce",
};

export async function render(page, [inboxId], alive) {
  const inboxes = await api("GET", "/inboxes");
  if (!alive()) return;
  if (!inboxId) {
    draw(
      page,
      el("h2", { tabindex: "-1" }, "Held mail"),
      el(
        "p",
        { class: "muted" },
        "Mail an inbox kept out of its conversations. Pick an inbox to review it.",
      ),
      inboxes.length
        ? el(
            "ul",
            { class: "rows" },
            inboxes.map((i) =>
              el("li", {}, el("a", { href: `#/settings/held-mail/${i.id}` }, i.name)),
            ),
          )
        : empty("No inboxes yet."),
    );
    return;
  }
  const inbox = inboxes.find((i) => i.id === inboxId);
  if (!inbox) {
    draw(page, back("Held mail", "#/settings/held-mail"), el("p", { class: "empty" }, "No such inbox."));
    return;
  }
  const rows = el("ul", { class: "rows held-mail" });
  const more = el("button", { type: "button", hidden: true }, "Load more");
  const error = el("p", { class: "error", role: "alert" });
  let next = null;
  async function load() {
    error.textContent = "";
    const query = next ? `?after=${encodeURIComponent(next)}` : "";
    try {
      const result = await api("GET", `/inboxes/${inbox.id}/held-mail${query}`);
      if (!alive()) return;
      for (const held of result.items) rows.append(row(held));
      next = result.next ?? null;
      more.hidden = !next;
      if (!rows.children.length) rows.replaceWith(empty("Nothing held in this inbox."));
    } catch (e) {
      error.textContent = e.message;
    }
  }
  more.addEventListener("click", load);
  draw(
    page,
    back("Held mail", "#/settings/held-mail"),
    el("h2", { tabindex: "-1" }, `Held mail — ${inbox.name}`),
    rows,
    more,
    error,
  );
  await load();
}

function row(held) {
  return el(
    "li",
    { dataset: { id: held.id, reason: held.reason } },
    el("strong", {}, REASONS[held.reason] ?? held.reason),
    el("span", { class: "muted" }, ` — ${formatTime(held.created_at)}`),
    el("div", {}, `From: ${held.from_address ?? "(unknown)"}`),
    el("div", {}, `Subject: ${held.subject ?? "(none)"}`),
    el("div", { class: "muted" }, held.detail),
    el(
      "a",
      { href: `/api/v1/held-mail/${held.id}/raw`, download: `held-${held.id}.eml` },
      `Download the message (${held.size} bytes)`,
    ),
  );
}
