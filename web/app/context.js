// What every view of the app shares: the signed-in agent, the agent socket's frames, and the
// account's directory (agents, teams, inboxes, channels) used to show names instead of ids.

import { api } from "./api.js";

export const ctx = {
  /// The signed-in agent (`GET /auth/me`), null when logged out.
  agent: null,
  /// The AgentSocket, null when logged out.
  socket: null,
  /// Every socket frame is dispatched here as an Event named by its `type` with the frame as
  /// `detail`; `up` and `down` tell when the socket (re)connects or drops.
  frames: new EventTarget(),
  directory: { agents: [], teams: [], inboxes: [], channels: [] },
};

/// Calls `handler(frame)` for each socket frame of this type (or `up`/`down`).
export function onFrame(type, handler) {
  ctx.frames.addEventListener(type, (event) => handler(event.detail));
}

export function emitFrame(frame) {
  ctx.frames.dispatchEvent(new CustomEvent(frame.type, { detail: frame }));
}

export function isAdmin() {
  return ctx.agent?.role === "admin";
}

/// Loads what names are shown from; a failure leaves the previous directory (ids show instead).
export async function loadDirectory() {
  const [agents, teams, inboxes, channels] = await Promise.all([
    api("GET", "/agents"),
    api("GET", "/teams"),
    api("GET", "/inboxes"),
    api("GET", "/channels"),
  ]);
  ctx.directory = { agents, teams, inboxes, channels };
  ctx.frames.dispatchEvent(new CustomEvent("directory"));
}

export function agentName(id) {
  if (!id) return "";
  if (id === ctx.agent?.id) return "you";
  const agent = ctx.directory.agents.find((a) => a.id === id);
  return agent ? agent.profile?.display_name || agent.email : "a teammate";
}

export function teamName(id) {
  return ctx.directory.teams.find((t) => t.id === id)?.name ?? "a team";
}

export function inboxName(id) {
  return ctx.directory.inboxes.find((i) => i.id === id)?.name ?? "an inbox";
}

export function channelOf(id) {
  return ctx.directory.channels.find((c) => c.id === id) ?? null;
}

/// Navigates to `#/view/...rest`; the shell shows the view and hands it the rest.
export function go(view, ...rest) {
  const hash = `#/${[view, ...rest].map(encodeURIComponent).join("/")}`;
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
