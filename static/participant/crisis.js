// The private crisis strip: what a person sees at once after writing something that reads as
// a crisis (a `crisis_resources` notice). A compact strip between the header and the chat,
// not a modal: someone reporting a friend who is not breathing must be able to tap Call and
// still read and write the chat on a 360 px phone. It folds to one bar (and opens again from
// it), speaks the language of the message that raised it, and goes when that chat ends or
// the person leaves the room. Only this person's page ever shows it.

import { byId, el } from "./dom.js";
import { messages } from "./page.js";
import { phoneNumber, stripItem } from "./resources.js";

// The strip's own words, in the languages a notice may carry (`lang`); anything else is
// shown in English, the page's language.
const WORDS = {
  en: {
    title: "Help now · only you see this",
    text: "Free and confidential, 24/7.",
    hide: "Hide",
    hideLabel: "Hide the crisis lines",
    show: "Show crisis lines",
    none: "Call your local emergency number if you or someone near you is in danger.",
  },
  es: {
    title: "Ayuda · solo tú ves esto",
    text: "Gratis y confidencial, 24/7.",
    hide: "Ocultar",
    hideLabel: "Ocultar las líneas de crisis",
    show: "Ver líneas de crisis",
    none: "Llama al número de emergencias si tú o alguien cerca está en peligro.",
  },
};

let fallbackResources = [];
let raisedIn = null; // the room whose message raised the strip now shown
let words = WORDS.en;

/** The program's own list (from /api/info), used when a notice arrives without one. */
export function setFallbackResources(resources) {
  fallbackResources = Array.isArray(resources) ? resources : [];
}

export function wordsFor(lang) {
  return Object.hasOwn(WORDS, lang) ? WORDS[lang] : WORDS.en;
}

export function showCrisis(frame) {
  const lang = typeof frame.lang === "string" && Object.hasOwn(WORDS, frame.lang) ? frame.lang : "en";
  words = wordsFor(lang);
  const given = Array.isArray(frame.resources) && frame.resources.length ? frame.resources : fallbackResources;
  // Emergency services first: for an overdose in progress that is the call that matters.
  // The program's order otherwise.
  const urgent = (r) => (isEmergency(r) ? 0 : 1);
  const resources = [...given].filter((r) => r && typeof r === "object").sort((a, b) => urgent(a) - urgent(b));
  const panel = byId("crisis-panel");
  panel.lang = lang;
  byId("crisis-title").textContent = words.title;
  const text = typeof frame.text === "string" && frame.text.trim() ? frame.text : words.text;
  byId("crisis-text").textContent = text;
  const list = byId("crisis-body");
  const items = resources.map((r) => stripItem(r, lang));
  // A program without an emergency line still tells the person where to turn in danger.
  if (!resources.some(isEmergency)) items.push(el("li", { className: "strip-item", text: words.none }));
  list.replaceChildren(...items);
  raisedIn = typeof frame.room === "string" ? frame.room : null;
  // The strip takes height from the message list: whoever was reading the newest message
  // (their own, just sent) still sees it.
  messages.keepPinned(() => {
    panel.hidden = false;
    setFolded(false);
  });
  // Focus moves to the strip so a screen reader reads it now, not after the next message.
  byId("crisis-title").focus();
}

// Emergency numbers (US and Canada, EU, UK, Australia): a line with one is the emergency line.
const EMERGENCY_NUMBERS = new Set(["911", "112", "999", "000"]);

function isEmergency(resource) {
  if (/emergenc/i.test(String(resource.name || ""))) return true;
  const number = phoneNumber(String(resource.contact || ""));
  return Boolean(number && EMERGENCY_NUMBERS.has(number.dial));
}

/** Fold the strip to its bar, or open it again. */
export function setFolded(folded) {
  messages.keepPinned(() => fold(folded));
}

function fold(folded) {
  const button = byId("crisis-fold");
  byId("crisis-body").hidden = folded;
  byId("crisis-panel").dataset.folded = folded ? "yes" : "no";
  button.setAttribute("aria-expanded", folded ? "false" : "true");
  button.textContent = folded ? words.show : words.hide;
  // Folded, the button's text says what it does; open, "Hide" alone is too short for a
  // screen reader that lands on it out of context.
  if (folded) button.removeAttribute("aria-label");
  else button.setAttribute("aria-label", words.hideLabel);
  byId("crisis-head").hidden = folded;
  document.body.dataset.crisis = folded ? "folded" : "open";
}

export function hideCrisis() {
  const panel = byId("crisis-panel");
  raisedIn = null;
  if (panel.hidden) return;
  messages.keepPinned(() => {
    panel.hidden = true;
  });
  document.body.dataset.crisis = "closed";
}

/** The chat `room` ended, or the person left it: the strip it raised goes with it. */
export function crisisRoomGone(room) {
  if (raisedIn !== null && room === raisedIn) hideCrisis();
}

export function setUpCrisis() {
  byId("crisis-fold").addEventListener("click", () => {
    setFolded(byId("crisis-fold").getAttribute("aria-expanded") === "true");
  });
}
