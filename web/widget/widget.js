// Parley chat widget, mounted by loader.js into a shadow root. Plain DOM, no framework.
//
// Delivery follows docs/protocol.md: items are kept by `seq` (each shown once, in order); after
// any reconnect the widget subscribes with the last `seq` it has; a message is kept in the
// outbox (also in localStorage) with its `client_id` until acked, and resent with the same id,
// so a reload or a server restart loses nothing and doubles nothing.

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10000;
const TYPING_IDLE_MS = 3000;

export function mount(root, config) {
  const widget = new Widget(root, config);
  widget.start().catch((e) => console.warn("Parley widget:", e));
  return widget;
}

class Widget {
  constructor(root, { base, account, channel, identity, fetch: fetcher, WebSocket: Socket }) {
    this.root = root;
    this.identity = identity;
    this.fetch = fetcher || window.fetch.bind(window);
    this.Socket = Socket || window.WebSocket;
    this.base = base;
    this.account = account;
    this.channel = channel;
    this.key = `parley:${channel}`;
    this.items = new Map(); // seq -> item
    this.lastSeq = 0;
    this.conversation = null;
    this.outbox = this.load("outbox", []); // [{client_id, body}]
    this.socket = null;
    this.ready = false;
    this.retry = RETRY_MIN_MS;
    this.agentRead = 0;
    // The newest item shown with the chat open ({conversation, seq}): later agent messages count
    // as unread on the closed launcher, across page loads.
    this.seen = this.load("seen", null);
    this.unread = 0;
    this.typingSent = false;
    this.typingTimer = null;
    this.agentTypingTimer = null;
  }

  load(name, fallback) {
    try {
      const raw = localStorage.getItem(`${this.key}:${name}`);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  }

  forget(name) {
    try {
      localStorage.removeItem(`${this.key}:${name}`);
    } catch {
      // Blocked storage held nothing.
    }
  }

  save(name, value) {
    try {
      localStorage.setItem(`${this.key}:${name}`, JSON.stringify(value));
    } catch {
      // Storage may be full or blocked; the widget still works for this page view.
    }
  }

  async start() {
    const returning = this.load("token", null) !== null;
    const page = new URL(location.href);
    const query = new URLSearchParams({
      account_id: this.account,
      channel_id: this.channel,
      url: page.href,
      referrer: document.referrer,
      returning: String(returning),
    });
    const answer = await this.fetch(`${this.base}/api/v1/widget/chatflow?${query}`);
    if (answer.status === 204) return; // no chatflow targets this page: no widget
    if (!answer.ok) throw new Error(`chatflow: ${answer.status}`);
    this.chatflow = await answer.json();
    this.render();
    if (this.chatflow.availability && this.chatflow.availability.status === "away") this.askEmail();
    if (returning || this.outbox.length > 0) this.connect();
  }

  render() {
    const branding = this.chatflow.branding || {};
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = `${this.base}/widget/widget.css`;
    const shell = el("div", { class: "parley" });
    if (branding.color) shell.style.setProperty("--accent", branding.color);
    const launcher = el("button", { class: "launcher", type: "button", "aria-label": "Open chat" });
    const badge = el("span", { class: "badge", hidden: "" });
    launcher.append(chatIcon(), badge);
    const panel = el("section", { class: "panel", role: "dialog", "aria-label": "Chat", hidden: "" });
    const header = el("header", { class: "header" });
    if (branding.avatar_url) header.append(el("img", { class: "avatar", src: branding.avatar_url, alt: "" }));
    const titles = el("div", { class: "titles" });
    titles.append(el("strong", { class: "name" }, branding.display_name || "Chat"));
    titles.append(el("span", { class: "availability" }, availabilityText(this.chatflow.availability)));
    header.append(titles);
    const close = el("button", { class: "close", type: "button", "aria-label": "Close chat" }, "×");
    header.append(close);
    const log = el("ol", { class: "log", "aria-live": "polite" });
    if (branding.welcome_message) log.append(bubble("welcome agent", branding.welcome_message));
    const typing = el("div", { class: "typing", hidden: "" }, "typing…");
    const status = el("div", { class: "status", hidden: "" });
    const form = el("form", { class: "compose" });
    const input = el("textarea", { rows: "1", placeholder: "Write a message…", "aria-label": "Message", maxlength: "20000" });
    const send = el("button", { type: "submit", class: "send" }, "Send");
    form.append(input, send);
    panel.append(header, log, typing, status, form);
    if (branding.meeting_link) {
      const meet = el("a", { class: "meeting", href: branding.meeting_link, target: "_blank", rel: "noopener" }, "Book a meeting");
      panel.insertBefore(meet, form);
    }
    shell.append(launcher, panel);
    // Unstyled until the stylesheet is in: shown then (or without it, if it cannot load).
    shell.hidden = true;
    style.onload = style.onerror = () => (shell.hidden = false);
    this.root.append(style, shell);
    this.ui = { shell, launcher, badge, panel, log, typing, status, input, form };

    launcher.addEventListener("click", () => this.open(true));
    close.addEventListener("click", () => this.open(false));
    panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.open(false);
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    input.addEventListener("input", () => this.typed());
    for (const pending of this.outbox) this.showPending(pending);
    // Reopened as the visitor left it, without taking the page's focus (on a phone, focusing
    // the message box would pop up the keyboard on every page load).
    if (this.load("open", false)) this.open(true, false);
  }

  open(yes, focus = true) {
    this.ui.panel.hidden = !yes;
    this.ui.launcher.hidden = yes;
    this.save("open", yes);
    if (yes) {
      this.unread = 0;
      this.showUnread();
      if (focus) this.ui.input.focus();
      this.markRead();
      if (!this.socket) this.connect();
    } else if (focus) {
      this.ui.launcher.focus();
    }
  }

  async token() {
    let token = this.load("token", null);
    // A token is kept for the identity it was made with (none, or the signed-in user's).
    const who = this.identity ? this.identity.hash : "";
    if (token && this.load("who", "") === who) return token;
    const answer = await this.fetch(`${this.base}/api/v1/widget/visitors`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ account_id: this.account, channel_id: this.channel, ...(this.identity && { identity: this.identity }) }),
    });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.message || `visitor: ${answer.status}`);
    token = body.token;
    this.save("token", token);
    this.save("who", who);
    return token;
  }

  async connect() {
    // One attempt at a time: a second caller (a click and a send in quick succession) would
    // otherwise ask for a second visitor token and open a second socket.
    if (this.socket || this.connecting) return;
    this.connecting = true;
    let token;
    try {
      token = await this.token();
    } catch (e) {
      this.showStatus("Chat is unavailable right now.");
      return this.reconnectLater();
    } finally {
      this.connecting = false;
    }
    const url = new URL(`/ws/visitor`, this.base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = new URLSearchParams({ account_id: this.account, channel_id: this.channel });
    const socket = new this.Socket(url);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token }));
    socket.onmessage = (event) => this.onFrame(JSON.parse(event.data));
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.ready || this.outbox.length > 0) this.showStatus("Reconnecting…");
      this.ready = false;
      this.reconnectLater();
    };
  }

  reconnectLater() {
    setTimeout(() => this.connect(), this.retry);
    this.retry = Math.min(this.retry * 2, RETRY_MAX_MS);
  }

  frame(frame) {
    if (this.socket && this.ready) this.socket.send(JSON.stringify(frame));
  }

  onFrame(frame) {
    switch (frame.type) {
      case "hello":
        this.ready = true;
        this.retry = RETRY_MIN_MS;
        this.showStatus(null);
        if (frame.conversation) {
          this.follow(frame.conversation.id);
          this.frame({ type: "subscribe", after_seq: this.lastSeq });
        }
        for (const pending of this.outbox) this.sendFrame(pending);
        break;
      case "item":
        this.addItem(frame.item);
        break;
      case "ack": {
        this.outbox = this.outbox.filter((p) => p.client_id !== frame.client_id);
        this.save("outbox", this.outbox);
        if (this.follow(frame.conversation_id)) this.frame({ type: "subscribe", after_seq: this.lastSeq });
        break;
      }
      case "typing":
        if (frame.agent_id) this.showAgentTyping(frame.state === "start");
        break;
      case "read":
        if (frame.agent_id) {
          this.agentRead = Math.max(this.agentRead, frame.seq);
          this.showRead();
        }
        break;
      case "error":
        if ((frame.code === "rate_limited" || frame.code === "unavailable") && frame.client_id) {
          // Refused for now, not for good: the message stays pending and goes again shortly.
          setTimeout(() => this.resend(frame.client_id), 1000);
          break;
        }
        if (frame.client_id) this.fail(frame.client_id); // refused for good: never resent
        if (frame.code === "not_found" && !this.conversation) break; // nothing to resume yet
        if (frame.code === "unauthenticated") {
          this.forget("token"); // a forgotten or revoked token: start as a new visitor
        }
        if (frame.client_id) this.showStatus(frame.message);
        break;
    }
  }

  // Answers whether `id` is a conversation other than the one followed so far. A new one (the
  // last was closed) numbers its items from 1 again: what is shown stays, as history.
  follow(id) {
    if (this.conversation === id) return false;
    if (this.conversation !== null) {
      for (const n of this.ui.log.querySelectorAll("[data-seq]")) n.removeAttribute("data-seq");
      this.items.clear();
      this.lastSeq = 0;
      this.agentRead = 0;
    }
    this.conversation = id;
    return true;
  }

  addItem(item) {
    if (this.items.has(item.seq) || item.kind === "comment") return;
    this.items.set(item.seq, item);
    this.lastSeq = Math.max(this.lastSeq, item.seq);
    for (const old of this.ui.log.querySelectorAll(".replies")) old.remove();
    if (item.kind === "event" && item.data && item.data.type === "bot.quick_replies") {
      return this.showQuickReplies(item.data.replies || []);
    }
    if (item.kind !== "message") return;
    const mine = item.direction === "in";
    if (mine && item.client_id) {
      const pending = this.ui.log.querySelector(`[data-client-id="${item.client_id}"]`);
      if (pending) pending.remove();
    }
    const node = bubble(mine ? "visitor" : "agent", item.body);
    node.dataset.seq = item.seq;
    // Items arrive in seq order; insert by seq anyway so a late one cannot land out of place.
    const after = [...this.ui.log.querySelectorAll("[data-seq]")].find((n) => Number(n.dataset.seq) > item.seq);
    const firstPending = this.ui.log.querySelector("[data-client-id]");
    this.ui.log.insertBefore(node, after || firstPending || null);
    if (!mine) this.showAgentTyping(false);
    const seen = this.seen && this.seen.conversation === this.conversation && item.seq <= this.seen.seq;
    if (!mine && this.ui.panel.hidden && !seen) {
      this.unread += 1;
      this.showUnread();
    }
    this.showRead();
    this.scroll();
    this.markRead();
  }

  resend(clientId) {
    const pending = this.outbox.find((p) => p.client_id === clientId);
    if (pending) this.sendFrame(pending);
  }

  fail(clientId) {
    this.outbox = this.outbox.filter((p) => p.client_id !== clientId);
    this.save("outbox", this.outbox);
    const node = this.ui.log.querySelector(`[data-client-id="${clientId}"]`);
    if (node) node.classList.replace("pending", "failed");
  }

  submit() {
    const body = this.ui.input.value.trim();
    if (!body) return;
    this.ui.input.value = "";
    const pending = { client_id: clientId(), body };
    this.outbox.push(pending);
    this.save("outbox", this.outbox);
    this.showPending(pending);
    this.stopTyping();
    if (this.ready) this.sendFrame(pending);
    else this.connect();
  }

  // The chatflow shown goes with every message: one that starts a conversation starts its bot.
  sendFrame(pending) {
    this.frame({ type: "send", chatflow_id: this.chatflow.chatflow_id, ...pending });
  }

  // A bot's choices: buttons that answer with the choice, gone once anything else is said.
  showQuickReplies(replies) {
    const row = el("li", { class: "replies" });
    for (const reply of replies) {
      const button = el("button", { type: "button", class: "reply" }, reply.label);
      button.addEventListener("click", () => {
        this.ui.input.value = reply.label;
        this.submit();
      });
      row.append(button);
    }
    this.ui.log.append(row);
    this.scroll();
  }

  // Away: ask for an email so the team can answer later (the contact gets it).
  askEmail() {
    if (this.load("email", false)) return;
    const form = el("form", { class: "email" });
    const input = el("input", { type: "email", required: "", placeholder: "you@example.com", "aria-label": "Your email" });
    form.append(el("span", {}, "Leave your email and we'll get back to you:"), input, el("button", { type: "submit" }, "Save"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const answer = await this.fetch(`${this.base}/api/v1/widget/visitor/email`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${await this.token()}` },
          body: JSON.stringify({ email: input.value.trim() }),
        });
        if (!answer.ok) throw new Error((await answer.json()).message);
        this.save("email", true);
        form.replaceWith(el("p", { class: "email" }, "Thanks! We'll email you."));
      } catch (err) {
        this.showStatus(err.message || "Could not save your email.");
      }
    });
    this.ui.panel.insertBefore(form, this.ui.form);
  }

  showPending(pending) {
    const node = bubble("visitor pending", pending.body);
    node.dataset.clientId = pending.client_id;
    this.ui.log.append(node);
    this.scroll();
  }

  typed() {
    if (!this.conversation) return;
    if (!this.typingSent) {
      this.typingSent = true;
      this.frame({ type: "typing", state: "start" });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSent) this.frame({ type: "typing", state: "stop" });
    this.typingSent = false;
  }

  showAgentTyping(on) {
    this.ui.typing.hidden = !on;
    clearTimeout(this.agentTypingTimer);
    // A lost `stop` must not leave the indicator on for good.
    if (on) this.agentTypingTimer = setTimeout(() => this.showAgentTyping(false), 2 * TYPING_IDLE_MS);
  }

  markRead() {
    if (!this.ui.panel.hidden && this.conversation && this.lastSeq > 0) {
      this.seen = { conversation: this.conversation, seq: this.lastSeq };
      this.save("seen", this.seen);
      this.frame({ type: "read", seq: this.lastSeq });
    }
  }

  showRead() {
    for (const n of this.ui.log.querySelectorAll(".seen")) n.classList.remove("seen");
    const mine = [...this.ui.log.querySelectorAll(".visitor[data-seq]")].filter((n) => Number(n.dataset.seq) <= this.agentRead);
    if (mine.length) mine[mine.length - 1].classList.add("seen");
  }

  showUnread() {
    const n = this.unread;
    this.ui.badge.hidden = n === 0;
    this.ui.badge.textContent = n > 9 ? "9+" : String(n);
    this.ui.launcher.setAttribute("aria-label", n ? `Open chat (${n} unread)` : "Open chat");
  }

  showStatus(text) {
    this.ui.status.hidden = !text;
    this.ui.status.textContent = text || "";
  }

  scroll() {
    this.ui.log.scrollTop = this.ui.log.scrollHeight;
  }
}

// `crypto.randomUUID` exists only in secure contexts; many sites are still plain HTTP.
function clientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function availabilityText(availability) {
  if (!availability) return "";
  if (availability.status === "open") {
    return availability.typically_replies_in ? `Typically replies in ${availability.typically_replies_in}` : "Online";
  }
  return availability.message || "We're away right now";
}

// Drawn, not an emoji: a machine without an emoji font would show an empty box.
function chatIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2h-9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

function bubble(kind, text) {
  const node = el("li", { class: `bubble ${kind}` });
  node.textContent = text; // never HTML: a message is text
  return node;
}

function el(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}
