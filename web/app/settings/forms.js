// Form pieces every settings screen shares: labelled fields that know which API field they
// edit, so an error the server answers (`{message, field}`) is shown in words next to the form
// and under the field it names; submit handling that disables the form while it is sent.

import { loadDirectory } from "../context.js";
import { $, $$, el } from "../ui.js";

let counter = 0;

/// A fresh element id for label/field pairs.
export function uid(prefix = "sf") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/// A labelled control. `field` is the API field it edits (defaults to the control's name);
/// errors whose `field` starts with it are shown under it.
export function field(labelText, control, { field: apiField, hint } = {}) {
  control.id ||= uid();
  const hintNode = hint ? el("small", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  const error = el("small", { class: "field-error", id: `${control.id}-error` });
  control.setAttribute(
    "aria-describedby",
    [hintNode?.id, error.id].filter(Boolean).join(" "),
  );
  return el(
    "div",
    { class: "field", dataset: { field: apiField ?? control.name ?? "", label: labelText } },
    el("label", { for: control.id }, labelText),
    control,
    hintNode,
    error,
  );
}

/// A checkbox with its label on the right.
export function checkbox(labelText, name, checked, { field: apiField } = {}) {
  const input = el("input", { type: "checkbox", name, checked: Boolean(checked) });
  return el(
    "div",
    { class: "field check", dataset: { field: apiField ?? name, label: labelText } },
    el("label", {}, input, ` ${labelText}`),
    el("small", { class: "field-error" }),
  );
}

export function input(name, value = "", props = {}) {
  return el("input", { name, value: value ?? "", type: "text", ...props });
}

export function textarea(name, value = "", props = {}) {
  return el("textarea", { name, rows: 3, ...props }, value ?? "");
}

/// `options`: `[[value, label], ...]`.
export function select(name, options, current, props = {}) {
  return el(
    "select",
    { name, ...props },
    options.map(([value, label]) =>
      el("option", { value, selected: String(value) === String(current ?? "") }, label),
    ),
  );
}

/// Checkboxes for picking agents (members, routing targets); `name` is shared by all.
export function agentPicker(legend, name, agents, chosen, { field: apiField } = {}) {
  const set = new Set(chosen ?? []);
  const boxes = agents.length
    ? agents.map((a) =>
        el(
          "label",
          { class: "pick" },
          el("input", { type: "checkbox", name, value: a.id, checked: set.has(a.id) }),
          ` ${a.profile?.display_name || a.email}`,
          a.active ? null : el("span", { class: "muted" }, " (deactivated)"),
        ),
      )
    : [el("p", { class: "muted" }, "No agents yet — create one under Agents.")];
  return el(
    "fieldset",
    { class: "field picker", dataset: { field: apiField ?? name, label: legend } },
    el("legend", {}, legend),
    el("div", { class: "picks" }, boxes),
    el("small", { class: "field-error" }),
  );
}

/// The values of the checked boxes named `name`.
export function checked(form, name) {
  return $$(`input[name="${name}"]:checked`, form).map((n) => n.value);
}

/// One value per line (or comma), trimmed, blanks dropped.
export function lines(text) {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/// A form with a heading, an error line and a submit button. `onSubmit(form)` may throw an
/// ApiError: its message is shown next to the form and under the field it names. `onError`
/// may show it somewhere better first (answer true to skip the field lookup).
export function form({ title, submit = "Save", onSubmit, onError, className = "" }, ...children) {
  const error = el("p", { class: "error form-error", role: "alert" });
  const status = el("span", { class: "saved", role: "status" });
  const button = el("button", { type: "submit", class: "primary" }, submit);
  const node = el(
    "form",
    { class: `card ${className}`.trim(), novalidate: true },
    title ? el("h3", {}, title) : null,
    // `el` flattens one level; screens pass lists of fields inside the list of children.
    children.flat(Infinity),
    error,
    el("div", { class: "form-actions" }, button, status),
  );
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(node);
    status.textContent = "";
    button.disabled = true;
    try {
      await onSubmit(node);
      status.textContent = "Saved.";
    } catch (e) {
      if (!onError?.(e, node)) showFormError(node, e);
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

export function clearFormError(form) {
  $(".form-error", form).textContent = "";
  for (const n of $$(".field-error", form)) n.textContent = "";
  for (const n of $$("[aria-invalid]", form)) n.removeAttribute("aria-invalid");
}

/// Shows `e` in words next to `form`, naming the field, and under that field when the form has
/// it (the field whose `data-field` is the longest prefix of the error's `field`).
export function showFormError(form, e) {
  const best = fieldFor(form, e.field);
  const label = best?.dataset.label;
  const where = label ?? (e.field ? friendlyPath(e.field) : null);
  $(".form-error", form).textContent = where ? `${where}: ${e.message}` : e.message;
  if (best) {
    const slot = $(".field-error", best);
    if (slot) slot.textContent = e.message;
    const control = $("input, select, textarea", best);
    control?.setAttribute("aria-invalid", "true");
    control?.focus();
  }
}

export function fieldFor(form, path) {
  if (!path) return null;
  let best = null;
  for (const node of $$("[data-field]", form)) {
    const f = node.dataset.field;
    if (!f) continue;
    const fits = path === f || path.startsWith(`${f}.`) || path.startsWith(`${f}[`);
    if (fits && (!best || f.length > best.dataset.field.length)) best = node;
  }
  return best;
}

/// `routing.target.agent_ids[0]` → "routing › target › agent ids [0]".
export function friendlyPath(path) {
  return path.replaceAll("_", " ").replaceAll(".", " › ");
}

/// A placeholder for an empty list, with what to do about it.
export function empty(text) {
  return el("p", { class: "empty" }, text);
}

/// A read-only value with a Copy button (fallback address, snippet).
export function copyable(labelText, value, { multiline = false, className = "" } = {}) {
  const id = uid("copy");
  const control = multiline
    ? el("textarea", { id, readonly: true, rows: 3, class: "copy-value" }, value)
    : el("input", { id, readonly: true, value, class: "copy-value" });
  const done = el("span", { class: "saved", role: "status" });
  const button = el(
    "button",
    {
      type: "button",
      class: "copy",
      onclick: async () => {
        done.textContent = (await copy(control)) ? "Copied." : "Select the text and copy it.";
      },
    },
    "Copy",
  );
  return el(
    "div",
    { class: `field copyable ${className}`.trim() },
    el("label", { for: id }, labelText),
    el("div", { class: "copy-row" }, control, button, done),
  );
}

async function copy(control) {
  control.select();
  try {
    await navigator.clipboard.writeText(control.value);
    return true;
  } catch {
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
}

/// A heading row with a back link to the list.
export function back(text, hash) {
  return el("a", { class: "back", href: hash }, `← ${text}`);
}

/// "Name" or email of an agent.
export function agentLabel(agent) {
  return agent.profile?.display_name || agent.email;
}

/// Replaces `page`'s content with `nodes`, nested lists flattened and empty slots skipped.
export function draw(page, ...nodes) {
  page.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}

/// Reloads the names other views show after a change; the change itself is already saved, so a
/// failure here is not the form's error (names catch up at the next load).
export async function refreshNames() {
  try {
    await loadDirectory();
  } catch {
    // Shown names may lag until the next reload.
  }
}
