// Settings › Teams: named groups of agents that routing and hand-offs target. Admins create,
// rename and delete teams and choose their members.

import { api } from "../api.js";
import { go } from "../context.js";
import { el } from "../ui.js";
import {
  agentLabel,
  agentPicker,
  back,
  checked,
  draw,
  empty,
  field,
  form,
  input,
  refreshNames,
} from "./forms.js";

export async function render(page, [id], alive) {
  const [teams, agents] = await Promise.all([api("GET", "/teams"), api("GET", "/agents")]);
  if (!alive()) return;
  if (id) {
    const team = teams.find((t) => t.id === id);
    draw(page, 
      ...(team
        ? detail(team, agents)
        : [back("Teams", "#/settings/teams"), el("p", { class: "empty" }, "No such team.")]),
    );
  } else {
    draw(page, ...list(teams, agents));
  }
}

function members(team, agents) {
  const names = team.member_ids.map((id) => {
    const a = agents.find((x) => x.id === id);
    return a ? agentLabel(a) : "an agent";
  });
  return names.length ? names.join(", ") : "No members";
}

function list(teams, agents) {
  return [
    el("h2", { tabindex: "-1" }, "Teams"),
    teams.length
      ? el(
          "ul",
          { class: "rows" },
          teams.map((t) =>
            el(
              "li",
              {},
              el("a", { href: `#/settings/teams/${t.id}` }, t.name),
              el("span", { class: "muted" }, ` — ${members(t, agents)}`),
            ),
          ),
        )
      : empty("No teams yet — create one below."),
    form(
      {
        title: "Create a team",
        submit: "Create team",
        className: "create-team",
        onSubmit: async (f) => {
          const team = await api("POST", "/teams", {
            name: f.name.value.trim(),
            member_ids: checked(f, "member_ids"),
          });
          await refreshNames();
          go("settings", "teams", team.id);
        },
      },
      field("Team name", input("name", "", { required: true })),
      agentPicker("Members", "member_ids", agents, []),
    ),
  ];
}

function detail(team, agents) {
  const title = el("h2", { tabindex: "-1" }, team.name);
  const deleteError = el("p", { class: "error", role: "alert" });
  return [
    back("Teams", "#/settings/teams"),
    title,
    form(
      {
        title: "Name",
        className: "rename-team",
        onSubmit: async (f) => {
          Object.assign(
            team,
            await api("PATCH", `/teams/${team.id}`, { name: f.name.value.trim() }),
          );
          title.textContent = team.name;
          await refreshNames();
        },
      },
      field("Team name", input("name", team.name)),
    ),
    form(
      {
        title: "Members",
        submit: "Save members",
        className: "team-members",
        onSubmit: async (f) => {
          Object.assign(
            team,
            await api("PUT", `/teams/${team.id}/members`, { agent_ids: checked(f, "agent_ids") }),
          );
          await refreshNames();
        },
      },
      agentPicker("Members", "agent_ids", agents, team.member_ids),
    ),
    el(
      "section",
      { class: "card", "aria-label": "Delete" },
      el("h3", {}, "Delete"),
      el(
        "p",
        { class: "muted" },
        "Its conversations keep their assignee and lose the team.",
      ),
      el(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (!window.confirm(`Delete the team "${team.name}"?`)) return;
            deleteError.textContent = "";
            try {
              await api("DELETE", `/teams/${team.id}`);
              await refreshNames();
              go("settings", "teams");
            } catch (e) {
              deleteError.textContent = e.message;
            }
          },
        },
        "Delete team",
      ),
      deleteError,
    ),
  ];
}
