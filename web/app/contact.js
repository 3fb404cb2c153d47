// The contact sidebar of the open conversation: who the contact is (name, email, phone, custom
// properties), their owner, their tickets, and their other conversations; an agent edits the
// details in place, turns an anonymous visitor into a contact record, and creates a ticket from
// the conversation.
//
// An anonymous visitor's contact has no email, name or phone. "Create a contact record" gives it
// those (`PATCH /contacts/{id}`). When the email typed belongs to another contact, the agent is
// offered a merge into that contact (`POST /contacts/{other}/merge`): the existing record is
// kept with its details, the visitor's conversations and tickets move to it, and what was typed
// only fills the fields it lacks. The conversation's `contact_id` changes with the merge, so a
// contact gone (404) is looked up again through the conversation.
//
// Every render replaces the pane's children; user content only ever becomes text.

import { api } from "./api.js";
import { agentName, ctx, go, inboxName, onFrame } from "./context.js";
import {
  PRIORITIES,
  announceTicket,
  options,
  personName,
  priorityLabel,
  stageLabel,
} from "./tickets.js";
import { el, formatTime } from "./ui.js";

/// Other conversations and tickets shown, newest first.
const LIST_LIMIT = 50;

/// What the widget stores when a visitor gives an email another contact holds.
const GIVEN_EMAIL = "given_email";

/// The sidebar shown, or null. Each `showContact` replaces it; answers for an older one are
/// dropped.
let shown = null;

/// Shows the sidebar of `conversation` in `pane` (an <aside>), replacing what was there.
export async function showContact(pane, conversation) {
  const again = shown?.pane === pane && shown.conversation.id === conversation.id;
  shown = {
    pane,
    conversation,
    contact: again ? shown.contact : null,
    tickets: null,
    conversations: null,
    more: { tickets: false, conversations: false },
    editing: false,
    creatingTicket: false,
    notice: "",
  };
  pane.dataset.conversationId = conversation.id;
  if (!again) pane.replaceChildren(el("p", { class: "empty" }, "Loading the contact…"));
  await load(shown);
}

/// Empties the sidebar (logout, no conversation open).
export function clearContact(pane) {
  if (shown?.pane === pane) shown = null;
  pane.replaceChildren();
  delete pane.dataset.conversationId;
}

onFrame("directory", () => {
  if (shown && !shown.editing && !shown.creatingTicket && shown.contact) render(shown);
});

onFrame("ticket", ({ ticket }) => {
  if (!shown?.tickets || ticket.contact_id !== shown.contact?.id) return;
  const at = shown.tickets.findIndex((t) => t.id === ticket.id);
  if (at >= 0) shown.tickets[at] = ticket;
  else shown.tickets.unshift(ticket);
  if (!shown.editing && !shown.creatingTicket) render(shown);
});

// --- loading -------------------------------------------------------------------------------

async function load(view) {
  try {
    view.contact = await contactOf(view);
  } catch (e) {
    if (view !== shown) return;
    view.pane.replaceChildren(
      heading("Contact"),
      el("p", { class: "error", role: "alert" }, `The contact could not be loaded: ${e.message}`),
      el("button", { type: "button", onclick: () => load(view) }, "Try again"),
    );
    return;
  }
  if (view !== shown) return;
  const id = view.contact.id;
  const [tickets, conversations] = await Promise.allSettled([
    api("GET", `/tickets?contact_id=${id}&limit=${LIST_LIMIT}`),
    api("GET", `/conversations?contact_id=${id}&limit=${LIST_LIMIT}`),
  ]);
  if (view !== shown) return;
  view.tickets = listOrError(tickets);
  view.conversations = listOrError(conversations);
  view.more = {
    tickets: Boolean(tickets.value?.next),
    conversations: Boolean(conversations.value?.next),
  };
  render(view);
}

/// The conversation's contact; after a merge the conversation names another one.
async function contactOf(view) {
  try {
    return await api("GET", `/contacts/${view.conversation.contact_id}`);
  } catch (e) {
    if (e.status !== 404) throw e;
    view.conversation = await api("GET", `/conversations/${view.conversation.id}`);
    return api("GET", `/contacts/${view.conversation.contact_id}`);
  }
}

function listOrError(settled) {
  return settled.status === "fulfilled" ? settled.value.items : settled.reason;
}

// --- rendering -----------------------------------------------------------------------------

function heading(text) {
  return el("h2", { class: "contact-name", tabindex: "-1" }, text);
}

function isAnonymous(contact) {
  return !contact.email && !contact.name && !contact.phone;
}

/// What an agent would call the contact.
export function contactLabel(contact) {
  return contact.name || contact.email || contact.phone || "Anonymous visitor";
}

function render(view) {
  const { contact } = view;
  view.pane.replaceChildren(
    heading(contactLabel(contact)),
    el(
      "p",
      { class: "contact-since" },
      `Contact since ${formatTime(contact.created_at)}`,
    ),
    el("p", { class: "contact-notice", role: "status" }, view.notice),
    view.editing ? editForm(view) : details(view),
    ownerField(view),
    ticketsSection(view),
    conversationsSection(view),
  );
}

function details(view) {
  const { contact } = view;
  const rows = [];
  const row = (label, value, extra) =>
    rows.push(el("dt", {}, label), el("dd", {}, String(value), extra ?? null));
  if (contact.email) {
    row(
      "Email",
      contact.email,
      contact.email_unverified
        ? el("span", { class: "contact-unverified" }, " (typed by the visitor, unverified)")
        : null,
    );
  }
  if (contact.phone) row("Phone", contact.phone);
  for (const [key, value] of Object.entries(contact.properties ?? {})) {
    row(key === GIVEN_EMAIL ? "Email the visitor gave" : key, value);
  }
  const anonymous = isAnonymous(contact);
  return el(
    "section",
    { class: "contact-details", "aria-label": "Contact details" },
    anonymous
      ? el(
          "p",
          { class: "empty contact-anonymous" },
          "An anonymous visitor: nobody knows yet who they are.",
        )
      : null,
    rows.length ? el("dl", { class: "contact-props" }, rows) : null,
    !anonymous && rows.length === 0 ? el("p", { class: "empty" }, "No other details.") : null,
    el(
      "button",
      {
        type: "button",
        class: anonymous ? "contact-create primary" : "contact-edit",
        onclick: () => startEditing(view),
      },
      anonymous ? "Create a contact record" : "Edit details",
    ),
  );
}

function startEditing(view) {
  view.editing = true;
  view.notice = "";
  render(view);
  view.pane.querySelector(".contact-form input")?.focus();
}

function stopEditing(view, notice = "") {
  view.editing = false;
  view.notice = notice;
  render(view);
  view.pane.querySelector(".contact-edit, .contact-create")?.focus();
}

// --- editing -------------------------------------------------------------------------------

function editForm(view) {
  const { contact } = view;
  const anonymous = isAnonymous(contact);
  const given = contact.properties?.[GIVEN_EMAIL];
  const input = (label, name, type, value) =>
    el(
      "label",
      { class: "contact-field" },
      label,
      el("input", { name, type, value: value ?? "", autocomplete: "off" }),
    );
  const properties = Object.entries(contact.properties ?? {}).map(([key, value]) =>
    el(
      "div",
      { class: "contact-property" },
      el(
        "label",
        { class: "contact-field" },
        key,
        el("input", { name: "property", dataset: { key }, value: String(value) }),
      ),
      el(
        "button",
        {
          type: "button",
          class: "contact-remove",
          "aria-label": `Remove ${key}`,
          onclick: (event) => {
            const field = event.target.closest(".contact-property").querySelector("input");
            field.value = "";
            field.focus();
          },
        },
        "Clear",
      ),
    ),
  );
  const error = el("p", { class: "error contact-form-error", role: "alert" });
  const merge = el("div", { class: "contact-merge", hidden: true });
  return el(
    "form",
    {
      class: "contact-form",
      "aria-label": anonymous ? "Create a contact record" : "Edit contact",
      onsubmit: (event) => {
        event.preventDefault();
        save(view, event.target, error, merge);
      },
      onkeydown: (event) => event.key === "Escape" && stopEditing(view),
    },
    el("h3", {}, anonymous ? "Create a contact record" : "Edit details"),
    input("Name", "name", "text", contact.name),
    input("Email", "email", "email", contact.email ?? (anonymous ? given : "")),
    input("Phone", "phone", "tel", contact.phone),
    properties.length ? el("h4", {}, "Properties") : null,
    properties,
    el(
      "fieldset",
      { class: "contact-new-property" },
      el("legend", {}, "Add a property"),
      el(
        "label",
        { class: "contact-field" },
        "Name (a-z, 0-9, _)",
        el("input", { name: "new-key", pattern: "[a-z0-9_]{1,64}", autocomplete: "off" }),
      ),
      el("label", { class: "contact-field" }, "Value", el("input", { name: "new-value" })),
    ),
    el("p", { class: "contact-hint" }, "An emptied field or property is removed."),
    error,
    merge,
    el(
      "div",
      { class: "contact-buttons" },
      el("button", { type: "submit", class: "primary" }, "Save"),
      el("button", { type: "button", onclick: () => stopEditing(view) }, "Cancel"),
    ),
  );
}

/// The changes the form holds, as a PATCH body (only what differs from the stored contact).
function patchOf(contact, form) {
  const patch = {};
  for (const name of ["name", "email", "phone"]) {
    const value = form.elements[name].value.trim() || null;
    if (value !== (contact[name] ?? null)) patch[name] = value;
  }
  const properties = {};
  for (const field of form.querySelectorAll("[name=property]")) {
    const key = field.dataset.key;
    const before = contact.properties[key];
    const text = field.value.trim();
    if (text === String(before)) continue;
    properties[key] = text === "" ? null : typed(text, before);
  }
  const key = form.elements["new-key"].value.trim();
  const value = form.elements["new-value"].value.trim();
  if (key && value) properties[key] = value;
  if (Object.keys(properties).length) patch.properties = properties;
  return patch;
}

/// Keeps a number a number and true/false a boolean when the agent edits one.
function typed(text, before) {
  if (typeof before === "number" && text !== "" && Number.isFinite(Number(text))) {
    return Number(text);
  }
  if (typeof before === "boolean" && (text === "true" || text === "false")) return text === "true";
  return text;
}

async function save(view, form, error, merge) {
  error.textContent = "";
  merge.hidden = true;
  const key = form.elements["new-key"].value.trim();
  if (key && !form.elements["new-value"].value.trim()) {
    error.textContent = `Give the property "${key}" a value, or empty its name.`;
    form.elements["new-value"].focus();
    return;
  }
  const patch = patchOf(view.contact, form);
  if (!Object.keys(patch).length) {
    stopEditing(view, "Nothing changed.");
    return;
  }
  const anonymous = isAnonymous(view.contact);
  const button = form.querySelector("[type=submit]");
  button.disabled = true;
  try {
    view.contact = await api("PATCH", `/contacts/${view.contact.id}`, patch);
    if (view !== shown) return;
    stopEditing(view, anonymous ? "Contact record created." : "Details saved.");
  } catch (e) {
    if (view !== shown) return;
    if (e.status === 409 && patch.email) {
      await offerMerge(view, patch, error, merge);
    } else {
      error.textContent = `Not saved: ${e.message}`;
    }
  } finally {
    button.disabled = false;
  }
}

/// The email typed belongs to another contact: offers to merge this one into it.
async function offerMerge(view, patch, error, merge) {
  let other;
  try {
    const page = await api("GET", `/contacts?email=${encodeURIComponent(patch.email)}&limit=1`);
    other = page.items[0];
  } catch (e) {
    error.textContent = `${patch.email} belongs to another contact, which could not be looked up: ${e.message}`;
    return;
  }
  if (!other) {
    error.textContent = `Not saved: another contact has the email ${patch.email}.`;
    return;
  }
  const label = contactLabel(other);
  error.textContent = `${patch.email} already belongs to ${label}.`;
  merge.replaceChildren(
    el(
      "p",
      {},
      `Merge this record into ${label}? Its conversations and tickets move to ${label}, ` +
        "whose details are kept; what you typed only fills the details it lacks. " +
        "This record is then deleted.",
    ),
    el(
      "button",
      {
        type: "button",
        class: "contact-merge-confirm primary",
        onclick: () => mergeInto(view, other, patch, error),
      },
      `Merge into ${label}`,
    ),
    el(
      "button",
      {
        type: "button",
        onclick: () => {
          merge.hidden = true;
          error.textContent = "";
          view.pane.querySelector(".contact-form [name=email]")?.focus();
        },
      },
      "Keep separate",
    ),
  );
  merge.hidden = false;
  merge.querySelector(".contact-merge-confirm").focus();
}

async function mergeInto(view, other, patch, error) {
  try {
    let kept = await api("POST", `/contacts/${other.id}/merge`, { merged_id: view.contact.id });
    const fill = {};
    for (const name of ["name", "phone"]) {
      if (patch[name] && !kept[name]) fill[name] = patch[name];
    }
    const properties = Object.fromEntries(
      Object.entries(patch.properties ?? {}).filter(
        ([key, value]) => value !== null && !(key in kept.properties),
      ),
    );
    if (Object.keys(properties).length) fill.properties = properties;
    if (Object.keys(fill).length) kept = await api("PATCH", `/contacts/${kept.id}`, fill);
    if (view !== shown) return;
    view.conversation = { ...view.conversation, contact_id: kept.id };
    view.contact = kept;
    view.editing = false;
    view.notice = `Merged into ${contactLabel(kept)}.`;
    await load(view);
    view.pane.querySelector(".contact-name")?.focus();
  } catch (e) {
    if (view === shown) error.textContent = `The merge was not made: ${e.message}`;
  }
}

// --- owner ---------------------------------------------------------------------------------

function ownerField(view) {
  const { contact } = view;
  const agents = ctx.directory.agents
    .filter((a) => a.active)
    .sort((a, b) => personName(a).localeCompare(personName(b)))
    .map((a) => [a.id, personName(a)]);
  if (contact.owner_id && !agents.some(([id]) => id === contact.owner_id)) {
    agents.push([contact.owner_id, agentName(contact.owner_id)]);
  }
  const status = el("span", { class: "contact-owner-status", role: "status" });
  const select = el(
    "select",
    {
      name: "contact-owner",
      onchange: async () => {
        status.classList.remove("error");
        status.textContent = "Saving…";
        try {
          view.contact = await api("PATCH", `/contacts/${contact.id}`, {
            owner_id: select.value || null,
          });
          status.textContent = view.contact.owner_id
            ? `Owner is now ${agentName(view.contact.owner_id)}.`
            : "Nobody owns this contact now.";
        } catch (e) {
          select.value = view.contact.owner_id ?? "";
          status.classList.add("error");
          status.textContent = `The owner was not changed: ${e.message}`;
        }
      },
    },
    options([["", "Nobody"], ...agents], contact.owner_id ?? ""),
  );
  return el(
    "section",
    { class: "contact-owner", "aria-label": "Owner" },
    el("label", { class: "contact-field" }, "Owner", select),
    status,
  );
}

function newest() {
  return el("p", { class: "contact-hint" }, `Showing the ${LIST_LIMIT} newest.`);
}

// --- tickets -------------------------------------------------------------------------------

function ticketsSection(view) {
  const section = el(
    "section",
    { class: "contact-tickets", "aria-labelledby": "contact-tickets-heading" },
    el("h3", { id: "contact-tickets-heading" }, "Tickets"),
  );
  if (view.tickets instanceof Error) {
    section.append(
      el("p", { class: "error" }, `The tickets could not be loaded: ${view.tickets.message}`),
    );
  } else if (view.tickets?.length) {
    section.append(
      el(
        "ul",
        { class: "contact-list" },
        view.tickets.map((ticket) =>
          el(
            "li",
            {},
            el(
              "button",
              {
                type: "button",
                class: "contact-ticket",
                dataset: { id: ticket.id },
                onclick: () => go("tickets", ticket.id),
              },
              el("span", { class: "contact-item-title" }, ticket.title),
              el(
                "span",
                { class: "contact-item-meta" },
                `${stageLabel(ticket.stage)} · ${priorityLabel(ticket.priority)}` +
                  (ticket.conversation_id === view.conversation.id ? " · from this conversation" : ""),
              ),
            ),
          ),
        ),
      ),
    );
    if (view.more.tickets) section.append(newest());
  } else {
    section.append(el("p", { class: "empty" }, "No tickets yet."));
  }
  section.append(view.creatingTicket ? ticketForm(view) : createTicketButton(view));
  return section;
}

function createTicketButton(view) {
  return el(
    "button",
    {
      type: "button",
      class: "contact-new-ticket",
      onclick: () => {
        view.creatingTicket = true;
        view.notice = "";
        render(view);
        view.pane.querySelector(".contact-ticket-form input")?.focus();
      },
    },
    "Create ticket",
  );
}

function ticketForm(view) {
  const error = el("p", { class: "error", role: "alert" });
  const cancel = () => {
    view.creatingTicket = false;
    render(view);
    view.pane.querySelector(".contact-new-ticket")?.focus();
  };
  return el(
    "form",
    {
      class: "contact-ticket-form",
      "aria-label": "Create a ticket from this conversation",
      onkeydown: (event) => event.key === "Escape" && cancel(),
      onsubmit: async (event) => {
        event.preventDefault();
        const form = event.target;
        const title = form.elements.title.value.trim();
        const body = { conversation_id: view.conversation.id, priority: form.elements.priority.value };
        if (title) body.title = title;
        const button = form.querySelector("[type=submit]");
        button.disabled = true;
        error.textContent = "";
        try {
          const ticket = await api("POST", "/tickets", body);
          if (view !== shown) return;
          view.creatingTicket = false;
          if (!Array.isArray(view.tickets)) view.tickets = [];
          // The sidebar's own listener puts it in the list.
          announceTicket(ticket);
          if (!view.tickets.some((t) => t.id === ticket.id)) view.tickets.unshift(ticket);
          view.notice = `Ticket "${ticket.title}" created.`;
          render(view);
          view.pane.querySelector(`.contact-ticket[data-id="${CSS.escape(ticket.id)}"]`)?.focus();
        } catch (e) {
          error.textContent = `The ticket was not created: ${e.message}`;
          button.disabled = false;
        }
      },
    },
    el(
      "label",
      { class: "contact-field" },
      "Title",
      el("input", {
        name: "title",
        maxlength: "120",
        placeholder: view.conversation.subject || "The conversation's subject",
      }),
    ),
    el(
      "label",
      { class: "contact-field" },
      "Priority",
      el("select", { name: "priority" }, options(PRIORITIES, "medium")),
    ),
    error,
    el(
      "div",
      { class: "contact-buttons" },
      el("button", { type: "submit", class: "primary" }, "Create"),
      el("button", { type: "button", onclick: cancel }, "Cancel"),
    ),
  );
}

// --- other conversations -------------------------------------------------------------------

function conversationsSection(view) {
  const section = el(
    "section",
    { class: "contact-conversations", "aria-labelledby": "contact-conversations-heading" },
    el("h3", { id: "contact-conversations-heading" }, "Previous conversations"),
  );
  if (view.conversations instanceof Error) {
    section.append(
      el(
        "p",
        { class: "error" },
        `The other conversations could not be loaded: ${view.conversations.message}`,
      ),
    );
    return section;
  }
  const others = (view.conversations ?? []).filter((c) => c.id !== view.conversation.id);
  if (!others.length) {
    section.append(el("p", { class: "empty" }, "No other conversations."));
    return section;
  }
  section.append(
    el(
      "ul",
      { class: "contact-list" },
      others.map((conversation) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "contact-conversation",
              dataset: { id: conversation.id },
              onclick: () => go("inbox", conversation.id),
            },
            el(
              "span",
              { class: "contact-item-title" },
              conversation.subject || `Conversation ${conversation.id.slice(-6)}`,
            ),
            el(
              "span",
              { class: "contact-item-meta" },
              `${conversation.status} · ${inboxName(conversation.inbox_id)} · ${formatTime(conversation.updated_at)}`,
            ),
          ),
        ),
      ),
    ),
  );
  if (view.more.conversations) section.append(newest());
  return section;
}
