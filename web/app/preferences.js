// The agent's own preferences: profile (display name, avatar, meeting link) and notifications
// (which kinds, and whether through the browser's Notification API).

import { api } from "./api.js";
import { ctx, loadDirectory } from "./context.js";
import { $, el } from "./ui.js";

const KINDS = [
  ["new_assignment", "A conversation is assigned to me"],
  ["mention", "A teammate @mentions me in a note"],
  ["new_message", "A contact writes in a conversation assigned to me"],
  ["browser", "Also as browser notifications (when this tab is not in front)"],
];

export function mount() {}
export function enter() {}

export function leave() {
  $("#view-preferences").replaceChildren();
}

export function show() {
  const agent = ctx.agent;
  const prefs = agent.notification_prefs ?? {};
  const status = el("p", { class: "saved", role: "status" });
  const error = el("p", { class: "error", role: "alert" });
  const field = (label, name, value, type = "text") =>
    el("label", {}, label, el("input", { name, type, value: value ?? "" }));
  const form = el(
    "form",
    { class: "preferences", onsubmit: (event) => save(event, status, error) },
    el("h2", {}, "Your profile"),
    field("Display name", "display_name", agent.profile?.display_name),
    field("Avatar URL", "avatar_url", agent.profile?.avatar_url, "url"),
    field("Meeting link", "meeting_link", agent.profile?.meeting_link, "url"),
    el(
      "fieldset",
      {},
      el("legend", {}, "Notify me when"),
      KINDS.map(([name, label]) =>
        el("label", { class: "check" }, el("input", { type: "checkbox", name, checked: prefs[name] !== false }), label),
      ),
    ),
    permissionRow(),
    el("div", { class: "row" }, el("button", { type: "submit" }, "Save")),
    status,
    error,
  );
  $("#view-preferences").replaceChildren(form);
}

function permissionRow() {
  if (!("Notification" in window)) {
    return el("p", { class: "hint" }, "This browser cannot show notifications.");
  }
  const text = el("span", {}, `Browser permission: ${Notification.permission}.`);
  const ask = el(
    "button",
    {
      type: "button",
      hidden: Notification.permission !== "default",
      onclick: async () => {
        await Notification.requestPermission();
        text.textContent = `Browser permission: ${Notification.permission}.`;
        ask.hidden = Notification.permission !== "default";
      },
    },
    "Allow browser notifications",
  );
  return el("p", { class: "hint" }, text, " ", ask);
}

async function save(event, status, error) {
  event.preventDefault();
  const form = event.target;
  status.textContent = "";
  error.textContent = "";
  const optional = (name) => form[name].value.trim() || null;
  const body = {
    display_name: form.display_name.value.trim(),
    avatar_url: optional("avatar_url"),
    meeting_link: optional("meeting_link"),
    notification_prefs: Object.fromEntries(KINDS.map(([name]) => [name, form[name].checked])),
  };
  try {
    const agent = await api("PATCH", `/agents/${ctx.agent.id}`, body);
    Object.assign(ctx.agent, agent);
    $(".me").textContent = agent.profile?.display_name || agent.email;
    status.textContent = "Saved.";
    loadDirectory().catch(() => {});
  } catch (e) {
    error.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
    form[e.field]?.focus();
  }
}
