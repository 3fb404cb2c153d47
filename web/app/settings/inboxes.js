// Settings › Inboxes: shared inboxes with their members, routing (who gets new conversations,
// how, and how many each), notification defaults, email filters and the fallback address mail
// can always be sent to. Each inbox lists its channels.

import { api } from "../api.js";
import { go } from "../context.js";
import { el } from "../ui.js";
import {
  agentPicker,
  back,
  checkbox,
  checked,
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

const STRATEGIES = [
  ["round_robin", "Round robin"],
  ["least_busy", "Least busy"],
];
const TARGETS = [
  ["unassigned", "Nobody (agents pick)"],
  ["team", "A team's members"],
  ["agents", "Chosen agents"],
];
const NOTIFICATIONS = [
  ["new_assignment", "A conversation is assigned to them"],
  ["mention", "They are mentioned in a note"],
  ["new_message", "A new message in their conversations"],
  ["browser", "Also as browser notifications"],
];

export async function render(page, [id], alive) {
  const [inboxes, agents, teams] = await Promise.all([
    api("GET", "/inboxes"),
    api("GET", "/agents"),
    api("GET", "/teams"),
  ]);
  if (!alive()) return;
  if (!id) {
    draw(page, ...list(inboxes, agents, teams));
    return;
  }
  const inbox = inboxes.find((i) => i.id === id);
  if (!inbox) {
    draw(page, back("Inboxes", "#/settings/inboxes"), el("p", { class: "empty" }, "No such inbox."));
    return;
  }
  const channels = await api("GET", `/channels?inbox_id=${encodeURIComponent(id)}`);
  if (!alive()) return;
  draw(page, ...detail(inbox, agents, teams, channels));
}

function list(inboxes, agents, teams) {
  return [
    el("h2", { tabindex: "-1" }, "Inboxes"),
    inboxes.length
      ? el(
          "ul",
          { class: "rows" },
          inboxes.map((i) =>
            el(
              "li",
              {},
              el("a", { href: `#/settings/inboxes/${i.id}` }, i.name),
              el(
                "span",
                { class: "muted wrap" },
                ` — ${i.member_ids.length} member${i.member_ids.length === 1 ? "" : "s"} · ${i.fallback_address}`,
              ),
            ),
          ),
        )
      : empty("No inboxes yet — create one below."),
    form(
      {
        title: "Create an inbox",
        submit: "Create inbox",
        className: "create-inbox",
        onSubmit: async (f) => {
          const inbox = await api("POST", "/inboxes", {
            name: f.name.value.trim(),
            member_ids: checked(f, "member_ids"),
            routing: readRouting(f),
          });
          await refreshNames();
          go("settings", "inboxes", inbox.id);
        },
      },
      field("Inbox name", input("name", "", { required: true })),
      agentPicker("Members", "member_ids", agents, []),
      routingFields(null, agents, teams),
    ),
  ];
}

/// The routing controls; `readRouting` reads them back.
function routingFields(routing, agents, teams) {
  const target = routing?.target ?? { mode: "unassigned" };
  const mode = select("target_mode", TARGETS, target.mode);
  const teamField = field(
    "Team",
    select(
      "target_team",
      teams.length ? teams.map((t) => [t.id, t.name]) : [["", "No teams yet — create one"]],
      target.team_id,
    ),
    { field: "routing.target.team_id" },
  );
  const agentsField = agentPicker(
    "Route to these agents",
    "target_agents",
    agents,
    target.agent_ids ?? [],
    { field: "routing.target.agent_ids" },
  );
  const paint = () => {
    teamField.hidden = mode.value !== "team";
    agentsField.hidden = mode.value !== "agents";
  };
  mode.addEventListener("change", paint);
  paint();
  return el(
    "fieldset",
    { class: "group" },
    el("legend", {}, "Routing"),
    field("New conversations go to", mode, { field: "routing.target" }),
    teamField,
    agentsField,
    field("Strategy", select("strategy", STRATEGIES, routing?.strategy ?? "round_robin"), {
      field: "routing.strategy",
      hint: "Round robin: the agent assigned least recently. Least busy: the fewest open conversations.",
    }),
    field(
      "Capacity per agent",
      input("capacity", routing?.capacity ?? "", { type: "number", min: "1", inputmode: "numeric" }),
      { field: "routing.capacity", hint: "Most open conversations routing gives one agent; empty for no limit." },
    ),
    checkbox(
      "Give a returning contact to their owner when the owner is online",
      "sticky_to_owner",
      routing?.sticky_to_owner ?? true,
      { field: "routing.sticky_to_owner" },
    ),
  );
}

function readRouting(f) {
  const mode = f.target_mode.value;
  const target =
    mode === "team"
      ? { mode, team_id: f.target_team.value || null }
      : mode === "agents"
        ? { mode, agent_ids: checked(f, "target_agents") }
        : { mode };
  const capacity = f.capacity.value.trim();
  return {
    target,
    strategy: f.strategy.value,
    capacity: capacity === "" ? null : Number(capacity),
    sticky_to_owner: f.sticky_to_owner.checked,
  };
}

function detail(inbox, agents, teams, channels) {
  const title = el("h2", { tabindex: "-1" }, inbox.name);
  const patch = async (body) => {
    Object.assign(inbox, await api("PATCH", `/inboxes/${inbox.id}`, body));
    await refreshNames();
  };
  return [
    back("Inboxes", "#/settings/inboxes"),
    title,
    copyable("Fallback address", inbox.fallback_address, { className: "fallback" }),
    el(
      "p",
      { class: "muted" },
      "Mail sent to this address lands in the inbox, even without an email channel.",
    ),
    form(
      {
        title: "Name",
        className: "rename-inbox",
        onSubmit: async (f) => {
          await patch({ name: f.name.value.trim() });
          title.textContent = inbox.name;
        },
      },
      field("Inbox name", input("name", inbox.name)),
    ),
    form(
      {
        title: "Members",
        submit: "Save members",
        className: "inbox-members",
        onSubmit: async (f) => {
          Object.assign(
            inbox,
            await api("PUT", `/inboxes/${inbox.id}/members`, { agent_ids: checked(f, "agent_ids") }),
          );
          await refreshNames();
        },
      },
      el("p", { class: "muted" }, "Members see the inbox and can be assigned its conversations."),
      agentPicker("Members", "agent_ids", agents, inbox.member_ids),
    ),
    form(
      {
        title: "Routing",
        className: "inbox-routing",
        onSubmit: (f) => patch({ routing: readRouting(f) }),
      },
      routingFields(inbox.routing, agents, teams),
    ),
    form(
      {
        title: "Notification defaults",
        className: "inbox-notifications",
        onSubmit: (f) =>
          patch({
            notification_defaults: Object.fromEntries(
              NOTIFICATIONS.map(([key]) => [key, f[key].checked]),
            ),
          }),
      },
      el("p", { class: "muted" }, "What members are notified of unless they choose otherwise."),
      NOTIFICATIONS.map(([key, label]) =>
        checkbox(label, key, inbox.notification_defaults[key], {
          field: `notification_defaults.${key}`,
        }),
      ),
    ),
    form(
      {
        title: "Email filters",
        className: "inbox-filters",
        onSubmit: async (f) => {
          await patch({
            email_filters: {
              blocked_senders: lines(f.blocked_senders.value),
              blocked_domains: lines(f.blocked_domains.value),
              filter_auto_replies: f.filter_auto_replies.checked,
            },
          });
          f.blocked_senders.value = inbox.email_filters.blocked_senders.join("\n");
          f.blocked_domains.value = inbox.email_filters.blocked_domains.join("\n");
        },
      },
      field(
        "Blocked senders",
        textarea("blocked_senders", inbox.email_filters.blocked_senders.join("\n")),
        { field: "email_filters.blocked_senders", hint: "One address per line." },
      ),
      field(
        "Blocked domains",
        textarea("blocked_domains", inbox.email_filters.blocked_domains.join("\n")),
        { field: "email_filters.blocked_domains", hint: "One domain per line, e.g. spam.example." },
      ),
      checkbox(
        "Keep auto-replies and bounces out of the inbox",
        "filter_auto_replies",
        inbox.email_filters.filter_auto_replies,
        { field: "email_filters.filter_auto_replies" },
      ),
    ),
    el(
      "section",
      { class: "card inbox-channels", "aria-label": "Channels" },
      el("h3", {}, "Channels"),
      channels.length
        ? el(
            "ul",
            { class: "rows" },
            channels.map((c) =>
              el(
                "li",
                {},
                el("a", { href: `#/settings/channels/${c.id}` }, c.name),
                el("span", { class: "muted" }, ` — ${c.kind}`),
              ),
            ),
          )
        : empty("No channels yet — add a website chat under Channels."),
      el("a", { href: "#/settings/channels", class: "button-link" }, "Add a channel"),
    ),
  ];
}
