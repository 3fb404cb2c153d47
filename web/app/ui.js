// Small DOM helpers shared by every view. User content only ever becomes text nodes: `el` sets
// `textContent` for strings and never touches `innerHTML`.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/// `el("button", { type: "button", class: "x", onclick: f, dataset: { id } }, "text", child)`.
/// Properties starting with `on` become listeners, `class` the class name, `dataset` data
/// attributes, `hidden`/`disabled`/`checked`/`value` properties; everything else an attribute.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (["hidden", "disabled", "checked", "value", "selected", "required"].includes(key)) {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function showError(message) {
  $(".global").textContent = message;
}

export function clearError(prefix) {
  const global = $(".global");
  if (!prefix || global.textContent.startsWith(prefix)) global.textContent = "";
}

/// "14:05" today, "Nov 3, 14:05" otherwise, in the browser's time zone.
export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (today) return time;
  return `${date.toLocaleDateString([], { month: "short", day: "numeric" })}, ${time}`;
}

/// A v4 UUID; `crypto.randomUUID` exists only in secure contexts.
export function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
