// Settings › Channels, the kinds besides website chat: create and edit email channels (IMAP in,
// SMTP out, sender, routing), Messenger pages (with the webhook URL to paste into Facebook)
// and web forms (a fields editor, allowed origins, the embed snippet). Passwords and tokens are
// write-only: the server answers only whether one is set, and an empty input keeps it.

import { api } from "../api.js";
import { go } from "../context.js";
import { el } from "../ui.js";
import {
  agentLabel,
  agentPicker,
  checked,
  copyable,
  field,
  form,
  input,
  lines,
  refreshNames,
  select,
  textarea,
  uid,
} from "./forms.js";

const TLS = [
  ["tls", "TLS (IMAPS 993, SMTPS 465)"],
  ["starttls", "STARTTLS (143, 587)"],
  ["none", "None (local or test servers only)"],
];

const FIELD_KINDS = [
  ["text", "Text"],
  ["email", "Email"],
  ["phone", "Phone"],
  ["number", "Number"],
  ["textarea", "Long text"],
  ["select", "Choice (select)"],
];

/// What the detail page of a channel of `kind` needs besides the channel itself.
export async function loadExtras(channel) {
  if (channel.kind === "form") return { embed: await api("GET", `/channels/${channel.id}/embed`) };
  if (channel.kind === "messenger") {
    return { webhook: await api("GET", `/channels/${channel.id}/webhook`) };
  }
  return {};
}

/// The "add a channel" cards for email, Messenger and forms, each folded until opened.
export function createSections(inboxes, agents) {
  const inboxField = () =>
    field("Inbox", select("inbox_id", inboxes.map((i) => [i.id, i.name]), inboxes[0]?.id));
  const nameField = () => field("Channel name", input("name", "", { required: true }));
  const create = (kind, settingsOf) => async (f) => {
    const channel = await api("POST", "/channels", {
      inbox_id: f.inbox_id.value,
      kind,
      name: f.name.value.trim(),
      settings: settingsOf(f),
    });
    await refreshNames();
    go("settings", "channels", channel.id);
  };
  const fields = fieldsEditor(STARTER_FIELDS);
  return [
    folded(
      "Add an email channel",
      form(
        { submit: "Create email channel", className: "create-email", onSubmit: create("email", (f) => emailSettings(f, false)) },
        inboxField(),
        nameField(),
        emailFields({}, agents, false),
      ),
    ),
    folded(
      "Add a Messenger page",
      form(
        {
          submit: "Create Messenger channel",
          className: "create-messenger",
          onSubmit: create("messenger", (f) => messengerSettings(f, false)),
        },
        inboxField(),
        nameField(),
        messengerFields({}, false),
      ),
    ),
    folded(
      "Add a web form",
      form(
        { submit: "Create form", className: "create-form", onSubmit: create("form", (f) => formSettings(f, fields)) },
        inboxField(),
        field("Form name", input("name", "", { required: true }), {
          hint: "Also the ticket title when the form has no subject field.",
        }),
        fields,
        formOptionFields({}, agents),
      ),
    ),
  ];
}

function folded(title, content) {
  return el("details", { class: "card create-kind" }, el("summary", {}, title), content);
}

/// The editing cards of an email, Messenger or form channel. `onSaved(channel)` gets the
/// answer so the page title and list follow.
export function editSections(channel, inboxes, agents, extras, onSaved) {
  const common = [
    field("Channel name", input("name", channel.name)),
    field("Inbox", select("inbox_id", inboxes.map((i) => [i.id, i.name]), channel.inbox_id)),
  ];
  const save = (settingsOf) => async (f) => {
    const saved = await api("PATCH", `/channels/${channel.id}`, {
      name: f.name.value.trim(),
      inbox_id: f.inbox_id.value,
      settings: settingsOf(f),
    });
    Object.assign(channel, saved);
    // Typed secrets are sent once; the inputs go back to "keep the stored one".
    for (const secret of f.querySelectorAll('input[type="password"]')) secret.value = "";
    refreshSecretHints(f, channel.settings);
    onSaved(channel);
    await refreshNames();
  };
  const s = channel.settings;
  switch (channel.kind) {
    case "email":
      return [
        form(
          { title: "Email channel", className: "edit-channel edit-email", onSubmit: save((f) => emailSettings(f, true)) },
          common,
          emailFields(s, agents, true),
        ),
      ];
    case "messenger":
      return [
        el(
          "section",
          { class: "card webhook" },
          el("h3", {}, "Connect the page in Facebook"),
          el(
            "p",
            { class: "muted" },
            "In your Facebook app's Messenger settings, add this callback URL with the verify token below, and subscribe the page to messages, messaging_postbacks and message_echoes.",
          ),
          copyable("Webhook callback URL", extras.webhook.webhook_url, { className: "webhook-url" }),
        ),
        form(
          { title: "Messenger page", className: "edit-channel edit-messenger", onSubmit: save((f) => messengerSettings(f, true)) },
          common,
          messengerFields(s, true),
        ),
      ];
    case "form": {
      const fields = fieldsEditor(s.fields ?? []);
      return [
        el(
          "section",
          { class: "card embed" },
          el("h3", {}, "Put the form on your site"),
          el(
            "p",
            { class: "muted" },
            "Paste this where the form should appear. Each submission opens a conversation and a ticket in the inbox.",
          ),
          copyable("Form snippet", extras.embed.snippet, { multiline: true, className: "snippet" }),
        ),
        form(
          {
            title: "Web form",
            className: "edit-channel edit-form",
            onSubmit: save((f) => formSettings(f, fields)),
          },
          common,
          fields,
          formOptionFields(s, agents),
        ),
      ];
    }
    default:
      return [];
  }
}

// ----- email -----

function emailFields(s, agents, editing) {
  const port = (name, value, fallback) =>
    input(name, value ?? fallback, { inputmode: "numeric", autocomplete: "off" });
  return [
    el(
      "fieldset",
      { class: "group" },
      el("legend", {}, "Incoming mail (IMAP)"),
      field("IMAP host", input("imap_host", s.imap_host, { autocomplete: "off" }), { field: "settings.imap_host" }),
      field("IMAP port", port("imap_port", s.imap_port, "993"), { field: "settings.imap_port" }),
      field("IMAP security", select("imap_tls", TLS, s.imap_tls ?? "tls"), { field: "settings.imap_tls" }),
      field("IMAP user", input("imap_username", s.imap_username, { autocomplete: "off" }), {
        field: "settings.imap_username",
      }),
      secretField("IMAP password", "imap_password", s, editing, "An app password works too."),
    ),
    el(
      "fieldset",
      { class: "group" },
      el("legend", {}, "Outgoing mail (SMTP)"),
      field("SMTP host", input("smtp_host", s.smtp_host, { autocomplete: "off" }), { field: "settings.smtp_host" }),
      field("SMTP port", port("smtp_port", s.smtp_port, "587"), { field: "settings.smtp_port" }),
      field("SMTP security", select("smtp_tls", TLS, s.smtp_tls ?? "starttls"), { field: "settings.smtp_tls" }),
      field("SMTP user", input("smtp_username", s.smtp_username, { autocomplete: "off" }), {
        field: "settings.smtp_username",
      }),
      secretField("SMTP password", "smtp_password", s, editing),
    ),
    el(
      "fieldset",
      { class: "group" },
      el("legend", {}, "Replies"),
      field("Sender name", input("sender_name", s.sender_name), {
        field: "settings.sender_name",
        hint: "The From name customers see, e.g. Acme Support.",
      }),
      field("Sender address", input("sender_address", s.sender_address, { type: "email" }), {
        field: "settings.sender_address",
      }),
      field("Signature", textarea("signature", s.signature ?? ""), {
        field: "settings.signature",
        hint: "Plain text added under every reply.",
      }),
    ),
    agentPicker("Route incoming mail to", "route_to", agents, s.route_to ?? [], {
      field: "settings.route_to",
    }),
  ];
}

function emailSettings(f, editing) {
  return {
    imap_host: f.imap_host.value.trim(),
    imap_port: portValue(f.imap_port.value),
    imap_tls: f.imap_tls.value,
    imap_username: f.imap_username.value,
    imap_password: secretValue(f.imap_password, editing),
    smtp_host: f.smtp_host.value.trim(),
    smtp_port: portValue(f.smtp_port.value),
    smtp_tls: f.smtp_tls.value,
    smtp_username: f.smtp_username.value,
    smtp_password: secretValue(f.smtp_password, editing),
    sender_name: f.sender_name.value.trim(),
    sender_address: f.sender_address.value.trim(),
    signature: f.signature.value.trim() ? f.signature.value : null,
    route_to: checked(f, "route_to"),
  };
}

/// A number when the input is one; otherwise the text, so the server names the field.
function portValue(raw) {
  const text = raw.trim();
  return /^\d+$/.test(text) ? Number(text) : text;
}

// ----- messenger -----

function messengerFields(s, editing) {
  return [
    field("Page id", input("page_id", s.page_id, { inputmode: "numeric", autocomplete: "off" }), {
      field: "settings.page_id",
      hint: "The digits in the page's About section or its URL.",
    }),
    secretField("Page access token", "page_access_token", s, editing),
    secretField("App secret", "app_secret", s, editing, "Checks that webhook calls come from Facebook."),
    field("Verify token", input("verify_token", s.verify_token, { autocomplete: "off" }), {
      field: "settings.verify_token",
      hint: "Any phrase; type the same in Facebook's webhook setup.",
    }),
  ];
}

function messengerSettings(f, editing) {
  return {
    page_id: f.page_id.value.trim(),
    page_access_token: secretValue(f.page_access_token, editing),
    app_secret: secretValue(f.app_secret, editing),
    verify_token: f.verify_token.value,
  };
}

// ----- secrets -----

/// A write-only secret: empty on screen; when editing, the hint says whether one is stored and
/// that leaving it empty keeps it.
function secretField(label, name, s, editing, extraHint = "") {
  const control = input(name, "", { type: "password", autocomplete: "new-password" });
  const node = field(label, control, {
    field: `settings.${name}`,
    hint: secretHint(s, name, editing, extraHint),
  });
  node.dataset.secret = name;
  node.dataset.extraHint = extraHint;
  return node;
}

function secretHint(s, name, editing, extraHint) {
  if (!editing) return extraHint || undefined;
  const state = s[`has_${name}`] ? "Set — leave empty to keep it, or type a new one to replace it." : "Not set.";
  return `${state}${extraHint ? ` ${extraHint}` : ""}`;
}

function refreshSecretHints(f, s) {
  for (const node of f.querySelectorAll("[data-secret]")) {
    const hint = node.querySelector(".hint");
    if (hint) hint.textContent = secretHint(s, node.dataset.secret, true, node.dataset.extraHint);
  }
}

/// Editing: an empty input keeps the stored secret (`null`); creating: the typed value.
function secretValue(control, editing) {
  if (editing && control.value === "") return null;
  return control.value;
}

// ----- forms -----

const STARTER_FIELDS = [
  { name: "name", label: "Your name", kind: "text", required: false },
  { name: "email", label: "Email", kind: "email", required: true },
  { name: "subject", label: "Subject", kind: "text", required: false },
  { name: "message", label: "Message", kind: "textarea", required: true },
];

function formOptionFields(s, agents) {
  return [
    field("Allowed origins", textarea("allowed_origins", (s.allowed_origins ?? []).join("\n")), {
      field: "settings.allowed_origins",
      hint: "Sites whose pages may show and submit the form, one per line (https://shop.example). Empty: any site.",
    }),
    field("Thank-you message", textarea("thank_you", s.thank_you ?? ""), {
      field: "settings.thank_you",
      hint: "Shown after a submission. Empty: a standard thank-you.",
    }),
    field(
      "Ticket owner",
      select(
        "ticket_owner_id",
        [["", "Nobody (unowned)"], ...agents.map((a) => [a.id, agentLabel(a)])],
        s.ticket_owner_id ?? "",
      ),
      { field: "settings.ticket_owner_id" },
    ),
  ];
}

function formSettings(f, fields) {
  return {
    fields: fields.read(),
    allowed_origins: lines(f.allowed_origins.value),
    thank_you: f.thank_you.value.trim() ? f.thank_you.value : null,
    ticket_owner_id: f.ticket_owner_id.value || null,
  };
}

/// The fields editor: one row per form field (key, label, kind, required, options for a
/// choice), added, removed and reordered in place. `read()` answers the list as the API takes
/// it. Each part is labelled `settings.fields[i].part`, so a server error lands on its input.
function fieldsEditor(initial) {
  const rows = el("ol", { class: "form-field-rows" });
  const error = el("small", { class: "field-error" });
  const node = el(
    "fieldset",
    { class: "field form-fields", dataset: { field: "settings.fields", label: "Fields" } },
    el("legend", {}, "Fields"),
    el(
      "p",
      { class: "hint" },
      "The key names the value (a-z, 0-9, _). An email field finds or creates the contact; a field keyed name or phone fills the contact; subject or title becomes the ticket's title.",
    ),
    error,
    rows,
  );

  const read = () =>
    [...rows.children].map((row) => {
      const part = (name) => row.querySelector(`[data-part="${name}"]`);
      const kind = part("kind").value;
      const item = {
        name: part("name").value.trim(),
        label: part("label").value.trim(),
        kind,
        required: part("required").checked,
      };
      if (kind === "select") {
        item.options = part("options")
          .value.split("\n")
          .map((o) => o.trim())
          .filter(Boolean);
      }
      return item;
    });

  const redraw = (list, focusIndex = null) => {
    rows.replaceChildren(...list.map((item, i) => row(item, i, list.length)));
    if (focusIndex !== null) rows.children[focusIndex]?.querySelector('[data-part="name"]')?.focus();
  };

  const row = (item, i, count) => {
    const at = (part) => `settings.fields[${i}].${part}`;
    const part = (control, name) => {
      control.dataset.part = name;
      return control;
    };
    const kind = part(select(`field_kind_${i}`, FIELD_KINDS, item.kind ?? "text"), "kind");
    const options = field(
      "Options (one per line)",
      part(textarea(`field_options_${i}`, (item.options ?? []).join("\n")), "options"),
      { field: at("options") },
    );
    options.hidden = kind.value !== "select";
    kind.addEventListener("change", () => {
      options.hidden = kind.value !== "select";
    });
    const required = part(
      el("input", { type: "checkbox", name: `field_required_${i}`, checked: Boolean(item.required), id: uid() }),
      "required",
    );
    const move = (delta) => () => {
      const list = read();
      const [moved] = list.splice(i, 1);
      list.splice(i + delta, 0, moved);
      redraw(list, i + delta);
    };
    return el(
      "li",
      { class: "form-field-row", "aria-label": `Field ${i + 1}` },
      field("Key", part(input(`field_name_${i}`, item.name, { autocomplete: "off" }), "name"), { field: at("name") }),
      field("Label", part(input(`field_label_${i}`, item.label), "label"), { field: at("label") }),
      field("Kind", kind, { field: at("kind") }),
      el(
        "div",
        { class: "field check", dataset: { field: at("required"), label: "Required" } },
        el("label", { for: required.id }, required, " Required"),
        el("small", { class: "field-error" }),
      ),
      options,
      el(
        "div",
        { class: "row-actions" },
        el("button", { type: "button", disabled: i === 0, onclick: move(-1), "aria-label": `Move field ${i + 1} up` }, "↑"),
        el(
          "button",
          { type: "button", disabled: i === count - 1, onclick: move(1), "aria-label": `Move field ${i + 1} down` },
          "↓",
        ),
        el(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: () => {
              const list = read();
              list.splice(i, 1);
              redraw(list);
            },
          },
          "Remove",
        ),
      ),
    );
  };

  node.append(
    el(
      "button",
      {
        type: "button",
        class: "add-field",
        onclick: () => {
          const list = read();
          list.push({ name: "", label: "", kind: "text", required: false });
          redraw(list, list.length - 1);
        },
      },
      "Add a field",
    ),
  );
  redraw(initial.map((f) => ({ ...f })));
  node.read = read;
  return node;
}

