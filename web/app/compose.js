// The compose box under the thread: a reply to the contact or an internal note, Enter sends and
// Shift+Enter starts a new line, a draft kept per conversation (until sent or logout), @mention
// autocomplete of teammates in notes, and the agent's typing told to the visitor.

import { ctx } from "./context.js";
import { $, el } from "./ui.js";

const DRAFT_PREFIX = "parley:draft:";
/// A `typing start` is repeated at most this often while the agent keeps typing, and a
/// `typing stop` follows this long after the last key.
const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;
const MENTION_CHOICES = 6;

const state = {
  conversationId: null,
  send: null,
  typingSentAt: 0,
  typingTimer: null,
  choices: [], // agents offered for the @mention being typed
  active: 0, // index of the highlighted choice
};

const textarea = () => $(".compose textarea");
const noteMode = () => $(".compose [name=mode][value=note]").checked;

/// `send({note, body, mentions})` is called with what to send.
export function mount({ send }) {
  state.send = send;
  $(".compose").addEventListener("submit", onSubmit);
  textarea().addEventListener("keydown", onKey);
  textarea().addEventListener("input", onInput);
  // Closed when focus moves elsewhere in the page; not when the window itself loses focus.
  textarea().addEventListener("blur", () =>
    setTimeout(() => document.activeElement !== textarea() && closeMentions(), 150),
  );
  for (const radio of document.querySelectorAll(".compose [name=mode]")) {
    radio.addEventListener("change", () => {
      renderMode();
      saveDraft();
      textarea().focus();
    });
  }
  renderMode();
}

/// Keeps the draft of the conversation being left; shows the one of `conversationId`.
export function switchTo(conversationId) {
  stopTyping();
  state.conversationId = conversationId;
  const draft = readDraft(conversationId);
  textarea().value = draft.body;
  $(`.compose [name=mode][value=${draft.note ? "note" : "reply"}]`).checked = true;
  renderMode();
  closeMentions();
}

/// At logout: drafts are the agent's and stay on a shared computer no longer.
export function forgetDrafts() {
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith(DRAFT_PREFIX)) localStorage.removeItem(key);
  }
  state.conversationId = null;
  textarea().value = "";
}

function renderMode() {
  const note = noteMode();
  $(".compose").classList.toggle("note", note);
  textarea().placeholder = note
    ? "Internal note, only your team sees it… (@ mentions a teammate)"
    : "Reply… (Enter sends, Shift+Enter new line)";
  textarea().setAttribute("aria-label", note ? "Internal note" : "Reply");
  if (!note) closeMentions();
}

function draftKey(conversationId) {
  return `${DRAFT_PREFIX}${ctx.agent?.id}:${conversationId}`;
}

function readDraft(conversationId) {
  try {
    return JSON.parse(localStorage.getItem(draftKey(conversationId))) ?? { body: "", note: false };
  } catch {
    return { body: "", note: false };
  }
}

function saveDraft() {
  if (!state.conversationId) return;
  const body = textarea().value;
  if (body) localStorage.setItem(draftKey(state.conversationId), JSON.stringify({ body, note: noteMode() }));
  else localStorage.removeItem(draftKey(state.conversationId));
}

function onSubmit(event) {
  event.preventDefault();
  const body = textarea().value;
  if (!body.trim() || !state.conversationId) return;
  const note = noteMode();
  state.send({ note, body, mentions: note ? mentionedIn(body) : [] });
  textarea().value = "";
  saveDraft();
  stopTyping();
}

function onKey(event) {
  if (!$(".mentions").hidden) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      state.active = (state.active + step + state.choices.length) % state.choices.length;
      renderMentions();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      pick(state.choices[state.active]);
      return;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      closeMentions();
      return;
    }
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $(".compose").requestSubmit();
  }
}

function onInput() {
  saveDraft();
  if (noteMode()) offerMentions();
  else tellTyping();
}

// --- @mentions -------------------------------------------------------------------------------

function nameOf(agent) {
  return agent.profile?.display_name || agent.email;
}

/// The `@word` being typed just before the caret, if any.
function mentionQuery() {
  const before = textarea().value.slice(0, textarea().selectionStart);
  const match = /(^|\s)@([^\s@]*)$/.exec(before);
  return match ? match[2].toLowerCase() : null;
}

function offerMentions() {
  const query = mentionQuery();
  if (query === null) return closeMentions();
  state.choices = ctx.directory.agents
    .filter((a) => a.active !== false && a.id !== ctx.agent?.id)
    .filter((a) => nameOf(a).toLowerCase().includes(query) || a.email.toLowerCase().startsWith(query))
    .slice(0, MENTION_CHOICES);
  state.active = 0;
  if (!state.choices.length) return closeMentions();
  renderMentions();
}

function renderMentions() {
  const list = $(".mentions");
  list.replaceChildren(
    ...state.choices.map((agent, index) =>
      el(
        "li",
        {
          role: "option",
          id: `mention-${agent.id}`,
          "aria-selected": index === state.active ? "true" : "false",
          dataset: { agentId: agent.id },
          // mousedown, not click: the textarea keeps its focus and caret.
          onmousedown: (event) => {
            event.preventDefault();
            pick(agent);
          },
        },
        nameOf(agent),
        el("span", { class: "email" }, agent.email),
      ),
    ),
  );
  list.hidden = false;
  textarea().setAttribute("aria-expanded", "true");
  textarea().setAttribute("aria-activedescendant", `mention-${state.choices[state.active].id}`);
}

function closeMentions() {
  $(".mentions").hidden = true;
  state.choices = [];
  textarea().setAttribute("aria-expanded", "false");
  textarea().removeAttribute("aria-activedescendant");
}

/// Replaces the `@word` before the caret with `@Name `.
function pick(agent) {
  const area = textarea();
  const caret = area.selectionStart;
  const before = area.value.slice(0, caret).replace(/@[^\s@]*$/, `@${nameOf(agent)} `);
  area.value = before + area.value.slice(caret);
  area.selectionStart = area.selectionEnd = before.length;
  closeMentions();
  saveDraft();
}

/// The agents whose `@Name` the note contains (longest names first, so "@Ann Lee" is not
/// also read as "@Ann").
function mentionedIn(body) {
  const agents = [...ctx.directory.agents].sort((a, b) => nameOf(b).length - nameOf(a).length);
  const found = [];
  let rest = body;
  for (const agent of agents) {
    const tag = `@${nameOf(agent)}`;
    if (rest.includes(tag)) {
      found.push(agent.id);
      rest = rest.replaceAll(tag, "");
    }
  }
  return found;
}

// --- typing ----------------------------------------------------------------------------------

function tellTyping() {
  if (!state.conversationId) return;
  const now = Date.now();
  if (now - state.typingSentAt > TYPING_EVERY_MS) {
    state.typingSentAt = now;
    ctx.socket?.send({ type: "typing", conversation_id: state.conversationId, state: "start" });
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (state.typingSentAt && state.conversationId) {
    ctx.socket?.send({ type: "typing", conversation_id: state.conversationId, state: "stop" });
  }
  state.typingSentAt = 0;
}
