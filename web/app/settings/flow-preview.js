// A bot flow (docs/bots.md, version 1) as a person reads it: one card per step, from the start
// in the order a visitor meets them, saying what the bot says, the choices and where each leads,
// branches, and hand-offs. Step links move focus to the step they name. Everything from the
// flow is text, never HTML.

import { el } from "../ui.js";

const TYPES = {
  message: "Message",
  question: "Question",
  branch: "Branch",
  handoff: "Hand-off",
  create_ticket: "Create ticket",
  webhook: "Webhook",
  end: "End",
};
const QUESTION_KINDS = {
  free_text: "free text",
  email: "an email address",
  phone: "a phone number",
  number: "a number",
  choice: "a choice",
};

/// Splits a server error field `flow.steps.<id>.<rest>` into the step id and the rest.
export function stepOfField(path) {
  const match = /^flow\.steps\.([A-Za-z0-9_-]+)(?:[.[](.*))?$/.exec(path ?? "");
  if (!match) return null;
  const rest = path.slice(`flow.steps.${match[1]}`.length).replace(/^\./, "");
  return { step: match[1], rest };
}

/// `names.team(id)` and `names.agent(id)` give hand-off targets' names.
export function flowPreview(flow, names) {
  if (!flow || typeof flow !== "object" || Array.isArray(flow)) {
    return el("p", { class: "error" }, "A flow is a JSON object with version, start and steps.");
  }
  const steps = flow.steps && typeof flow.steps === "object" ? flow.steps : {};
  const ids = Object.keys(steps);
  if (!ids.length) return el("p", { class: "empty" }, "No steps yet — add some under \"steps\".");
  const order = reachOrder(flow.start, steps);
  const reached = new Set(order);
  const list = el("ol", { class: "steps" });
  for (const id of [...order, ...ids.filter((i) => !reached.has(i))]) {
    list.append(stepCard(id, steps[id], { start: id === flow.start, reached: reached.has(id), steps, names }));
  }
  return list;
}

/// Step ids breadth-first from `start` along every link.
function reachOrder(start, steps) {
  const seen = [];
  const queue = typeof start === "string" && steps[start] ? [start] : [];
  while (queue.length) {
    const id = queue.shift();
    if (seen.includes(id)) continue;
    seen.push(id);
    for (const next of links(steps[id])) if (steps[next] && !seen.includes(next)) queue.push(next);
  }
  return seen;
}

function links(step) {
  if (!step || typeof step !== "object") return [];
  const out = [step.next, ...(Array.isArray(step.cases) ? step.cases.map((c) => c?.next) : []), step.else_next, step.on_error_next];
  return out.filter((x) => typeof x === "string");
}

function stepCard(id, step, { start, reached, steps, names }) {
  const type = step?.type;
  const card = el(
    "li",
    { class: `step step-${type ?? "unknown"}`, tabindex: "-1", dataset: { step: id } },
    el(
      "div",
      { class: "step-head" },
      el("code", { class: "step-id" }, id),
      el("span", { class: "step-type" }, TYPES[type] ?? `Unknown type "${type ?? ""}"`),
      start ? el("span", { class: "badge" }, "Start") : null,
      reached ? null : el("span", { class: "badge warn" }, "Not reachable from the start"),
    ),
    el("p", { class: "error step-error", role: "alert" }),
  );
  const say = (verb, text) => (text ? el("p", {}, `${verb} “${text}”`) : null);
  const go = (label, target) =>
    target === undefined || target === null
      ? null
      : el("p", { class: "step-link" }, `${label} → `, jump(target, steps));
  const body = [];
  switch (type) {
    case "message":
      body.push(say("Says", step.text), go("Then", step.next));
      break;
    case "question": {
      body.push(say("Asks", step.text));
      body.push(el("p", { class: "muted" }, `Expects ${QUESTION_KINDS[step.kind] ?? step.kind}` + (step.property ? `, saved as “${step.property}”` : "")));
      if (Array.isArray(step.choices) && step.choices.length) {
        body.push(
          el(
            "ul",
            { class: "choices" },
            step.choices.map((c) => {
              const lead = choiceLeadsTo(c?.value, step.next, steps);
              return el("li", {}, `“${c?.label ?? ""}”`, c?.value !== undefined ? el("span", { class: "muted" }, ` (${c.value})`) : null, lead ? [" → ", jump(lead, steps)] : null);
            }),
          ),
        );
      }
      if (step.retry_text) body.push(el("p", { class: "muted" }, `If the answer is refused: “${step.retry_text}”`));
      body.push(go("Then", step.next));
      break;
    }
    case "branch":
      body.push(el("p", {}, `Looks at ${branchSubject(step.on)}`));
      for (const c of Array.isArray(step.cases) ? step.cases : []) body.push(go(`If ${condition(c)}`, c?.next));
      body.push(go("Otherwise", step.else_next));
      break;
    case "handoff":
      body.push(say("Says", step.message), el("p", { class: "handoff" }, `Hands off to ${handoffTarget(step.to, names)}; the bot ends.`));
      break;
    case "create_ticket":
      body.push(say("Opens a ticket titled", step.title), go("Then", step.next));
      break;
    case "webhook":
      body.push(el("p", { class: "wrap" }, `Calls ${step.url ?? "?"}`));
      if (step.set_properties && typeof step.set_properties === "object") {
        const keys = Object.keys(step.set_properties);
        if (keys.length) body.push(el("p", { class: "muted" }, `Saves ${keys.join(", ")} from the answer`));
      }
      body.push(go("Then", step.next), go("On failure", step.on_error_next));
      break;
    case "end":
      body.push(say("Says", step.text), el("p", {}, "The bot ends."));
      break;
    default:
      break;
  }
  card.append(...body.filter(Boolean));
  return card;
}

/// A button that moves focus to the step it names (or says it is missing).
function jump(target, steps) {
  if (typeof target !== "string" || !steps[target]) {
    return el("span", { class: "error" }, `missing step “${String(target)}”`);
  }
  return el(
    "button",
    {
      type: "button",
      class: "link",
      onclick: (event) => {
        const list = event.target.closest(".steps");
        const card = [...list.querySelectorAll(".step")].find((n) => n.dataset.step === target);
        card?.focus();
        card?.scrollIntoView({ block: "nearest" });
      },
    },
    target,
  );
}

/// Where a choice's value leads when the question's next step branches on the answer.
function choiceLeadsTo(value, next, steps) {
  const branch = steps[next];
  if (!branch || branch.type !== "branch" || branch.on !== "answer") return null;
  const same = (a) => String(a).trim().toLowerCase() === String(value).trim().toLowerCase();
  for (const c of Array.isArray(branch.cases) ? branch.cases : []) {
    if (c && "equals" in c && same(c.equals)) return c.next;
    if (c && Array.isArray(c.one_of) && c.one_of.some(same)) return c.next;
  }
  return branch.else_next ?? null;
}

function branchSubject(on) {
  if (on === "answer") return "the last answer";
  if (on === "agents_available") return "whether agents are available";
  if (on && typeof on === "object" && on.property) return `the property “${on.property}”`;
  return JSON.stringify(on ?? null);
}

function condition(c) {
  if (!c || typeof c !== "object") return "?";
  if ("equals" in c) return `it equals ${JSON.stringify(c.equals)}`;
  if ("one_of" in c) return `it is one of ${(c.one_of ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
  if ("contains" in c) return `it contains ${JSON.stringify(c.contains)}`;
  if ("greater_than" in c) return `it is greater than ${c.greater_than}`;
  if ("less_than" in c) return `it is less than ${c.less_than}`;
  if ("is_empty" in c) return "it is empty";
  return "?";
}

function handoffTarget(to, names) {
  if (to === "inbox") return "the inbox (its routing rules)";
  if (to && typeof to === "object" && to.team_id) return `the team ${names.team(to.team_id)}`;
  if (to && typeof to === "object" && to.agent_id) return `the agent ${names.agent(to.agent_id)}`;
  return "nobody (a hand-off needs “to”)";
}
