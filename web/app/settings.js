// The settings view for admins: agents, teams, inboxes, channels and their chatflows. Each
// screen is a module under settings/ exporting `render(root, rest)`; this file holds the
// sub-navigation and picks the screen from the hash (`#/settings/{screen}/{id}`).

import * as agents from "./settings/agents.js";
import * as channels from "./settings/channels.js";
import * as chatflows from "./settings/chatflows.js";
import * as heldMail from "./settings/held-mail.js";
import * as inboxes from "./settings/inboxes.js";
import * as teams from "./settings/teams.js";
import { $, el } from "./ui.js";

const SCREENS = { agents, teams, inboxes, channels, chatflows, "held-mail": heldMail };
/// Shown in the sub-navigation; chatflows are reached through their channel.
const NAV = [
  ["agents", "Agents"],
  ["teams", "Teams"],
  ["inboxes", "Inboxes"],
  ["channels", "Channels"],
  ["held-mail", "Held mail"],
];

let root = null;
let content = null;
/// Bumped on each show, so a slow load for a screen left meanwhile does not draw over the next.
let generation = 0;

export function mount() {
  root = $("#view-settings");
  content = el("div", { class: "settings-content" });
  root.append(
    el(
      "div",
      { class: "settings" },
      el(
        "nav",
        { class: "settings-nav", "aria-label": "Settings" },
        el(
          "ul",
          {},
          NAV.map(([key, label]) =>
            el("li", {}, el("a", { href: `#/settings/${key}`, dataset: { screen: key } }, label)),
          ),
        ),
      ),
      content,
    ),
  );
}

export function enter() {}

export function leave() {
  generation += 1;
  content?.replaceChildren();
}

export async function show(rest) {
  const [name = "agents", ...more] = rest;
  const key = SCREENS[name] ? name : "agents";
  const current = key === "chatflows" ? "channels" : key;
  for (const link of root.querySelectorAll(".settings-nav a")) {
    if (link.dataset.screen === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  generation += 1;
  const mine = generation;
  // `data-route` and `data-ready` tell which page is drawn (tests wait on them).
  const page = el("div", { class: "settings-page", dataset: { screen: key, route: rest.join("/") } });
  page.append(el("p", { class: "muted" }, "Loading…"));
  content.replaceChildren(page);
  try {
    await SCREENS[key].render(page, more, () => mine === generation);
  } catch (e) {
    if (mine !== generation) return;
    page.replaceChildren(
      el("p", { class: "error", role: "alert" }, `This page could not be loaded: ${e.message}`),
    );
  }
  if (mine !== generation) return;
  page.dataset.ready = "true";
  page.querySelector("h2")?.focus();
}
