// Settings › Channels: the ways into each inbox. Admins add website chat channels, edit their
// allowed origins and identity verification, copy the embed snippet, and manage the channel's
// chatflows (branding, availability and bots live on chatflows). Email, Messenger and form
// channels are created and edited by the screens in channel-kinds.js.

import { api } from "../api.js";
import { go, inboxName } from "../context.js";
import { el } from "../ui.js";
import { createSections, editSections, loadExtras } from "./channel-kinds.js";
import {
  back,
  checkbox,
  copyable,
  draw,
  empty,
  field,
  form,
  input,
  lines,
  refreshNames,
  select,
  textarea,
} from "./forms.js";

const KINDS = { chat: "Website chat", email: "Email", messenger: "Messenger", form: "Form" };

export async function render(page, [id], alive) {
  const [channels, inboxes, agents] = await Promise.all([
    api("GET", "/channels"),
    api("GET", "/inboxes"),
    api("GET", "/agents"),
  ]);
  if (!alive()) return;
  if (!id) {
    draw(page, ...list(channels, inboxes, agents));
    return;
  }
  const channel = channels.find((c) => c.id === id);
  if (!channel) {
    draw(page, back("Channels", "#/settings/channels"), el("p", { class: "empty" }, "No such channel."));
    return;
  }
  const chat = channel.kind === "chat";
  const [embed, chatflows, extras] = await Promise.all([
    chat ? api("GET", `/channels/${channel.id}/embed`) : null,
    chat || channel.kind === "messenger" ? api("GET", `/channels/${channel.id}/chatflows`) : null,
    chat ? {} : loadExtras(channel),
  ]);
  if (!alive()) return;
  draw(page, ...detail(channel, inboxes, agents, embed, chatflows, extras));
}

function list(channels, inboxes, agents) {
  const byInbox = inboxes.map((inbox) => ({
    inbox,
    channels: channels.filter((c) => c.inbox_id === inbox.id),
  }));
  return [
    el("h2", { tabindex: "-1" }, "Channels"),
    inboxes.length
      ? byInbox.map(({ inbox, channels: mine }) =>
          el(
            "section",
            { class: "card channel-group", "aria-label": inbox.name },
            el("h3", {}, inbox.name),
            mine.length
              ? el(
                  "ul",
                  { class: "rows" },
                  mine.map((c) =>
                    el(
                      "li",
                      {},
                      el("a", { href: `#/settings/channels/${c.id}` }, c.name),
                      el("span", { class: "muted" }, ` — ${KINDS[c.kind] ?? c.kind}`),
                    ),
                  ),
                )
              : empty("No channels yet — add a website chat, an email address, a Messenger page or a form below."),
          ),
        )
      : empty("No inboxes yet — create one under Inboxes first; channels lead into an inbox."),
    inboxes.length ? createForm(inboxes) : null,
    inboxes.length ? createSections(inboxes, agents) : null,
  ];
}

function createForm(inboxes) {
  return form(
    {
      title: "Add a website chat",
      submit: "Create chat channel",
      className: "create-channel",
      onSubmit: async (f) => {
        const channel = await api("POST", "/channels", {
          inbox_id: f.inbox_id.value,
          kind: "chat",
          name: f.name.value.trim(),
          settings: {
            allowed_origins: lines(f.allowed_origins.value),
            require_identity_verification: f.require_identity_verification.checked,
          },
        });
        await refreshNames();
        go("settings", "channels", channel.id);
      },
    },
    field("Inbox", select("inbox_id", inboxes.map((i) => [i.id, i.name]), inboxes[0]?.id)),
    field("Channel name", input("name", "", { required: true })),
    originsField([]),
    checkbox(
      "Require identity verification (signed-in visitors only)",
      "require_identity_verification",
      false,
      { field: "settings.require_identity_verification" },
    ),
  );
}

function originsField(origins) {
  return field("Allowed origins", textarea("allowed_origins", origins.join("\n")), {
    field: "settings.allowed_origins",
    hint: "One per line, e.g. https://shop.example. Empty: pages of any site may open the widget.",
  });
}

function detail(channel, inboxes, agents, embed, chatflows, extras) {
  const title = el("h2", { tabindex: "-1" }, channel.name);
  const head = [
    back("Channels", "#/settings/channels"),
    title,
    el("p", { class: "muted" }, `${KINDS[channel.kind] ?? channel.kind} · inbox `, el("a", { href: `#/settings/inboxes/${channel.inbox_id}` }, inboxName(channel.inbox_id))),
  ];
  if (channel.kind !== "chat") {
    const onSaved = (saved) => {
      title.textContent = saved.name;
    };
    const sections = editSections(channel, inboxes, agents, extras, onSaved);
    return [
      ...head,
      sections.length ? sections : readOnly(channel),
      chatflows ? chatflowSection(channel, chatflows) : null,
    ];
  }
  const settings = channel.settings;
  return [
    ...head,
    el(
      "section",
      { class: "card embed" },
      el("h3", {}, "Put the chat on your site"),
      el("p", { class: "muted" }, "Paste this line into your pages, before </body>."),
      copyable("Embed snippet", embed.snippet, { multiline: true, className: "snippet" }),
    ),
    form(
      {
        title: "Chat channel",
        className: "edit-channel",
        onSubmit: async (f) => {
          Object.assign(
            channel,
            await api("PATCH", `/channels/${channel.id}`, {
              name: f.name.value.trim(),
              inbox_id: f.inbox_id.value,
              settings: {
                allowed_origins: lines(f.allowed_origins.value),
                require_identity_verification: f.require_identity_verification.checked,
              },
            }),
          );
          f.allowed_origins.value = channel.settings.allowed_origins.join("\n");
          title.textContent = channel.name;
          await refreshNames();
        },
      },
      field("Channel name", input("name", channel.name)),
      field("Inbox", select("inbox_id", inboxes.map((i) => [i.id, i.name]), channel.inbox_id)),
      originsField(settings.allowed_origins ?? []),
      checkbox(
        "Require identity verification (signed-in visitors only)",
        "require_identity_verification",
        settings.require_identity_verification,
        { field: "settings.require_identity_verification" },
      ),
    ),
    settings.identity_secret
      ? el(
          "section",
          { class: "card" },
          el("h3", {}, "Identity verification"),
          el(
            "p",
            { class: "muted" },
            "Your site's backend signs a signed-in visitor's identity with this secret (HMAC-SHA256); bot webhooks are signed with it too. Keep it private.",
          ),
          copyable("Identity secret", settings.identity_secret, { className: "secret" }),
        )
      : null,
    chatflowSection(channel, chatflows),
  ];
}

/// Settings of a kind this screen does not edit, as label/value pairs (secrets say only
/// whether they are set).
function readOnly(channel) {
  const rows = Object.entries(channel.settings)
    .filter(([key]) => !key.startsWith("has_"))
    .map(([key, value]) => {
      const has = channel.settings[`has_${key}`];
      let shown;
      if (has !== undefined) shown = has ? "set (hidden)" : "not set";
      else if (value === null || value === "") shown = "—";
      else if (typeof value === "object") shown = JSON.stringify(value);
      else shown = String(value);
      return [el("dt", {}, key.replaceAll("_", " ")), el("dd", { class: "wrap" }, shown)];
    });
  return el(
    "section",
    { class: "card" },
    el("h3", {}, "Settings"),
    el("p", { class: "muted" }, "Shown as they are; change them through the API for now."),
    rows.length ? el("dl", { class: "read-only" }, rows.flat()) : empty("No settings."),
  );
}

function chatflowSection(channel, chatflows) {
  return el(
    "section",
    { class: "card chatflows" },
    el("h3", {}, "Chatflows"),
    el(
      "p",
      { class: "muted" },
      "What the widget shows on a page: the enabled chatflow whose targeting matches, lowest priority first. Each has its branding, availability and, for bots, a flow.",
    ),
    chatflows.length
      ? el(
          "ul",
          { class: "rows" },
          chatflows.map((f) =>
            el(
              "li",
              {},
              el("a", { href: `#/settings/chatflows/${f.id}` }, f.name),
              el(
                "span",
                { class: "muted" },
                ` — ${f.kind === "bot" ? "Bot" : "Live chat"} · priority ${f.priority}${f.enabled ? "" : " · disabled"}`,
              ),
            ),
          ),
        )
      : empty("No chatflows yet — the widget shows nowhere until you create one."),
    form(
      {
        title: "Create a chatflow",
        submit: "Create chatflow",
        className: "create-chatflow",
        onSubmit: async (f) => {
          const kind = f.kind.value;
          const created = await api("POST", `/channels/${channel.id}/chatflows`, {
            name: f.name.value.trim(),
            kind,
            priority: Number(f.priority.value || 0),
            flow: kind === "bot" ? STARTER_FLOW : undefined,
          });
          go("settings", "chatflows", created.id);
        },
      },
      field("Chatflow name", input("name", "", { required: true })),
      field(
        "Kind",
        select(
          "kind",
          [
            ["live_chat", "Live chat"],
            ["bot", "Bot"],
          ],
          "live_chat",
        ),
      ),
      field("Priority", input("priority", "0", { type: "number", inputmode: "numeric" }), {
        hint: "Lower is tried first.",
      }),
    ),
  );
}

/// A bot's first flow: greets and hands the visitor to the inbox; edited on the chatflow page.
const STARTER_FLOW = {
  version: 1,
  start: "hello",
  steps: {
    hello: { type: "message", text: "Hi! Let me get you to the right person.", next: "to_inbox" },
    to_inbox: { type: "handoff", to: "inbox", message: "Connecting you with our team." },
  },
};
