// Presence and notifications: the agent's own status toggle, teammates' presence, and
// notifications (a new assignment, a mention, a new message in one's conversations) shown in
// the app and, when the agent allows it and the browser permits, through the Notification API.
// Each kind follows the agent's notification preferences (the Preferences view edits them).

import { api } from "./api.js";
import { agentName, ctx, go, onFrame } from "./context.js";
import { $, el, showError } from "./ui.js";

const TOAST_MS = 8000;
const MAX_TOASTS = 4;

/// agent_id -> {status, online}
const presence = new Map();

export function mount() {
  $(".status-toggle").addEventListener("click", toggleStatus);
  onFrame("up", loadPresence);
  onFrame("directory", renderTeammates);
  onFrame("presence", (frame) => {
    presence.set(frame.agent_id, { status: frame.status, online: frame.online });
    if (frame.agent_id === ctx.agent?.id) {
      ctx.agent.status = frame.status;
      renderOwnStatus();
    }
    renderTeammates();
  });
  onFrame("assigned", (frame) => {
    const conversation = frame.conversation;
    if (conversation.assignee_id !== ctx.agent?.id) return;
    notify("new_assignment", conversation.id, "Assigned to you", titleOf(conversation));
  });
  onFrame("notification", (frame) => {
    if (frame.reason === "mention") {
      const by = frame.item.author?.type === "agent" ? agentName(frame.item.author.id) : "Someone";
      notify("mention", frame.conversation_id, `${by} mentioned you`, frame.item.body ?? "");
    } else if (frame.reason === "message") {
      notify("new_message", frame.conversation_id, "New message", frame.item.body ?? "");
    }
  });
}

export function enter() {
  renderOwnStatus();
}

export function leave() {
  presence.clear();
  $(".teammates").replaceChildren();
  $(".toasts").replaceChildren();
}

export function presenceOf(agentId) {
  return presence.get(agentId) ?? { status: "away", online: false };
}

// --- own status and teammates ------------------------------------------------------------------

async function loadPresence() {
  try {
    const online = await api("GET", "/presence");
    presence.clear();
    for (const p of online) presence.set(p.agent_id, { status: p.status, online: p.online });
    renderTeammates();
  } catch (e) {
    if (e.code !== "network") showError(`Teammates' presence could not be loaded: ${e.message}`);
  }
}

function renderOwnStatus() {
  const available = ctx.agent?.status !== "away";
  const toggle = $(".status-toggle");
  toggle.textContent = available ? "Available" : "Away";
  toggle.setAttribute("aria-pressed", String(available));
  toggle.classList.toggle("away", !available);
}

async function toggleStatus() {
  const status = ctx.agent.status === "away" ? "available" : "away";
  try {
    const agent = await api("PATCH", `/agents/${ctx.agent.id}`, { status });
    ctx.agent.status = agent.status;
    renderOwnStatus();
  } catch (e) {
    showError(`Your status was not changed: ${e.message}`);
  }
}

function renderTeammates() {
  const agents = ctx.directory.agents.filter((a) => a.active !== false && a.id !== ctx.agent?.id);
  const rank = (a) => {
    const p = presenceOf(a.id);
    return p.online ? (p.status === "available" ? 0 : 1) : 2;
  };
  agents.sort((a, b) => rank(a) - rank(b));
  const online = agents.filter((a) => presenceOf(a.id).online).length;
  $(".team-presence summary").textContent = `Team · ${online} online`;
  $(".teammates").replaceChildren(
    ...agents.map((agent) => {
      const p = presenceOf(agent.id);
      const state = p.online ? p.status : "offline";
      return el(
        "li",
        { class: `teammate ${state}`, dataset: { agentId: agent.id } },
        el("span", { class: "dot", "aria-hidden": "true" }),
        agent.profile?.display_name || agent.email,
        el("span", { class: "state" }, state),
      );
    }),
  );
  if (!agents.length) $(".teammates").append(el("li", { class: "empty" }, "No teammates yet."));
}

// --- notifications -----------------------------------------------------------------------------

function titleOf(conversation) {
  return conversation.subject || `Conversation ${conversation.id.slice(-6)}`;
}

/// Shows a notification of `kind` (a key of the agent's preferences) unless they turned it
/// off; a click opens the conversation.
function notify(kind, conversationId, title, body) {
  const prefs = ctx.agent?.notification_prefs ?? {};
  if (prefs[kind] === false) return;
  const open = () => go("inbox", conversationId);
  const toast = el(
    "button",
    { type: "button", class: `toast ${kind}`, dataset: { conversationId }, onclick: open },
    el("strong", {}, title),
    el("span", {}, body.length > 140 ? `${body.slice(0, 140)}…` : body),
  );
  const toasts = $(".toasts");
  toasts.prepend(toast);
  while (toasts.children.length > MAX_TOASTS) toasts.lastChild.remove();
  setTimeout(() => toast.remove(), TOAST_MS);
  const unseen = document.visibilityState !== "visible" || !document.hasFocus();
  if (prefs.browser !== false && unseen && "Notification" in window && Notification.permission === "granted") {
    const shown = new Notification(title, { body, tag: `${kind}:${conversationId}` });
    shown.onclick = () => {
      window.focus();
      open();
    };
  }
}
