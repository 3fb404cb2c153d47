// The inbox view: the conversation list with its filters, and the open conversation's thread
// with its reply box.
//
// Delivery follows docs/protocol.md: the open conversation's items are kept by `seq` (each shown
// once, in order); after any reconnect the view subscribes again with the last `seq` it has; a
// reply stays in the outbox with its `client_id` until acked and is resent with the same id, so
// a server restart neither loses nor doubles it. User content only ever goes into textContent.

import { api } from "./api.js";
import { clearContact, showContact } from "./contact.js";
import { agentName, channelOf, ctx, go, inboxName, onFrame, teamName } from "./context.js";
import * as compose from "./compose.js";
import { $, $$, clearError, el, formatTime, showError, uuid } from "./ui.js";

/// New and changed conversations are announced by `conversation` frames on the inboxes'
/// topics; the list also reloads this often, for memberships given after the socket connected
/// and frames missed while the bus was down.
const LIST_POLL_MS = 30000;
/// A visitor's "typing" fades after this long without a new one.
const TYPING_SHOWN_MS = 6000;
const LIST_DEBOUNCE_MS = 200;
const LIST_ERROR = "The conversation list could not be loaded:";
const OUTBOX_KEY = "parley:outbox";

const state = {
  conversations: [],
  current: null, // the open conversation
  items: new Map(), // seq -> item of the open conversation
  lastSeq: 0,
  outbox: loadOutbox(), // client_id -> frame ({type, conversation_id, body, mentions?})
  poll: null,
  listTimer: null,
  visitorOnline: false,
  typingTimer: null,
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
  compose.mount({ send: onSend });
  $(".assign-me").addEventListener("click", assignToMe);
  $(".assign-to").addEventListener("change", onAssignTo);
  // Narrow screens show the list or the thread: "‹ List" goes back to the list.
  $(".back").addEventListener("click", () => {
    $("#view-inbox").classList.remove("has-thread");
    $(`.conversations [data-id="${CSS.escape(state.current?.id ?? "")}"]`)?.focus();
  });
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
  onFrame("conversation", (frame) => {
    if (frame.conversation.id === state.current?.id) {
      state.current = frame.conversation;
      renderHead();
    }
    scheduleList();
  });
  onFrame("subscribed", (frame) => {
    if (frame.conversation_id !== state.current?.id) return;
    state.visitorOnline = Boolean(frame.visitor_online);
    renderVisitor();
  });
  onFrame("visitor", (frame) => {
    if (frame.conversation_id !== state.current?.id) return;
    state.visitorOnline = frame.online;
    if (!frame.online) showTyping(null);
    renderVisitor();
  });
  onFrame("typing", (frame) => {
    if (frame.conversation_id !== state.current?.id) return;
    const who = frame.contact_id ? "The visitor" : agentName(frame.agent_id);
    showTyping(frame.state === "start" ? `${who} is typing…` : null);
  });
  // An email or Messenger reply went out, or was given up: its byline says so at once.
  onFrame("delivery", (frame) => {
    if (frame.conversation_id !== state.current?.id) return;
    const item = state.items.get(frame.seq);
    if (!item) return;
    item.delivery_status = frame.status;
    item.delivery_error = frame.error ?? null;
    $(".items").querySelector(`li[data-seq="${frame.seq}"]`)?.replaceWith(renderItem(item));
  });
  onFrame("error", onSocketError);
  onFrame("directory", () => {
    renderFilterChoices();
    renderAssignChoices();
    if (state.current) renderHead();
    renderList();
  });
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
  compose.forgetDrafts();
  $(".conversations").replaceChildren();
  $(".items").replaceChildren();
  $(".thread-body").hidden = true;
  $(".thread-empty").hidden = false;
  $("#view-inbox").classList.remove("has-thread");
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
  for (const [client_id, frame] of state.outbox) {
    ctx.socket.send({ type: "send", ...frame, client_id });
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
  for (const [name, param] of [["inbox", "inbox_id"], ["team", "team_id"], ["channel", "channel_id"]]) {
    const value = $(`.filters [name=${name}]`).value;
    if (value) query.set(param, value);
  }
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

/// Updates the list in place: rows are kept per conversation, so a reload never takes a row
/// away from under a click or the keyboard focus.
function renderList() {
  const ul = $(".conversations");
  const rows = new Map($$("li", ul).map((li) => [li.dataset.id, li]));
  const wanted = state.conversations.map((conversation) => {
    const li = rows.get(conversation.id) ?? newRow(conversation.id);
    fillRow(li, conversation);
    return li;
  });
  const keep = new Set(wanted);
  for (const li of rows.values()) if (!keep.has(li)) li.remove();
  wanted.forEach((li, i) => {
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] ?? null);
  });
  $(".list-empty").hidden = state.conversations.length > 0;
}

function newRow(id) {
  const button = el(
    "button",
    { type: "button", dataset: { id }, onclick: () => go("inbox", id) },
    el("span", { class: "title" }),
    el("span", { class: "meta" }),
    el("span", { class: "where" }),
  );
  return el("li", { dataset: { id } }, button);
}

function fillRow(li, conversation) {
  const button = li.firstChild;
  button.classList.toggle("current", conversation.id === state.current?.id);
  setText($(".title", button), titleOf(conversation));
  setText($(".meta", button), `${conversation.status} · ${assigneeOf(conversation)}`);
  const channel = channelOf(conversation.channel_id);
  const where = [
    channel ? `${channel.name} (${channel.kind})` : null,
    inboxName(conversation.inbox_id),
    formatTime(conversation.updated_at),
  ];
  setText($(".where", button), where.filter(Boolean).join(" · "));
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function titleOf(conversation) {
  return conversation.subject || `Conversation ${conversation.id.slice(-6)}`;
}

function assigneeOf(conversation) {
  const team = conversation.team_id ? ` (${teamName(conversation.team_id)})` : "";
  if (!conversation.assignee_id) return `unassigned${team}`;
  return `assigned to ${agentName(conversation.assignee_id)}${team}`;
}

function renderFilterChoices() {
  const { inboxes, teams, channels } = ctx.directory;
  fillSelect($(".filters [name=inbox]"), "All inboxes", inboxes.map((i) => [i.id, i.name]));
  fillSelect($(".filters [name=team]"), "Any team", teams.map((t) => [t.id, t.name]));
  fillSelect(
    $(".filters [name=channel]"),
    "Any channel",
    channels.map((c) => [c.id, `${c.name} (${c.kind})`]),
  );
}

/// Replaces a filter's choices, keeping the chosen one when it still exists.
function fillSelect(select, anyLabel, choices) {
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "" }, anyLabel),
    ...choices.map(([value, label]) => el("option", { value }, label)),
  );
  select.value = choices.some(([value]) => value === chosen) ? chosen : "";
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
    for (const [client_id, frame] of state.outbox) {
      if (frame.conversation_id === conversation.id) showPending(client_id, frame);
    }
    state.visitorOnline = false;
    showTyping(null);
    compose.switchTo(conversation.id);
  }
  state.current = conversation;
  $("#view-inbox").classList.add("has-thread");
  $(".thread-empty").hidden = true;
  $(".thread-body").hidden = false;
  renderHead();
  renderList();
  subscribe();
  showContact($(".contact-pane"), conversation);
  renderVisitor();
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
  $('[data-status="open"]').textContent = conversation.status === "closed" ? "Reopen" : "Open";
  $(".assign-me").hidden = conversation.assignee_id === ctx.agent.id;
  $(".assign-to").value = conversation.assignee_id
    ? `agent:${conversation.assignee_id}`
    : conversation.team_id
      ? `team:${conversation.team_id}`
      : "";
}

/// The reassignment menu: nobody, each active agent, each team.
function renderAssignChoices() {
  const agents = ctx.directory.agents.filter((a) => a.active !== false);
  $(".assign-to").replaceChildren(
    el("option", { value: "" }, "Nobody"),
    el(
      "optgroup",
      { label: "Agents" },
      agents.map((a) => el("option", { value: `agent:${a.id}` }, a.profile?.display_name || a.email)),
    ),
    el(
      "optgroup",
      { label: "Teams" },
      ctx.directory.teams.map((t) => el("option", { value: `team:${t.id}` }, t.name)),
    ),
  );
}

function renderVisitor() {
  const label = $(".visitor-label");
  label.textContent = state.visitorOnline ? "Visitor online" : "Visitor offline";
  label.classList.toggle("online", state.visitorOnline);
}

function showTyping(text) {
  clearTimeout(state.typingTimer);
  $(".typing").textContent = text ?? "";
  if (text) state.typingTimer = setTimeout(() => showTyping(null), TYPING_SHOWN_MS);
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
  if (item.kind === "message" || item.kind === "comment") {
    li.className =
      item.kind === "comment" ? "comment" : `message ${item.direction === "out" ? "out" : "in"}`;
    li.append(
      el("span", { class: "body" }, item.body ?? ""),
      el("span", { class: "byline" }, bylineOf(item)),
    );
    if (item.delivery_status === "failed") {
      li.classList.add("failed");
      li.title = item.delivery_error ? `Not delivered: ${item.delivery_error}` : "Not delivered";
    }
  } else {
    li.className = "event";
    li.textContent = describeEvent(item);
  }
  return li;
}

/// Who wrote it, when, and for outbound messages whether it went out.
function bylineOf(item) {
  const author = item.author ?? {};
  const who =
    author.type === "agent"
      ? agentName(author.id)
      : author.type === "contact"
        ? "Visitor"
        : author.type === "bot"
          ? "Bot"
          : "Parley";
  const parts = [who, formatTime(item.created_at)];
  if (item.kind === "message" && item.direction === "out") {
    const status = item.delivery_status;
    if (status === "failed") parts.push(`not delivered${item.delivery_error ? `: ${item.delivery_error}` : ""}`);
    else if (status === "pending") parts.push("sending");
    else parts.push("sent");
  }
  return parts.filter(Boolean).join(" · ");
}

function describeEvent(item) {
  const data = item.data ?? {};
  switch (data.type) {
    case "status_changed":
      return `Status changed from ${data.from} to ${data.to}`;
    case "assigned":
      if (data.assignee_id) return `Assigned to ${agentName(data.assignee_id)}`;
      if (data.team_id) return `Handed to ${teamName(data.team_id)}`;
      return "Unassigned";
    default:
      return String(data.type ?? item.kind ?? "event").replaceAll("_", " ");
  }
}

function showPending(client_id, frame) {
  const note = frame.type === "comment";
  const li = el(
    "li",
    {
      class: `${note ? "comment" : "message out"} pending`,
      dataset: { clientId: client_id },
      title: "Sending…",
    },
    el("span", { class: "body" }, frame.body),
  );
  $(".items").append(li);
  $(".items").scrollTop = $(".items").scrollHeight;
}

function pendingItem(client_id) {
  return $$(".items [data-client-id]").find((n) => n.dataset.clientId === client_id);
}

function removePending(client_id) {
  pendingItem(client_id)?.remove();
}

/// Sends what the compose box wrote: a reply (`send`) or an internal note (`comment` with the
/// agents it mentions). Kept in the outbox until acked; sent now if the socket is up, else on
/// the next `hello`.
function onSend({ note, body, mentions }) {
  if (!state.current) return;
  const client_id = uuid();
  const frame = note
    ? { type: "comment", conversation_id: state.current.id, body, mentions }
    : { type: "send", conversation_id: state.current.id, body };
  state.outbox.set(client_id, frame);
  saveOutbox();
  showPending(client_id, frame);
  ctx.socket.send({ ...frame, client_id });
}

async function setStatus(status) {
  await change(`/conversations/${state.current.id}/status`, { status });
}

async function onAssignTo(event) {
  const [kind, id] = event.target.value.split(":");
  await change(`/conversations/${state.current.id}/assign`, {
    assignee_id: kind === "agent" ? id : null,
    team_id: kind === "team" ? id : kind === "agent" ? (state.current.team_id ?? null) : null,
  });
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
