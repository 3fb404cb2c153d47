// Parley inbox app shell: login and logout, the agent socket, and the views (inbox, tickets,
// settings, preferences) chosen by the location hash `#/{view}/...`.
//
// Each view module exports `mount()` (once, wires its listeners), `enter()` (after login),
// `leave()` (at logout: forget everything of the agent) and `show(rest)` (navigated to, with the
// hash's remaining parts). Views talk to each other through `context.js`.

import { api, csrfToken, setCsrfToken } from "./api.js";
import { ctx, emitFrame, go, isAdmin, loadDirectory, onFrame } from "./context.js";
import * as inbox from "./inbox.js";
import * as notify from "./notify.js";
import * as preferences from "./preferences.js";
import * as reports from "./reports.js";
import * as settings from "./settings.js";
import { AgentSocket } from "./socket.js";
import * as tickets from "./tickets.js";
import { $, $$, clearError, showError } from "./ui.js";

const VIEWS = { inbox, tickets, reports, settings, preferences };
/// Parts of the app that live in every view.
const PARTS = [notify];

// --- login -------------------------------------------------------------------------------

function showLogin(message = "") {
  $("#main").hidden = true;
  $("#login").hidden = false;
  $("#login .error").textContent = message;
  $("#login [name=email]").focus();
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button");
  button.disabled = true;
  form.querySelector(".error").textContent = "";
  try {
    const answer = await api("POST", "/auth/login", {
      email: form.email.value,
      password: form.password.value,
    });
    setCsrfToken(answer.csrf_token);
    form.password.value = "";
    enter(answer.agent);
  } catch (e) {
    form.querySelector(".error").textContent = e.message;
    form.password.select();
  } finally {
    button.disabled = false;
  }
}

async function onLogout() {
  try {
    await api("POST", "/auth/logout");
  } catch {
    // The session ends here either way.
  }
  leave();
  showLogin();
}

function enter(agent) {
  ctx.agent = agent;
  $("#login").hidden = true;
  $("#main").hidden = false;
  $(".me").textContent = agent.profile?.display_name || agent.email;
  for (const node of $$(".admin-only")) node.hidden = !isAdmin();
  clearError();
  ctx.socket = new AgentSocket({
    onFrame: emitFrame,
    onUp: (frame) => {
      $("#banner").hidden = true;
      emitFrame({ ...frame, type: "up" });
    },
    onDown,
  });
  ctx.socket.start();
  loadDirectory().catch((e) => showError(`Names could not be loaded: ${e.message}`));
  for (const part of [...Object.values(VIEWS), ...PARTS]) part.enter();
  route();
}

function leave() {
  ctx.socket?.stop();
  for (const part of [...Object.values(VIEWS), ...PARTS]) part.leave();
  setCsrfToken(null);
  ctx.agent = null;
  ctx.socket = null;
  $("#banner").hidden = true;
}

function onDown(reason) {
  emitFrame({ type: "down", reason });
  // Refused for want of a session, the next REST call says so in words (and ends the session).
  if (reason !== "unauthenticated") $("#banner").hidden = false;
}

// --- views ---------------------------------------------------------------------------------

function route() {
  if (!ctx.agent) return;
  const [name, ...rest] = location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map(decodeURIComponent);
  const view = VIEWS[name] && (name !== "settings" || isAdmin()) ? name : "inbox";
  for (const [key, module] of Object.entries(VIEWS)) {
    $(`#view-${key}`).hidden = key !== view;
    $(`.top [data-view="${key}"]`)?.toggleAttribute("aria-current", key === view);
    if (key === view) module.show(rest);
  }
}

// --- start ---------------------------------------------------------------------------------

async function boot() {
  $("#login").addEventListener("submit", onLogin);
  $(".logout").addEventListener("click", onLogout);
  for (const button of $$(".top [data-view]")) {
    button.addEventListener("click", () => go(button.dataset.view));
  }
  window.addEventListener("hashchange", route);
  onFrame("session_ended", () => {
    leave();
    showLogin("Your session has ended; log in again.");
  });
  for (const part of [...Object.values(VIEWS), ...PARTS]) part.mount();
  if (!csrfToken()) {
    showLogin();
    return;
  }
  try {
    const me = await api("GET", "/auth/me");
    enter(me.agent ?? me);
  } catch {
    setCsrfToken(null);
    showLogin();
  }
}

boot();
