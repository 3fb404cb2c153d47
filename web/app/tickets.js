// The tickets view: the account's tickets (those of the agent's inboxes) with filters by stage,
// priority and owner, and the open ticket (`#/tickets/{id}`) whose title, stage, priority and
// owner can be changed, with ways back to its source conversation and its contact.
//
// Tickets have no socket frames: the list is loaded when the view is shown, after each change,
// and after a reconnect. The contact sidebar (contact.js) creates tickets and shows them too;
// both tell each other of a changed ticket through a `ticket` event on `ctx.frames`.

import { api } from "./api.js";
import { agentName, ctx, emitFrame, go, inboxName, onFrame } from "./context.js";
import { $, el, formatTime } from "./ui.js";

export const STAGES = [
  ["new", "New"],
  ["waiting_on_contact", "Waiting on contact"],
  ["waiting_on_us", "Waiting on us"],
  ["closed", "Closed"],
];
export const PRIORITIES = [
  ["low", "Low"],
  ["medium", "Medium"],
  ["high", "High"],
  ["urgent", "Urgent"],
];

export function stageLabel(stage) {
  return STAGES.find(([value]) => value === stage)?.[1] ?? stage;
}

export function priorityLabel(priority) {
  return PRIORITIES.find(([value]) => value === priority)?.[1] ?? priority;
}

/// Agents who may own a ticket of `inboxId`: active admins and active members of the inbox.
export function eligibleOwners(inboxId) {
  const inbox = ctx.directory.inboxes.find((i) => i.id === inboxId);
  return ctx.directory.agents
    .filter((a) => a.active && (a.role === "admin" || inbox?.member_ids?.includes(a.id)))
    .sort((a, b) => personName(a).localeCompare(personName(b)));
}

export function personName(agent) {
  return agent.profile?.display_name || agent.email;
}

/// Tells every view that a ticket was created or changed.
export function announceTicket(ticket) {
  emitFrame({ type: "ticket", ticket });
}

/// An `<option>` list for a `<select>`, with `current` selected.
export function options(pairs, current) {
  return pairs.map(([value, label]) => el("option", { value, selected: value === current }, label));
}

const PAGE_SIZE = 50;

const state = {
  tickets: [],
  next: null,
  current: null, // the open ticket
  contact: null, // the open ticket's contact, when known
  loading: 0, // increases with each list load, so a slow answer never replaces a newer one
  opening: 0, // the same for opening a ticket
};

// --- view lifecycle ------------------------------------------------------------------------

export function mount() {
  const filter = (name, label, pairs) =>
    el(
      "label",
      {},
      label,
      el(
        "select",
        { name, onchange: () => loadList() },
        el("option", { value: "" }, "Any"),
        options(pairs),
      ),
    );
  $("#view-tickets").replaceChildren(
    el(
      "div",
      { class: "tickets-layout" },
      el(
        "div",
        { class: "tickets-list-pane" },
        el("h2", { class: "tickets-heading" }, "Tickets"),
        el(
          "div",
          { class: "ticket-filters", role: "group", "aria-label": "Ticket filters" },
          filter("ticket-stage", "Stage", STAGES),
          filter("ticket-priority", "Priority", PRIORITIES),
          el(
            "label",
            {},
            "Owner",
            el(
              "select",
              { name: "ticket-owner", onchange: () => loadList() },
              el("option", { value: "" }, "Anyone"),
              el("option", { value: "me" }, "Me"),
              el("option", { value: "nobody" }, "Nobody (unassigned)"),
            ),
          ),
        ),
        el("p", { class: "error ticket-list-error", role: "alert" }),
        el("ul", { class: "ticket-list", "aria-label": "Tickets" }),
        el("p", { class: "empty ticket-list-empty", hidden: true }, "No tickets match these filters."),
        el(
          "button",
          { type: "button", class: "ticket-more", hidden: true, onclick: () => loadList(true) },
          "Show more tickets",
        ),
      ),
      el("section", { class: "ticket-detail", "aria-label": "Ticket" }),
    ),
  );
  renderDetail();
  onFrame("up", () => visible() && loadList());
  onFrame("directory", () => {
    renderList();
    renderDetail();
  });
  onFrame("ticket", ({ ticket }) => {
    // A change made here is already shown (and re-rendering would lose the focus).
    if (ticket.id === state.current?.id && ticket !== state.current) {
      state.current = ticket;
      renderDetail();
    }
    if (visible()) loadList();
  });
}

export function enter() {}

export function leave() {
  Object.assign(state, { tickets: [], next: null, current: null, contact: null });
  state.loading++;
  state.opening++;
  for (const select of document.querySelectorAll(".ticket-filters select")) select.value = "";
  $(".ticket-list").replaceChildren();
  $(".ticket-list-error").textContent = "";
  renderDetail();
}

/// `#/tickets` or `#/tickets/{ticket id}`.
export function show([ticketId] = []) {
  loadList();
  if (!ticketId) {
    state.opening++;
    state.current = null;
    state.contact = null;
    renderDetail();
    return;
  }
  if (ticketId !== state.current?.id) openTicket(ticketId);
}

/// The shell hides the section without telling the view; hidden, the list is not reloaded.
function visible() {
  return !$("#view-tickets").hidden;
}

// --- list ----------------------------------------------------------------------------------

async function loadList(more = false) {
  if (!ctx.agent) return;
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const stage = $("[name=ticket-stage]").value;
  const priority = $("[name=ticket-priority]").value;
  const owner = $("[name=ticket-owner]").value;
  if (stage) query.set("stage", stage);
  if (priority) query.set("priority", priority);
  if (owner === "me") query.set("owner_id", ctx.agent.id);
  if (owner === "nobody") query.set("unowned", "true");
  if (more && state.next) query.set("after", state.next);
  const mine = ++state.loading;
  try {
    const page = await api("GET", `/tickets?${query}`);
    if (mine !== state.loading) return;
    state.tickets = more ? [...state.tickets, ...page.items] : page.items;
    state.next = page.next ?? null;
    $(".ticket-list-error").textContent = "";
    renderList();
  } catch (e) {
    if (mine !== state.loading) return;
    $(".ticket-list-error").textContent = `The tickets could not be loaded: ${e.message}`;
  }
}

function renderList() {
  const list = $(".ticket-list");
  if (!list) return;
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
  list.replaceChildren(
    ...state.tickets.map((ticket) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "ticket-row",
            dataset: { id: ticket.id },
            "aria-current": ticket.id === state.current?.id ? "true" : null,
            onclick: () => go("tickets", ticket.id),
          },
          el("span", { class: "ticket-row-title" }, ticket.title),
          el(
            "span",
            { class: "ticket-row-meta" },
            `${stageLabel(ticket.stage)} · ${priorityLabel(ticket.priority)} · ${ownerText(ticket)}`,
          ),
        ),
      ),
    ),
  );
  $(".ticket-list-empty").hidden = state.tickets.length > 0;
  $(".ticket-more").hidden = !state.next;
  if (focused) list.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus();
}

function ownerText(ticket) {
  return ticket.owner_id ? `owned by ${agentName(ticket.owner_id)}` : "no owner";
}

// --- the open ticket -----------------------------------------------------------------------

async function openTicket(id) {
  const mine = ++state.opening;
  state.current = null;
  state.contact = null;
  renderDetail("Opening the ticket…");
  try {
    const ticket = await api("GET", `/tickets/${encodeURIComponent(id)}`);
    if (mine !== state.opening) return;
    state.current = ticket;
    renderDetail();
    renderList();
    $(".ticket-detail h2")?.focus();
    if (ticket.contact_id) {
      const contact = await api("GET", `/contacts/${ticket.contact_id}`);
      if (mine !== state.opening) return;
      state.contact = contact;
      renderDetail();
    }
  } catch (e) {
    if (mine !== state.opening) return;
    if (state.current) {
      // The ticket is shown; only its contact is missing.
      $(".ticket-contact-text").textContent = `The contact could not be loaded: ${e.message}`;
      return;
    }
    renderDetail(`That ticket could not be opened: ${e.message}`, true);
  }
}

/// Shows the open ticket, or `message` (an error when `failed`), or the "pick one" hint.
function renderDetail(message = "", failed = false) {
  const pane = $(".ticket-detail");
  if (!pane) return;
  const ticket = state.current;
  if (!ticket) {
    pane.replaceChildren(
      el(
        "p",
        { class: failed ? "error" : "empty", role: failed ? "alert" : null },
        message || "Pick a ticket to see and change it.",
      ),
    );
    return;
  }
  const status = el("p", { class: "ticket-status", role: "status" });
  const field = (label, name, pairs, current, toBody) =>
    el(
      "label",
      { class: "ticket-field" },
      label,
      el(
        "select",
        {
          name,
          onchange: (event) => change(toBody(event.target.value), status, event.target),
        },
        options(pairs, current),
      ),
    );
  const owners = eligibleOwners(ticket.inbox_id).map((a) => [a.id, personName(a)]);
  if (ticket.owner_id && !owners.some(([id]) => id === ticket.owner_id)) {
    owners.push([ticket.owner_id, agentName(ticket.owner_id)]);
  }
  pane.replaceChildren(
    el("h2", { class: "ticket-title", tabindex: "-1" }, ticket.title),
    el(
      "p",
      { class: "ticket-meta" },
      `${inboxName(ticket.inbox_id)} · created ${formatTime(ticket.created_at)} · changed ${formatTime(ticket.updated_at)}`,
    ),
    el(
      "div",
      { class: "ticket-fields" },
      field("Stage", "ticket-stage-value", STAGES, ticket.stage, (stage) => ({ stage })),
      field("Priority", "ticket-priority-value", PRIORITIES, ticket.priority, (priority) => ({
        priority,
      })),
      field("Owner", "ticket-owner-value", [["", "Nobody"], ...owners], ticket.owner_id ?? "", (id) => ({
        owner_id: id || null,
      })),
    ),
    renameForm(ticket, status),
    status,
    el(
      "dl",
      { class: "ticket-links" },
      el("dt", {}, "Conversation"),
      el(
        "dd",
        {},
        ticket.conversation_id
          ? el(
              "button",
              {
                type: "button",
                class: "ticket-conversation",
                onclick: () => go("inbox", ticket.conversation_id),
              },
              "Open the source conversation",
            )
          : "The source conversation no longer exists.",
      ),
      el("dt", {}, "Contact"),
      el("dd", {}, contactPart(ticket)),
    ),
  );
}

function contactPart(ticket) {
  if (!ticket.contact_id) return "No contact.";
  const contact = state.contact;
  const text = el(
    "span",
    { class: "ticket-contact-text" },
    contact
      ? [contact.name, contact.email, contact.phone].filter(Boolean).join(" · ") ||
          "An anonymous visitor"
      : "Loading…",
  );
  if (!ticket.conversation_id) return text;
  // The contact's details live in the sidebar of their conversation.
  return [
    text,
    " ",
    el(
      "button",
      {
        type: "button",
        class: "ticket-contact",
        onclick: () => go("inbox", ticket.conversation_id),
      },
      "Show the contact",
    ),
  ];
}

function renameForm(ticket, status) {
  const input = el("input", {
    name: "ticket-title",
    value: ticket.title,
    required: true,
    maxlength: "120",
    "aria-label": "Ticket title",
  });
  return el(
    "form",
    {
      class: "ticket-rename",
      onsubmit: (event) => {
        event.preventDefault();
        const title = input.value.trim();
        if (title && title !== ticket.title) change({ title }, status, input);
      },
    },
    el("label", { class: "ticket-field" }, "Title", input),
    el("button", { type: "submit" }, "Rename"),
  );
}

/// Sends a change of the open ticket; says in `status` what happened. A refused change puts
/// the control back to the stored value.
async function change(body, status, control) {
  const ticket = state.current;
  status.classList.remove("error");
  status.textContent = "Saving…";
  try {
    const changed = await api("PATCH", `/tickets/${ticket.id}`, body);
    if (state.current?.id !== changed.id) return;
    state.current = changed;
    const focusedName = document.activeElement?.name;
    renderDetail();
    const said = $(".ticket-detail .ticket-status");
    said.textContent = describeChange(body, changed);
    if (focusedName) $(`.ticket-detail [name="${focusedName}"]`)?.focus();
    announceTicket(changed);
  } catch (e) {
    status.classList.add("error");
    status.setAttribute("role", "alert");
    status.textContent = `That change was not saved: ${e.message}`;
    if (control) {
      const key = Object.keys(body)[0];
      control.value = (key === "owner_id" ? ticket.owner_id : ticket[key]) ?? "";
    }
  }
}

function describeChange(body, ticket) {
  if ("stage" in body) return `Stage changed to ${stageLabel(ticket.stage)}.`;
  if ("priority" in body) return `Priority changed to ${priorityLabel(ticket.priority)}.`;
  if ("owner_id" in body) {
    return ticket.owner_id ? `Now owned by ${agentName(ticket.owner_id)}.` : "Nobody owns it now.";
  }
  return "Renamed.";
}
