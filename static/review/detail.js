// One review item: what the detector or the reporter said, the conversation around the
// message (5 before, the message, 5 after) with the message marked, and the action form.
// Everything from people is set with textContent.

import { byId, el } from "../participant/dom.js";
import { CATEGORY, KIND, STATUS, roomText, when } from "./words.js";

const DEFAULT_WARNING =
  "A moderator read one of your messages. Please keep to this group's guidelines: be kind, and " +
  "leave out anything that could identify or hurt someone. If you are struggling, the crisis " +
  "lines under “Get help now” answer any time.";
const ACTIONABLE = new Set(["open", "escalated"]);
const ROLE_WORDS = { supporter: "Supporter", facilitator: "Facilitator", moderator: "Moderator", admin: "Staff" };

let current = null; // {item, context, target, author}

export function currentItem() {
  return current;
}

function metaRow(term, value) {
  if (value === null || value === undefined || value === "") return [];
  return [el("dt", { text: term }), el("dd", { text: String(value) })];
}

/** What became of one alert: who took it and when, and whether it was paged out of band. */
export function alertOutcome(alert) {
  const taken = alert.taken_at ? `Taken by ${String(alert.taken_by_name || "a former staff member")}, ${when(alert.taken_at)}` : "Not taken yet";
  const paged = alert.paged ? `paged: yes${alert.paged_at ? `, ${when(alert.paged_at)}` : ""}` : "paged: no";
  return `${taken} · ${paged}`;
}

function contextItem(message, isTarget, kind) {
  const from = message.from && typeof message.from === "object" ? message.from : {};
  const role = ROLE_WORDS[from.role] || "";
  const label = kind === "report" ? "Reported message" : "Flagged message";
  return el(
    "li",
    {
      className: `msg${isTarget ? " is-target" : ""}${role ? " staff" : ""}`,
      attrs: isTarget ? { "aria-current": "true", "data-target": "true" } : {},
    },
    [
      isTarget ? el("p", { className: "target-label", text: label }) : null,
      el("p", { className: "msg-meta" }, [
        el("span", { className: "msg-who", text: String(from.name || "Someone") }),
        role ? el("span", { className: "msg-role", text: role }) : null,
        el("span", { className: "msg-time", text: when(message.ts) }),
      ]),
      el("p", { className: "msg-text", text: String(message.text || "") }),
    ],
  );
}

/** Show an item from GET /api/review/items/{id}. */
export function showDetail(data) {
  const item = data && data.item && typeof data.item === "object" ? data.item : {};
  const context = Array.isArray(data && data.context) ? data.context.filter((m) => m && typeof m === "object") : [];
  const target = data && data.target !== undefined && data.target !== null ? String(data.target) : String(item.message_id || "");
  const targetMessage = context.find((m) => String(m.id) === target);
  const author = targetMessage && targetMessage.from ? String(targetMessage.from.name || "") : "";
  current = { item, context, target, author };

  const kind = KIND[item.kind] || "Item";
  const topic = item.kind === "topic";
  byId("detail-title").textContent = topic ? "Flagged support request topic" : `${kind} message in ${roomText(item)}`;
  byId("detail-empty").hidden = true;
  byId("detail-body").hidden = false;

  const evidence = Array.isArray(item.evidence) ? item.evidence.map(String).filter(Boolean) : [];
  const status = String(item.status || "open");
  const alerts = Array.isArray(item.alerts) ? item.alerts.filter((a) => a && typeof a === "object") : [];
  byId("detail-meta").replaceChildren(
    ...metaRow("Topic", topic ? item.topic || "(cannot be read)" : null),
    ...metaRow("Level", item.kind === "held" ? "urgent (alert held: too many alerts from this person in an hour)" : item.label),
    ...metaRow("Category", CATEGORY[item.category] || item.category),
    ...metaRow("Matched", evidence.length ? evidence.join(" · ") : null),
    ...metaRow("Reporter's reason", item.kind === "report" ? item.reason || "none given" : item.reason),
    ...metaRow("Writer", author || null),
    ...alerts.flatMap((a, i) => metaRow(alerts.length > 1 ? `Alert ${i + 1}` : "Alert", alertOutcome(a))),
    ...metaRow("Alert", topic && item.label === "urgent" && !alerts.length ? "none raised: held (too many alerts from this person in an hour)" : null),
    ...metaRow("When", when(item.ts)),
    // `by` is the acting account's opaque id, not a name: the audit log has who; here, when.
    ...metaRow("Status", `${STATUS[status] || status}${item.at ? `, ${when(item.at)}` : ""}`),
  );

  const list = byId("context");
  list.replaceChildren(...context.map((m) => contextItem(m, String(m.id) === target, item.kind)));
  byId("context-title").hidden = topic;
  byId("remove-choice").hidden = topic; // a topic is no message in a room
  if (topic) {
    list.append(el("li", { className: "msg system", text: "Typed as the topic of a support request, in no room: there is no conversation around it." }));
  } else if (!targetMessage) {
    list.append(el("li", { className: "msg system", text: "The message itself is no longer stored (erased by its writer, or past retention)." }));
  }

  resetForm();
  const actionable = ACTIONABLE.has(status);
  byId("action-form").hidden = !actionable;
  const done = byId("action-done");
  done.hidden = actionable;
  done.textContent = actionable ? "" : `Handled: ${STATUS[status] || status}${item.at ? ` at ${when(item.at)}` : ""}.`;
  // Bring the marked message into view inside the context list, not the whole page.
  const marked = list.querySelector("[data-target]");
  if (marked) list.scrollTop = Math.max(0, marked.offsetTop - list.offsetTop - 40);
}

export function clearDetail() {
  current = null;
  byId("detail-title").textContent = "Choose an item";
  byId("detail-empty").hidden = false;
  byId("detail-body").hidden = true;
}

function chosenAction() {
  // Nothing is chosen until the moderator chooses: a default would decide for them.
  const checked = document.querySelector("input[name=action]:checked");
  return checked ? checked.value : "";
}

function showFields() {
  const action = chosenAction();
  byId("warn-field").hidden = action !== "warn";
  byId("mute-field").hidden = action !== "mute";
  byId("action-submit").textContent =
    { dismiss: "Dismiss", resolve: "Resolve", warn: "Send warning", mute: "Mute", ban: "Ban…", escalate: "Escalate", remove: "Remove message" }[action] || "Apply";
  byId("action-submit").classList.toggle("btn-danger", action === "ban");
  byId("action-submit").classList.toggle("btn-primary", action !== "ban");
}

export function resetForm() {
  for (const input of document.querySelectorAll("input[name=action]")) input.checked = false;
  byId("warn-text").value = DEFAULT_WARNING;
  byId("mute-minutes").value = "60";
  byId("mute-preset").value = "";
  byId("action-reason").value = "";
  byId("action-status").textContent = "";
  byId("action-submit").disabled = false;
  showFields();
}

/** The action the form describes, or {error, focus} when something is missing. */
export function readAction() {
  const action = chosenAction();
  if (!action) return { error: "Choose an action.", focus: document.querySelector("input[name=action]") };
  const reason = byId("action-reason").value.trim();
  if (!reason) return { error: "Give a reason: it goes into the audit log.", focus: byId("action-reason") };
  if (reason.length > 500) return { error: "The reason is at most 500 characters.", focus: byId("action-reason") };
  const body = { action, reason };
  if (action === "warn") {
    const text = byId("warn-text").value.trim();
    if (!text) return { error: "Write the words the writer will see.", focus: byId("warn-text") };
    body.text = text;
  }
  if (action === "mute") {
    const minutes = Number(byId("mute-minutes").value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 10080) {
      return { error: "Mute for a whole number of minutes from 1 to 10080 (7 days).", focus: byId("mute-minutes") };
    }
    body.minutes = minutes;
  }
  return { body };
}

export function setUpDetail() {
  for (const input of document.querySelectorAll("input[name=action]")) input.addEventListener("change", showFields);
  byId("mute-preset").addEventListener("change", (event) => {
    if (event.target.value) byId("mute-minutes").value = event.target.value;
  });
}
