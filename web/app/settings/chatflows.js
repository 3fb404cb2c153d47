// Settings › Chatflow: what a chat channel's widget shows on which pages. Name, priority and
// on/off; targeting rules as form rows; live-chat settings (availability and branding); and for
// bots the flow: its JSON, a step-by-step preview, and the server's validation error shown at
// the step it concerns (`flow.steps.<id>.<field>`).

import { api } from "../api.js";
import { agentName, teamName } from "../context.js";
import { $, $$, el } from "../ui.js";
import {
  back,
  checkbox,
  draw,
  field,
  form,
  input,
  select,
  showFormError,
  textarea,
  uid,
} from "./forms.js";
import { flowPreview, stepOfField } from "./flow-preview.js";

const RULES = [
  ["url_is", "Page URL is"],
  ["url_contains", "Page URL contains"],
  ["url_starts_with", "Page URL starts with"],
  ["url_wildcard", "Page URL matches (* is anything)"],
  ["query_param_equals", "Query parameter equals"],
  ["visitor_is", "Visitor is"],
];
const REPLIES_IN = [
  ["a_few_minutes", "A few minutes"],
  ["an_hour", "An hour"],
  ["a_few_hours", "A few hours"],
  ["a_day", "A day"],
];
const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

export async function render(page, [id], alive) {
  const chatflow = await api("GET", `/chatflows/${encodeURIComponent(id ?? "")}`);
  if (!alive()) return;
  const title = el("h2", { tabindex: "-1" }, chatflow.name);
  const patch = async (body) => Object.assign(chatflow, await api("PATCH", `/chatflows/${chatflow.id}`, body));
  draw(page, 
    back("Channel", `#/settings/channels/${chatflow.channel_id}`),
    title,
    el("p", { class: "muted" }, chatflow.kind === "bot" ? "Bot chatflow" : "Live chat chatflow"),
    generalForm(chatflow, patch, title),
    targetingForm(chatflow, patch),
    liveChatForm(chatflow, patch),
    chatflow.kind === "bot" ? flowForm(chatflow, patch) : null,
  );
}

function generalForm(chatflow, patch, title) {
  return form(
    {
      title: "General",
      className: "chatflow-general",
      onSubmit: async (f) => {
        await patch({
          name: f.name.value.trim(),
          priority: Number(f.priority.value || 0),
          enabled: f.enabled.checked,
        });
        title.textContent = chatflow.name;
      },
    },
    field("Chatflow name", input("name", chatflow.name)),
    field("Priority", input("priority", String(chatflow.priority), { type: "number" }), {
      hint: "When several chatflows match a page, the lowest priority is shown.",
    }),
    checkbox("Enabled", "enabled", chatflow.enabled),
  );
}

// ----- targeting -------------------------------------------------------------------------

function targetingForm(chatflow, patch) {
  const rows = el("ol", { class: "rules" });
  const none = el("p", { class: "empty" }, "No rules — this chatflow shows on every page.");
  const renumber = () => {
    $$(".rule", rows).forEach((row, i) => {
      row.dataset.field = `targeting[${i}]`;
      row.dataset.label = `Rule ${i + 1}`;
      $("legend", row).textContent = `Rule ${i + 1}`;
      for (const part of $$("[data-part]", row)) {
        part.dataset.field = `targeting[${i}].${part.dataset.part}`;
        part.dataset.label = `Rule ${i + 1} ${part.dataset.partLabel}`;
      }
    });
    none.hidden = rows.children.length > 0;
  };
  const add = (rule) => {
    rows.append(ruleRow(rule, renumber));
    renumber();
  };
  for (const rule of chatflow.targeting ?? []) add(rule);
  renumber();
  const node = form(
    {
      title: "Targeting",
      className: "chatflow-targeting",
      onSubmit: async () => {
        await patch({ targeting: $$(".rule", rows).map(readRule) });
      },
    },
    el("p", { class: "muted" }, "Pages where this chatflow shows: all rules must match."),
    none,
    rows,
    el(
      "button",
      {
        type: "button",
        class: "add-rule",
        onclick: () => {
          add({ kind: "url_contains", value: "" });
          $$(".rule select", rows).at(-1)?.focus();
        },
      },
      "Add rule",
    ),
  );
  return node;
}

function ruleRow(rule, renumber) {
  const row = el("li", { class: "rule" });
  const part = (name, labelText, control) => {
    const wrapper = field(labelText, control);
    wrapper.dataset.part = name;
    wrapper.dataset.partLabel = labelText.toLowerCase();
    return wrapper;
  };
  const kind = select("rule_kind", RULES, rule.kind);
  const nameField = part("name", "Parameter", input("rule_name", rule.name ?? ""));
  const valueText = input("rule_value", rule.kind === "visitor_is" ? "" : (rule.value ?? ""));
  const valueTextField = part("value", "Value", valueText);
  const visitor = select(
    "rule_visitor",
    [
      ["new", "New"],
      ["returning", "Returning"],
    ],
    rule.kind === "visitor_is" ? rule.value : "new",
  );
  const visitorField = part("value", "Visitor", visitor);
  const paint = () => {
    nameField.hidden = kind.value !== "query_param_equals";
    valueTextField.hidden = kind.value === "visitor_is";
    visitorField.hidden = kind.value !== "visitor_is";
  };
  kind.addEventListener("change", paint);
  paint();
  row.append(
    el(
      "fieldset",
      {},
      el("legend", {}, "Rule"),
      part("kind", "Match", kind),
      nameField,
      valueTextField,
      visitorField,
      el(
        "button",
        {
          type: "button",
          class: "remove-rule",
          onclick: () => {
            row.remove();
            renumber();
          },
        },
        "Remove rule",
      ),
    ),
  );
  return row;
}

function readRule(row) {
  const kind = $("[name=rule_kind]", row).value;
  if (kind === "visitor_is") return { kind, value: $("[name=rule_visitor]", row).value };
  const rule = { kind, value: $("[name=rule_value]", row).value.trim() };
  if (kind === "query_param_equals") rule.name = $("[name=rule_name]", row).value.trim();
  return rule;
}

// ----- live chat: availability and branding ----------------------------------------------

function liveChatForm(chatflow, patch) {
  const a = chatflow.availability ?? {};
  const b = chatflow.branding ?? {};
  const alwaysOpen = el("input", { type: "checkbox", name: "always_open", checked: !a.hours });
  const days = el(
    "div",
    { class: "days" },
    DAYS.map((day) =>
      field(
        day[0].toUpperCase() + day.slice(1),
        input(`hours_${day}`, (a.hours?.[day] ?? []).join(", "), { placeholder: "closed" }),
        { field: `availability.hours.${day}` },
      ),
    ),
  );
  const paint = () => {
    days.hidden = alwaysOpen.checked;
  };
  alwaysOpen.addEventListener("change", paint);
  paint();
  return form(
    {
      title: "Live-chat settings",
      className: "chatflow-live",
      onSubmit: async (f) => {
        const hours = f.always_open.checked
          ? undefined
          : Object.fromEntries(
              DAYS.map((day) => [
                day,
                f[`hours_${day}`].value
                  .split(/[,\s]+/)
                  .map((s) => s.trim())
                  .filter(Boolean),
              ]),
            );
        await patch({
          availability: {
            time_zone: f.time_zone.value.trim() || "UTC",
            hours,
            typically_replies_in: f.typically_replies_in.value,
            away_message: f.away_message.value.trim(),
          },
          branding: {
            color: f.color.value,
            welcome_message: f.welcome_message.value.trim(),
            display_name: f.display_name.value.trim(),
            avatar_url: f.avatar_url.value.trim() || null,
            meeting_link: f.meeting_link.value.trim() || null,
          },
        });
      },
    },
    el(
      "fieldset",
      { class: "group" },
      el("legend", {}, "Availability"),
      field("Time zone", input("time_zone", a.time_zone ?? "UTC"), {
        field: "availability.time_zone",
        hint: "An IANA name, e.g. Europe/Paris.",
      }),
      el(
        "div",
        { class: "field check", dataset: { field: "availability.hours", label: "Office hours" } },
        el("label", {}, alwaysOpen, " Always open"),
        el("small", { class: "field-error" }),
      ),
      el("p", { class: "muted", id: uid("hours") }, "Office hours per day: HH:MM-HH:MM, several separated by commas; empty is closed."),
      days,
      field(
        "Typically replies in",
        select("typically_replies_in", REPLIES_IN, a.typically_replies_in ?? "a_few_minutes"),
        { field: "availability.typically_replies_in" },
      ),
      field("Away message", textarea("away_message", a.away_message ?? ""), {
        field: "availability.away_message",
        hint: "Shown outside office hours, when the widget asks for an email.",
      }),
    ),
    el(
      "fieldset",
      { class: "group" },
      el("legend", {}, "Branding"),
      field("Colour", input("color", b.color ?? "#2563eb", { type: "color" }), { field: "branding.color" }),
      field("Welcome message", textarea("welcome_message", b.welcome_message ?? ""), {
        field: "branding.welcome_message",
      }),
      field("Display name", input("display_name", b.display_name ?? ""), {
        field: "branding.display_name",
        hint: "The agent or team the widget shows.",
      }),
      field("Avatar URL", input("avatar_url", b.avatar_url ?? "", { type: "url" }), {
        field: "branding.avatar_url",
      }),
      field("Meeting link", input("meeting_link", b.meeting_link ?? "", { type: "url" }), {
        field: "branding.meeting_link",
      }),
    ),
  );
}

// ----- bot flow ----------------------------------------------------------------------------

function flowForm(chatflow, patch) {
  const text = textarea("flow", JSON.stringify(chatflow.flow ?? {}, null, 2), {
    rows: 18,
    spellcheck: "false",
    class: "code",
  });
  const preview = el("div", { class: "flow-preview", "aria-live": "polite" });
  const version = el("span", { class: "muted" }, `Version ${chatflow.flow_version}`);
  const names = { team: teamName, agent: agentName };
  const redraw = () => {
    try {
      preview.replaceChildren(flowPreview(JSON.parse(text.value), names));
    } catch (e) {
      preview.replaceChildren(
        el("p", { class: "error" }, `The preview waits for readable JSON: ${e.message}`),
      );
    }
  };
  let timer = null;
  text.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(redraw, 250);
  });
  redraw();
  const node = form(
    {
      title: "Bot flow",
      submit: "Save flow",
      className: "chatflow-flow",
      onSubmit: async () => {
        let flow;
        try {
          flow = JSON.parse(text.value);
        } catch (e) {
          throw Object.assign(new Error(`The JSON cannot be read: ${e.message}`), { field: "flow" });
        }
        clearTimeout(timer);
        redraw();
        await patch({ flow });
        version.textContent = `Version ${chatflow.flow_version}`;
        text.value = JSON.stringify(chatflow.flow, null, 2);
        redraw();
      },
      onError: (e, f) => {
        showFormError(f, e);
        const at = stepOfField(e.field);
        if (!at) return true;
        const card = $$(".step", preview).find((n) => n.dataset.step === at.step);
        const where = at.rest ? `${at.step} › ${at.rest}` : at.step;
        $(".form-error", f).textContent = `Step ${where}: ${e.message}`;
        if (!card) return true;
        card.classList.add("invalid");
        card.setAttribute("aria-invalid", "true");
        $(".step-error", card).textContent = at.rest ? `${at.rest}: ${e.message}` : e.message;
        card.scrollIntoView({ block: "nearest" });
        return true;
      },
    },
    el(
      "p",
      { class: "muted" },
      "The flow's JSON (format in docs/bots.md); the preview follows as you type. Saving checks the flow; a fault is shown at its step.",
    ),
    el(
      "div",
      { class: "flow-editor" },
      field("Flow JSON", text, { field: "flow" }),
      el("div", { class: "preview-pane" }, el("h4", {}, "Preview ", version), preview),
    ),
  );
  return node;
}
