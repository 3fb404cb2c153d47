// Parley form: renders a form channel into each <div data-parley-form="CHANNEL_ID"> of the
// page and submits it to Parley. Embedded with the snippet from the channel's settings:
//   <div data-parley-form="ID"></div>
//   <script src="https://PARLEY/widget/form.js" data-parley-form="ID" async></script>
// Written without import/export so it runs as a classic script or as a module alike. Renders
// into the page's own DOM (the site's styles apply; a few defaults are added, all under
// `.parley-form`). Everything that comes from the form or the server is set as text, never HTML.
(() => {
  const script =
    document.currentScript || document.querySelector('script[src*="/widget/form.js"]');
  if (!script) return;
  const base = new URL(script.src, location.href).origin;
  // The page may later replace fetch; keep the one there when the form loaded.
  const send = window.fetch.bind(window);
  const DEFAULT_THANKS = "Thank you! We received your message and will get back to you soon.";
  const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

  const el = (tag, props = {}, children = []) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key in node && !key.includes("-")) node[key] = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  };

  const addStyles = () => {
    if (document.getElementById("parley-form-styles")) return;
    const style = el("style", { id: "parley-form-styles" });
    style.textContent = `
      .parley-form { display: grid; gap: 0.9em; max-width: 32em; }
      .parley-form-field { display: grid; gap: 0.3em; }
      .parley-form input, .parley-form select, .parley-form textarea {
        font: inherit; padding: 0.45em 0.6em; border: 1px solid #9aa1ab; border-radius: 4px; }
      .parley-form [aria-invalid="true"] { border-color: #b42318; }
      .parley-form-error { color: #b42318; font-size: 0.9em; min-height: 0; }
      .parley-form-error:empty { display: none; }
      .parley-form-required { color: #b42318; }
      .parley-form button { font: inherit; padding: 0.5em 1.2em; justify-self: start; cursor: pointer; }
      .parley-form-trap { position: absolute !important; left: -10000px !important; top: auto !important;
        width: 1px !important; height: 1px !important; overflow: hidden !important; }
    `;
    document.head.append(style);
  };

  /** One input for a field, by kind. */
  const control = (field, id, errorId) => {
    const common = { id, name: field.name, "aria-describedby": errorId };
    if (field.required) common["aria-required"] = "true";
    switch (field.kind) {
      case "textarea":
        return el("textarea", { ...common, rows: 5 });
      case "select": {
        const select = el("select", common, [el("option", { value: "", text: "Choose…" })]);
        for (const option of field.options || []) {
          select.append(el("option", { value: option, text: option }));
        }
        return select;
      }
      case "email":
        return el("input", { ...common, type: "email", autocomplete: "email" });
      case "phone":
        return el("input", { ...common, type: "tel", autocomplete: "tel" });
      case "number":
        return el("input", { ...common, type: "text", inputMode: "decimal" });
      default:
        return el("input", {
          ...common,
          type: "text",
          autocomplete: field.name === "name" ? "name" : "off",
        });
    }
  };

  /** What the browser can tell before sending: required fields, an email's shape, a number. */
  const localError = (field, value) => {
    if (!value) return field.required ? `${field.label} is required` : "";
    if (field.kind === "email" && !EMAIL.test(value)) return `${field.label} must be an email address`;
    if (field.kind === "number" && !Number.isFinite(Number(value))) {
      return `${field.label} must be a number`;
    }
    return "";
  };

  const render = async (target) => {
    const id = target.dataset.parleyForm;
    if (!id || target.dataset.parleyRendered) return;
    target.dataset.parleyRendered = "true";
    let form;
    try {
      const response = await send(`${base}/api/v1/forms/${encodeURIComponent(id)}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      form = await response.json();
    } catch (e) {
      console.warn("Parley form could not load", e);
      target.replaceChildren(el("p", { text: "This form is not available right now." }));
      return;
    }
    addStyles();
    const prefix = `parley-${id.slice(0, 8)}`;
    const node = el("form", { className: "parley-form", noValidate: true, "aria-label": form.name });
    const inputs = new Map();
    for (const field of form.fields) {
      const inputId = `${prefix}-${field.name}`;
      const errorId = `${inputId}-error`;
      const label = el("label", { htmlFor: inputId, text: field.label });
      if (field.required) {
        label.append(" ", el("span", { className: "parley-form-required", "aria-hidden": "true", text: "*" }));
      }
      const input = control(field, inputId, errorId);
      const error = el("div", { id: errorId, className: "parley-form-error", "aria-live": "polite" });
      inputs.set(field.name, { field, input, error });
      node.append(el("div", { className: "parley-form-field" }, [label, input, error]));
    }
    // The honeypot: out of sight, out of the tab order, and hidden from screen readers. People
    // leave it empty; bots that fill every input do not.
    const trap = el("input", {
      type: "text",
      name: form.honeypot,
      tabIndex: -1,
      autocomplete: "off",
      id: `${prefix}-${form.honeypot}`,
    });
    node.append(
      el("div", { className: "parley-form-trap", "aria-hidden": "true" }, [
        el("label", { htmlFor: trap.id, text: "Leave this field empty" }),
        trap,
      ]),
    );
    const general = el("div", { className: "parley-form-error", role: "alert" });
    const button = el("button", { type: "submit", text: "Send" });
    node.append(general, button);

    const showError = (name, message) => {
      const entry = inputs.get(name);
      if (!entry) {
        general.textContent = message;
        return;
      }
      entry.error.textContent = message;
      entry.input.setAttribute("aria-invalid", "true");
    };
    const clearErrors = () => {
      general.textContent = "";
      for (const { input, error } of inputs.values()) {
        error.textContent = "";
        input.removeAttribute("aria-invalid");
      }
    };

    node.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors();
      const body = {};
      let first = null;
      for (const [name, { field, input }] of inputs) {
        const value = input.value.trim();
        const problem = localError(field, value);
        if (problem) {
          showError(name, problem);
          first = first || input;
        }
        if (value) body[name] = value;
      }
      if (first) {
        first.focus();
        return;
      }
      body[form.honeypot] = trap.value;
      button.disabled = true;
      button.textContent = "Sending…";
      try {
        const response = await send(
          `${base}/api/v1/forms/${encodeURIComponent(id)}/submissions`,
          {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          },
        );
        const answer = await response.json().catch(() => ({}));
        if (response.ok) {
          const thanks = el("p", {
            className: "parley-form-thanks",
            role: "status",
            tabIndex: -1,
            text: answer.thank_you || form.thank_you || DEFAULT_THANKS,
          });
          node.replaceWith(thanks);
          thanks.focus();
          return;
        }
        showError(answer.field, answer.message || `Sending failed (HTTP ${response.status}).`);
        inputs.get(answer.field)?.input.focus();
      } catch {
        showError(null, "Sending failed: check your connection and try again.");
      }
      button.disabled = false;
      button.textContent = "Send";
    });
    target.replaceChildren(node);
  };

  const start = () => {
    for (const target of document.querySelectorAll("div[data-parley-form]")) render(target);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
