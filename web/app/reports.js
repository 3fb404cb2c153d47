// The reports view: who answers, how fast, and how the bots do (docs/reports.md defines every
// figure). Date range, time zone and filters on top; a bar chart of new conversations per day
// (SVG drawn here, no library) with the tables under it, each downloadable as CSV.

import { api } from "./api.js";
import { agentName, channelOf, ctx, inboxName, onFrame, teamName } from "./context.js";
import { $, el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const DAY_MS = 86400000;

const state = { loaded: false, chatflows: new Map() };

export function mount() {
  onFrame("directory", () => {
    if (!$("#view-reports").hidden) renderFilterChoices();
  });
}

export function enter() {}

export function leave() {
  state.loaded = false;
  state.chatflows.clear();
  $("#view-reports").replaceChildren();
}

export function show() {
  if (!state.loaded) {
    $("#view-reports").replaceChildren(controls(), el("div", { class: "report-body" }));
    state.loaded = true;
    renderFilterChoices();
    load();
  }
}

// --- controls --------------------------------------------------------------------------------

function isoDay(date) {
  return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

function controls() {
  const today = new Date();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const field = (label, input) => el("label", {}, label, input);
  const select = (name, any) => el("select", { name }, el("option", { value: "" }, any));
  return el(
    "form",
    {
      class: "report-controls",
      onsubmit: (event) => {
        event.preventDefault();
        load();
      },
    },
    field("From", el("input", { type: "date", name: "from", value: isoDay(new Date(today - 6 * DAY_MS)), required: true })),
    field("To", el("input", { type: "date", name: "to", value: isoDay(today), required: true })),
    field("Time zone", el("input", { name: "tz", value: zone, list: "report-zones", size: 16 })),
    el(
      "datalist",
      { id: "report-zones" },
      (Intl.supportedValuesOf?.("timeZone") ?? ["UTC"]).map((z) => el("option", { value: z })),
    ),
    field("Inbox", select("inbox_id", "All inboxes")),
    field("Team", select("team_id", "Any team")),
    field("Agent", select("agent_id", "Every agent")),
    field("Channel", select("channel_id", "Any channel")),
    el("button", { type: "submit" }, "Show"),
    el("p", { class: "error", role: "alert" }),
  );
}

function renderFilterChoices() {
  const form = $(".report-controls");
  if (!form) return;
  const { inboxes, teams, agents, channels } = ctx.directory;
  const fill = (name, choices) => {
    const select = form[name];
    const chosen = select.value;
    const any = select.options[0];
    select.replaceChildren(any, ...choices.map(([value, label]) => el("option", { value }, label)));
    select.value = choices.some(([v]) => v === chosen) ? chosen : "";
  };
  fill("inbox_id", inboxes.map((i) => [i.id, i.name]));
  fill("team_id", teams.map((t) => [t.id, t.name]));
  fill("agent_id", agents.map((a) => [a.id, a.profile?.display_name || a.email]));
  fill("channel_id", channels.map((c) => [c.id, `${c.name} (${c.kind})`]));
}

function query() {
  const form = $(".report-controls");
  const params = new URLSearchParams();
  for (const name of ["from", "to", "tz", "inbox_id", "team_id", "agent_id", "channel_id"]) {
    if (form[name].value) params.set(name, form[name].value);
  }
  return params;
}

async function load() {
  const form = $(".report-controls");
  const error = form.querySelector(".error");
  error.textContent = "";
  const body = $(".report-body");
  body.setAttribute("aria-busy", "true");
  try {
    const params = query();
    const [report] = await Promise.all([api("GET", `/reports?${params}`), loadChatflows()]);
    render(report, params);
  } catch (e) {
    const label = { from: "From", to: "To", tz: "Time zone" }[e.field] ?? e.field;
    error.textContent = label ? `${label}: ${e.message}` : `The report could not be made: ${e.message}`;
    if (e.field && form[e.field]) form[e.field].focus();
  } finally {
    body.removeAttribute("aria-busy");
  }
}

/// Chatflow names for the bot tables (each chat channel's chatflows; fetched once).
async function loadChatflows() {
  if (state.chatflows.size) return;
  const chats = ctx.directory.channels.filter((c) => c.kind === "chat");
  const lists = await Promise.all(
    chats.map((c) => api("GET", `/channels/${c.id}/chatflows`).catch(() => [])),
  );
  for (const flow of lists.flat()) state.chatflows.set(flow.id, flow.name);
}

// --- rendering -------------------------------------------------------------------------------

function render(report, params) {
  const csv = (path) => `/api/v1/reports/${path}?${params}&format=csv`;
  const byChannel = report.conversations_by_channel;
  const total = byChannel.reduce((n, r) => n + r.conversations, 0);
  const keyName = {
    channel: (r) => {
      const channel = channelOf(r.key);
      return channel ? `${channel.name} (${channel.kind})` : `${r.channel_kind ?? "?"} channel`;
    },
    inbox: (r) => inboxName(r.key),
    team: (r) => (r.key ? teamName(r.key) : "No team"),
  };
  $(".report-body").replaceChildren(
    section(
      `New conversations: ${total}`,
      csv("conversations/by-channel"),
      total ? dayChart(report.from, report.to, byChannel) : empty("No new conversations in this range."),
      total ? pivot("Channel", byChannel, keyName.channel) : null,
    ),
    section(
      "By inbox",
      csv("conversations/by-inbox"),
      report.conversations_by_inbox.length
        ? pivot("Inbox", report.conversations_by_inbox, keyName.inbox)
        : empty("No conversations."),
    ),
    section(
      "By team",
      csv("conversations/by-team"),
      report.conversations_by_team.length
        ? pivot("Team", report.conversations_by_team, keyName.team)
        : empty("No conversations."),
    ),
    section(
      "Agents",
      csv("agents"),
      report.agents.length ? agentsTable(report.agents) : empty("Nobody replied or closed a conversation in this range."),
    ),
    section(
      "Bots",
      csv("bots"),
      report.bots.length ? botsTable(report.bots) : empty("No bot ran in this range."),
    ),
    section(
      "Bot steps",
      csv("bots/steps"),
      report.bot_steps.length ? stepsTable(report.bot_steps) : empty("No bot steps in this range."),
    ),
  );
}

function section(title, csvHref, ...content) {
  return el(
    "section",
    { class: "report-section" },
    el("div", { class: "report-head" }, el("h2", {}, title), el("a", { href: csvHref, download: "" }, "Download CSV")),
    ...content,
  );
}

function empty(text) {
  return el("p", { class: "empty" }, text);
}

function table(headers, rows) {
  return el(
    "table",
    { class: "report-table" },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) => el(i ? "td" : "th", i ? {} : { scope: "row" }, c))))),
  );
}

/// Totals per key over the range.
function pivot(label, rows, nameOf) {
  const totals = new Map();
  for (const row of rows) {
    const key = row.key ?? "";
    const entry = totals.get(key) ?? { row, count: 0 };
    entry.count += row.conversations;
    totals.set(key, entry);
  }
  const sorted = [...totals.values()].sort((a, b) => b.count - a.count);
  return table([label, "Conversations"], sorted.map(({ row, count }) => [nameOf(row), String(count)]));
}

/// Bars of new conversations per day, every day of the range (zero days included).
function dayChart(from, to, rows) {
  const perDay = new Map();
  for (const row of rows) perDay.set(row.day, (perDay.get(row.day) ?? 0) + row.conversations);
  const days = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY_MS) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  const max = Math.max(1, ...perDay.values());
  const width = 720;
  const height = 180;
  const pad = { left: 36, bottom: 24, top: 8 };
  const slot = (width - pad.left) / days.length;
  const scale = (height - pad.bottom - pad.top) / max;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "day-chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `New conversations per day, at most ${max} a day`);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("line", { x1: pad.left, y1: height - pad.bottom, x2: width, y2: height - pad.bottom, class: "axis" });
  add("text", { x: pad.left - 6, y: pad.top + 10, "text-anchor": "end", class: "tick" }, String(max));
  add("text", { x: pad.left - 6, y: height - pad.bottom, "text-anchor": "end", class: "tick" }, "0");
  const labelEvery = Math.ceil(days.length / 12);
  days.forEach((day, i) => {
    const count = perDay.get(day) ?? 0;
    const h = count * scale;
    const x = pad.left + i * slot + slot * 0.15;
    const bar = add("rect", {
      x,
      y: height - pad.bottom - h,
      width: Math.max(1, slot * 0.7),
      height: h,
      class: "bar",
      "data-day": day,
      "data-count": count,
    });
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${day}: ${count}`;
    bar.append(title);
    if (i % labelEvery === 0) {
      add("text", { x: x + slot * 0.35, y: height - 6, "text-anchor": "middle", class: "tick" }, day.slice(5));
    }
  });
  return svg;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

const both = (d) => `${duration(d.median_seconds)} / ${duration(d.p90_seconds)}`;

function agentsTable(rows) {
  return table(
    ["Agent", "Conversations replied", "Replies", "First response (median / p90)", "… office hours", "Time to close (median / p90)", "… office hours"],
    rows.map((r) => [
      r.agent_id ? agentName(r.agent_id) : "Nobody (system)",
      String(r.conversations_replied),
      String(r.replies_sent),
      both(r.first_response),
      both(r.first_response_office_hours),
      both(r.time_to_close),
      both(r.time_to_close_office_hours),
    ]),
  );
}

const percent = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`);
const flowName = (id) => state.chatflows.get(id) ?? `Chatflow ${id.slice(-6)}`;

function botsTable(rows) {
  return table(
    ["Chatflow", "Started", "Completed", "Handed off", "Abandoned", "In progress", "Resolution rate"],
    rows.map((r) => [
      flowName(r.chatflow_id),
      String(r.started),
      String(r.completed),
      String(r.handed_off),
      String(r.abandoned),
      String(r.in_progress),
      percent(r.resolution_rate),
    ]),
  );
}

function stepsTable(rows) {
  return table(
    ["Chatflow · step", "Entered", "Completed", "Handed off", "Abandoned", "Drop-off"],
    rows.map((r) => [
      `${flowName(r.chatflow_id)} · ${r.step}`,
      String(r.entered),
      String(r.completed),
      String(r.handed_off),
      String(r.abandoned),
      dropOff(r.drop_off_rate),
    ]),
  );
}

/// A small bar and the percentage; the width is set through the CSSOM (the app's CSP refuses
/// inline style attributes).
function dropOff(rate) {
  const bar = el("span", { class: "dropoff-bar" });
  bar.style.width = `${Math.round((rate ?? 0) * 60)}px`;
  return el("span", { class: "dropoff" }, bar, percent(rate));
}
