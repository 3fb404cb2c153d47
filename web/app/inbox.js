// The inbox view: the conversation list with its filters, and the open conversation's thread
// with its reply box.
//
// Delivery follows docs/protocol.md: the open conversation's items are kept by `seq` (each shown
// once, in order); after any reconnect the view subscribes again with the last `seq` it has; a
// reply stays in the outbox with its `client_id` until acked and is resent with the same id, so
// a server restart neither loses nor doubles it. User content only ever goes into textContent.

import { api } from "./api.js";
import { clearContact, showContact } from "./contact.js";
import { agentName, ctx, go, onFrame } from "./context.js";
import { $, $$, clearError, showError, uuid } from "./ui.js";

/// New conversations nobody is assigned to are announced by no frame: the list is also
/// reloaded this often.
const LIST_POLL_MS = 5000;
const LIST_DEBOUNCE_MS = 200;
const LIST_ERROR = "The conversation list could not be loaded:";
const OUTBOX_KEY = "parley:outbox";

const state = {
  conversations: [],
  current: null, // the open conversation
  items: new Map(), // seq -> item of the open conversation
  lastSeq: 0,
  outbox: loadOutbox(), // client_id -> {conversation_id, body}, kept across reloads
  poll: null,
  listTimer: null,
};

function loadOutbox() {
  try {
    return new Map(JSON.parse(sessionStorage.getItem(OUTBOX_KEY) ?? "[]"));
  } catch {
    return new Map();
  }
}

function saveOutbox() {
  if (state.outbox.size) sessionStorage.setItem(OUTBOX_KEY, JSON.stringify([...state.outbox]));
  else sessionStorage.removeItem(OUTBOX_KEY);
}

// --- view lifecycle ------------------------------------------------------------------------

export function mount() {
  $(".compose").addEventListener("submit", onSend);
  $(".compose textarea").addEventListener("keydown", onComposeKey);
  $(".assign-me").addEventListener("click", assignToMe);
  for (const button of $$("[data-status]")) {
    button.addEventListener("click", () => setStatus(button.dataset.status));
  }
  for (const select of $$(".filters select")) {
    select.addEventListener("change", loadList);
  }
  onFrame("up", onUp);
  // The session cookie no longer opens the socket: the list call says so and ends the session.
  onFrame("down", (frame) => frame.reason === "unauthenticated" && loadList());
  onFrame("item", (frame) => {
    if (frame.item.conversation_id === state.current?.id) addItem(frame.item);
    scheduleList();
  });
  onFrame("ack", (frame) => {
    state.outbox.delete(frame.client_id);
    saveOutbox();
    if (state.items.has(frame.seq)) removePending(frame.client_id);
  });
  for (const type of ["assigned", "updated"]) {
    onFrame(type, (frame) => {
      if (frame.conversation?.id === state.current?.id) {
        state.current = frame.conversation;
        renderHead();
      }
      scheduleList();
    });
  }
  onFrame("notification", scheduleList);
  onFrame("error", onSocketError);
}

export function enter() {
  state.poll = setInterval(loadList, LIST_POLL_MS);
  loadList();
}

export function leave() {
  clearInterval(state.poll);
  Object.assign(state, { conversations: [], current: null, lastSeq: 0, poll: null });
  state.items.clear();
  state.outbox.clear();
  saveOutbox();
  $(".conversations").replaceChildren();
  $(".items").replaceChildren();
  $(".thread-body").hidden = true;
  $(".thread-empty").hidden = false;
  clearContact($(".contact-pane"));
}

/// `#/inbox` or `#/inbox/{conversation id}`.
export async function show([conversationId] = []) {
  if (!conversationId || conversationId === state.current?.id) return;
  const known = state.conversations.find((c) => c.id === conversationId);
  if (known) {
    openConversation(known);
    return;
  }
  try {
    openConversation(await api("GET", `/conversations/${conversationId}`));
  } catch (e) {
    showError(`That conversation could not be opened: ${e.message}`);
  }
}

// --- socket --------------------------------------------------------------------------------

function onUp() {
  if (state.current) subscribe();
  for (const [client_id, entry] of state.outbox) {
    ctx.socket.send({ type: "send", client_id, ...entry });
  }
  loadList();
}

function onSocketError(frame) {
  const retried = frame.code === "rate_limited" || frame.code === "unavailable";
  if (frame.client_id && state.outbox.has(frame.client_id) && !retried) {
    state.outbox.delete(frame.client_id);
    saveOutbox();
    const li = pendingItem(frame.client_id);
    if (li) {
      li.classList.remove("pending");
      li.classList.add("failed");
      li.title = "Not sent";
    }
  }
  showError(frame.message || `The server refused that (${frame.code}).`);
}

function subscribe() {
  ctx.socket.send({
    type: "subscribe",
    conversation_id: state.current.id,
    after_seq: state.lastSeq,
  });
}

// --- list ----------------------------------------------------------------------------------

function scheduleList() {
  clearTimeout(state.listTimer);
  state.listTimer = setTimeout(loadList, LIST_DEBOUNCE_MS);
}

async function loadList() {
  if (!ctx.agent) return;
  const query = new URLSearchParams();
  const status = $("[name=status]").value;
  if (status) query.set("status", status);
  const assigned = $("[name=assigned]").value;
  if (assigned === "me") query.set("assignee_id", ctx.agent.id);
  if (assigned === "unassigned") query.set("unassigned", "true");
  try {
    const page = await api("GET", `/conversations?${query}`);
    state.conversations = page.items;
    clearError(LIST_ERROR);
    renderList();
  } catch (e) {
    if (e.status === 401) {
      ctx.frames.dispatchEvent(new CustomEvent("session_ended"));
      return;
    }
    // Offline, the banner already says so.
    if (e.code === "network" && !$("#banner").hidden) return;
    showError(`${LIST_ERROR} ${e.message}`);
  }
}

function renderList() {
  const focused = document.activeElement?.dataset?.id;
  const ul = $(".conversations");
  ul.replaceChildren(
    ...state.conversations.map((conversation) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.id = conversation.id;
      if (conversation.id === state.current?.id) button.classList.add("current");
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = titleOf(conversation);
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = `${conversation.status} · ${assigneeOf(conversation)}`;
      button.append(title, meta);
      button.addEventListener("click", () => go("inbox", conversation.id));
      li.append(button);
      return li;
    }),
  );
  $(".list-empty").hidden = state.conversations.length > 0;
  if (focused) ul.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus();
}

function titleOf(conversation) {
  return conversation.subject || `Conversation ${conversation.id.slice(-6)}`;
}

function assigneeOf(conversation) {
  if (!conversation.assignee_id) return "unassigned";
  return `assigned to ${agentName(conversation.assignee_id)}`;
}

// --- thread --------------------------------------------------------------------------------

function openConversation(conversation) {
  if (state.current && state.current.id !== conversation.id) {
    ctx.socket.send({ type: "unsubscribe", conversation_id: state.current.id });
  }
  if (state.current?.id !== conversation.id) {
    state.items.clear();
    state.lastSeq = 0;
    $(".items").replaceChildren();
    for (const [client_id, entry] of state.outbox) {
      if (entry.conversation_id === conversation.id) showPending(client_id, entry.body);
    }
  }
  state.current = conversation;
  $(".thread-empty").hidden = true;
  $(".thread-body").hidden = false;
  renderHead();
  renderList();
  subscribe();
  showContact($(".contact-pane"), conversation);
  $(".compose textarea").focus();
}

function renderHead() {
  const conversation = state.current;
  $(".thread-head .title").textContent = titleOf(conversation);
  $(".status-label").textContent = `Status: ${conversation.status}`;
  $(".assignee-label").textContent = assigneeOf(conversation);
  for (const button of $$("[data-status]")) {
    button.disabled = button.dataset.status === conversation.status;
  }
  $(".assign-me").hidden = conversation.assignee_id === ctx.agent.id;
}

function addItem(item) {
  if (state.items.has(item.seq)) return;
  state.items.set(item.seq, item);
  state.lastSeq = Math.max(state.lastSeq, item.seq);
  if (item.client_id) removePending(item.client_id);
  const li = renderItem(item);
  const list = $(".items");
  const later = [...list.children].find((n) => n.dataset.seq && Number(n.dataset.seq) > item.seq);
  const firstPending = list.querySelector(".pending, .failed");
  list.insertBefore(li, later ?? firstPending ?? null);
  list.scrollTop = list.scrollHeight;
}

function renderItem(item) {
  const li = document.createElement("li");
  li.dataset.seq = String(item.seq);
  if (item.kind === "message") {
    li.className = `message ${item.direction === "out" ? "out" : "in"}`;
    li.textContent = item.body ?? "";
  } else if (item.kind === "comment") {
    li.className = "comment";
    li.textContent = item.body ?? "";
  } else {
    li.className = "event";
    li.textContent = describeEvent(item);
  }
  return li;
}

function describeEvent(item) {
  const data = item.data ?? {};
  switch (data.type) {
    case "status_changed":
      return `Status changed from ${data.from} to ${data.to}`;
    case "assigned":
      if (!data.assignee_id) return "Unassigned";
      return `Assigned to ${agentName(data.assignee_id)}`;
    default:
      return String(data.type ?? item.kind ?? "event").replaceAll("_", " ");
  }
}

function showPending(client_id, body) {
  const li = document.createElement("li");
  li.className = "message out pending";
  li.dataset.clientId = client_id;
  li.title = "Sending…";
  li.textContent = body;
  $(".items").append(li);
  $(".items").scrollTop = $(".items").scrollHeight;
}

function pendingItem(client_id) {
  return $$(".items [data-client-id]").find((n) => n.dataset.clientId === client_id);
}

function removePending(client_id) {
  pendingItem(client_id)?.remove();
}

function onSend(event) {
  event.preventDefault();
  const textarea = $(".compose textarea");
  const body = textarea.value;
  if (!body.trim() || !state.current) return;
  const client_id = uuid();
  const entry = { conversation_id: state.current.id, body };
  state.outbox.set(client_id, entry);
  saveOutbox();
  showPending(client_id, body);
  textarea.value = "";
  // Sent now if the socket is up, else on the next `hello`.
  ctx.socket.send({ type: "send", client_id, ...entry });
}

function onComposeKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $(".compose").requestSubmit();
  }
}

async function setStatus(status) {
  await change(`/conversations/${state.current.id}/status`, { status });
}

async function assignToMe() {
  await change(`/conversations/${state.current.id}/assign`, {
    assignee_id: ctx.agent.id,
    team_id: state.current.team_id ?? null,
  });
}

async function change(path, body) {
  try {
    const answer = await api("POST", path, body);
    clearError();
    if (answer?.conversation?.id === state.current?.id) {
      state.current = answer.conversation;
      renderHead();
    }
    scheduleList();
  } catch (e) {
    showError(`That change was not made: ${e.message}`);
  }
}
