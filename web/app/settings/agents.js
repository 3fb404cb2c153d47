// Settings › Agents: the account's people. Admins add agents (email, password, role, profile),
// change their role and profile, and deactivate or reactivate them (agents are never deleted).

import { api } from "../api.js";
import { ctx, go } from "../context.js";
import { el } from "../ui.js";
import {
  agentLabel,
  back,
  draw,
  empty,
  field,
  form,
  input,
  refreshNames,
  select,
} from "./forms.js";

const ROLES = [
  ["agent", "Agent"],
  ["admin", "Admin"],
];

export async function render(page, [id], alive) {
  const agents = await api("GET", "/agents");
  if (!alive()) return;
  if (id) {
    const agent = agents.find((a) => a.id === id);
    draw(page, ...(agent ? detail(agent) : missing()));
  } else {
    draw(page, ...list(agents));
  }
}

function missing() {
  return [
    back("Agents", "#/settings/agents"),
    el("p", { class: "empty" }, "This agent does not exist (any more)."),
  ];
}

function list(agents) {
  const rows = agents.map((a) =>
    el(
      "tr",
      { class: a.active ? "" : "inactive" },
      el("td", {}, el("a", { href: `#/settings/agents/${a.id}` }, agentLabel(a))),
      el("td", { class: "wrap" }, a.email),
      el("td", {}, a.role === "admin" ? "Admin" : "Agent"),
      el("td", {}, a.active ? "Active" : "Deactivated"),
    ),
  );
  return [
    el("h2", { tabindex: "-1" }, "Agents"),
    agents.length
      ? el(
          "table",
          { class: "list" },
          el("caption", { class: "sr-only" }, "Agents"),
          el(
            "thead",
            {},
            el("tr", {}, ["Name", "Email", "Role", "State"].map((h) => el("th", { scope: "col" }, h))),
          ),
          el("tbody", {}, rows),
        )
      : empty("No agents yet — create one below."),
    createForm(),
  ];
}

function createForm() {
  return form(
    {
      title: "Add an agent",
      submit: "Create agent",
      className: "create-agent",
      onSubmit: async (f) => {
        const agent = await api("POST", "/agents", {
          email: f.email.value.trim(),
          password: f.password.value,
          role: f.role.value,
          display_name: f.display_name.value.trim(),
          avatar_url: f.avatar_url.value.trim() || null,
          meeting_link: f.meeting_link.value.trim() || null,
        });
        await refreshNames();
        go("settings", "agents", agent.id);
      },
    },
    field("Email", input("email", "", { type: "email", autocomplete: "off", required: true })),
    field(
      "Password",
      input("password", "", { type: "password", autocomplete: "new-password", required: true }),
      { hint: "At least 10 characters; the agent can change it later." },
    ),
    field("Display name", input("display_name", "", { required: true })),
    field("Role", select("role", ROLES, "agent")),
    field("Avatar URL", input("avatar_url", "", { type: "url" }), { hint: "Optional, https://…" }),
    field("Meeting link", input("meeting_link", "", { type: "url" }), {
      hint: "Optional; offered to visitors in chat.",
    }),
  );
}

function detail(agent) {
  const itself = agent.id === ctx.agent?.id;
  const state = el("p", { class: "muted agent-state" });
  const toggle = el("button", { type: "button", class: "danger" });
  const toggleError = el("p", { class: "error", role: "alert" });
  const paint = () => {
    state.textContent = agent.active
      ? "Active: can sign in."
      : "Deactivated: cannot sign in; their history stays.";
    toggle.textContent = agent.active ? "Deactivate" : "Reactivate";
    toggle.hidden = itself;
  };
  toggle.addEventListener("click", async () => {
    toggleError.textContent = "";
    toggle.disabled = true;
    try {
      Object.assign(agent, await api("PATCH", `/agents/${agent.id}`, { active: !agent.active }));
      await refreshNames();
      paint();
    } catch (e) {
      toggleError.textContent = e.message;
    } finally {
      toggle.disabled = false;
    }
  });
  paint();

  const profile = form(
    {
      title: "Profile and role",
      className: "edit-agent",
      onSubmit: async (f) => {
        const body = {
          display_name: f.display_name.value.trim(),
          avatar_url: f.avatar_url.value.trim() || null,
          meeting_link: f.meeting_link.value.trim() || null,
        };
        if (f.email.value.trim() !== agent.email) body.email = f.email.value.trim();
        if (!itself && f.role.value !== agent.role) body.role = f.role.value;
        Object.assign(agent, await api("PATCH", `/agents/${agent.id}`, body));
        await refreshNames();
        title.textContent = agentLabel(agent);
      },
    },
    field("Display name", input("display_name", agent.profile?.display_name)),
    field("Email", input("email", agent.email, { type: "email" })),
    field("Role", select("role", ROLES, agent.role, { disabled: itself }), {
      hint: itself ? "You cannot change your own role; ask another admin." : undefined,
    }),
    field("Avatar URL", input("avatar_url", agent.profile?.avatar_url, { type: "url" })),
    field("Meeting link", input("meeting_link", agent.profile?.meeting_link, { type: "url" })),
  );
  const title = el("h2", { tabindex: "-1" }, agentLabel(agent));
  return [
    back("Agents", "#/settings/agents"),
    title,
    el("p", { class: "muted wrap" }, agent.email),
    profile,
    el(
      "section",
      { class: "card", "aria-label": "Access" },
      el("h3", {}, "Access"),
      state,
      itself ? el("p", { class: "muted" }, "You cannot deactivate yourself.") : null,
      toggle,
      toggleError,
    ),
  ];
}
