// The private crisis panel: what a person sees at once after writing something that reads as
// a crisis (a `crisis_resources` notice). It sits at the top of the page, above the chat, and
// is not a modal: someone reporting a friend who is not breathing must be able to read the
// numbers, tap Call, and still see the chat. Only this person's page ever shows it.

import { byId } from "./dom.js";
import { renderResources } from "./resources.js";

const DEFAULT_TEXT =
  "What you wrote sounds serious. You do not have to handle this alone: these lines answer right now.";

let fallbackResources = [];
let onClosed = () => {};

/** The program's own list (from /api/info), used when a notice arrives without one. */
export function setFallbackResources(resources) {
  fallbackResources = Array.isArray(resources) ? resources : [];
}

/** Where focus goes after the panel is dismissed (the composer, normally). */
export function onCrisisClosed(callback) {
  onClosed = callback;
}

export function showCrisis(frame) {
  const panel = byId("crisis-panel");
  const given = Array.isArray(frame.resources) && frame.resources.length ? frame.resources : fallbackResources;
  // Emergency services first: for an overdose in progress that is the call that matters,
  // and on a phone it must be on screen without scrolling. The program's order otherwise.
  const urgent = (r) => (r && /emergenc/i.test(`${r.name || ""}`) ? 0 : 1);
  const resources = [...given].sort((a, b) => urgent(a) - urgent(b));
  const text = typeof frame.text === "string" && frame.text.trim() ? frame.text : DEFAULT_TEXT;
  byId("crisis-text").textContent = text;
  renderResources(byId("crisis-resources"), resources);
  panel.hidden = false;
  document.body.dataset.crisis = "open";
  panel.scrollTop = 0;
  // Focus moves to the panel so a screen reader reads it now, not after the next message.
  byId("crisis-title").focus({ preventScroll: false });
}

export function hideCrisis({ restoreFocus = true } = {}) {
  const panel = byId("crisis-panel");
  if (panel.hidden) return;
  panel.hidden = true;
  document.body.dataset.crisis = "closed";
  if (restoreFocus) onClosed();
}

export function setUpCrisis() {
  byId("crisis-close").addEventListener("click", () => hideCrisis());
}
