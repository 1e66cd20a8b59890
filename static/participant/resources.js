// Crisis resources from the program (/api/info and crisis notices), rendered as plain text
// plus tel:/sms: links and an https:// chat link.

import { el } from "./dom.js";

const NUMBER = /\+?\(?\d{1,4}\)?(?:[ .-]?\d{1,4})*/g;

/** The first phone number in a contact line ("Call or text 988" -> {display, dial}). */
export function phoneNumber(contact) {
  if (typeof contact !== "string") return null;
  for (const match of contact.matchAll(NUMBER)) {
    const display = match[0].trim();
    const digits = display.replace(/\D/g, "");
    if (digits.length >= 3 && digits.length <= 15) {
      return { display, dial: (display.startsWith("+") ? "+" : "") + digits };
    }
  }
  return null;
}

export function canText(contact) {
  // English "text", Spanish "texto" / "mensaje" ("envía un texto al 988").
  return typeof contact === "string" && /\b(text|texto|mensaje)\b/i.test(contact);
}

// The strip's link words, in the notice's language.
const STRIP_WORDS = {
  en: { call: "Call", text: "Text", chat: "Chat at" },
  es: { call: "Llamar al", text: "Texto al", chat: "Chat en" },
};

// Words that only say "call or text": the strip's buttons say that already, so a contact
// line of them and the number is not repeated under the buttons ("Call 911" twice).
const ACTION = "call|text|or|at|llama|llamar|o|env[ií]a|un|texto|mensaje|al|a";
const ONLY_ACTION = new RegExp(`^(?:\\s|\\d|[;,.:()+-]|\\b(?:${ACTION})\\b)*$`, "iu");
const ACTION_OPENING = new RegExp(`^(?:\\s|\\d|[()+-]|\\b(?:${ACTION})\\b)+[;,.:]\\s*`, "iu");

/**
 * What a contact line says beyond its own call and text buttons, or "": "Call 911" -> "";
 * "Llama o envía un texto al 988; para español oprime 2" -> "Para español oprime 2";
 * "Text HOME to 741741" -> all of it.
 */
export function beyondButtons(contact) {
  const line = String(contact || "").trim();
  if (ONLY_ACTION.test(line)) return "";
  const rest = line.replace(ACTION_OPENING, "");
  return rest.charAt(0).toUpperCase() + rest.slice(1);
}

/** The host of an https:// chat page, or null ("https://988lifeline.org/chat/" -> host). */
function chatUrl(value) {
  if (typeof value !== "string" || !value.startsWith("https://")) return null;
  try {
    const url = new URL(value);
    return { href: url.href, host: url.host.replace(/^www\./, "") };
  } catch {
    return null;
  }
}

/**
 * One resource in the crisis strip: its name, its call/text/chat links, and the contact line
 * only when it says more than the links (each thing once, so the strip stays compact).
 */
export function stripItem(resource, lang = "en") {
  const words = STRIP_WORDS[lang] || STRIP_WORDS.en;
  const name = String(resource.name || "");
  const contact = String(resource.contact || "");
  const number = phoneNumber(contact);
  const chat = chatUrl(resource.chat);
  const links = [];
  if (number) {
    links.push(
      el("a", {
        className: "strip-link strip-call",
        text: `${words.call} ${number.display}`,
        attrs: { href: `tel:${number.dial}`, "aria-label": `${words.call} ${number.display}: ${name}` },
      }),
    );
    if (canText(contact)) {
      links.push(
        el("a", {
          className: "strip-link",
          text: `${words.text} ${number.display}`,
          attrs: { href: `sms:${number.dial}`, "aria-label": `${words.text} ${number.display}: ${name}` },
        }),
      );
    }
  }
  const detail = number ? beyondButtons(contact) : contact;
  return el("li", { className: "strip-item" }, [
    el("p", { className: "strip-name", text: name }),
    links.length ? el("p", { className: "strip-links" }, links) : null,
    detail ? el("p", { className: "strip-detail", text: detail }) : null,
    chat
      ? el("p", { className: "strip-more" }, [
          el("a", {
            className: "strip-chat",
            text: `${words.chat} ${chat.host}`,
            attrs: { href: chat.href, target: "_blank", rel: "noopener noreferrer" },
          }),
        ])
      : null,
  ]);
}

/** One resource as a list item (the help dialog, the waiting and ended views): name,
 * contact, call/text/chat links, note. */
export function resourceItem(resource) {
  const name = String(resource.name || "");
  const contact = String(resource.contact || "");
  const note = String(resource.note || "");
  const number = phoneNumber(contact);
  const links = [];
  if (number) {
    links.push(
      el("a", {
        className: "btn btn-call",
        text: `Call ${number.display}`,
        attrs: { href: `tel:${number.dial}`, "aria-label": `Call ${name} at ${number.display}` },
      }),
    );
    if (canText(contact)) {
      links.push(
        el("a", {
          className: "btn btn-call",
          text: `Text ${number.display}`,
          attrs: { href: `sms:${number.dial}`, "aria-label": `Text ${name} at ${number.display}` },
        }),
      );
    }
  }
  const chat = chatUrl(resource.chat);
  if (chat) {
    links.push(
      el("a", {
        className: "btn btn-call",
        text: `Chat at ${chat.host}`,
        attrs: { href: chat.href, target: "_blank", rel: "noopener noreferrer" },
      }),
    );
  }
  return el("li", { className: "resource" }, [
    el("h3", { className: "resource-name", text: name }),
    contact ? el("p", { className: "resource-contact", text: contact }) : null,
    links.length ? el("p", { className: "resource-links" }, links) : null,
    note ? el("p", { className: "resource-note", text: note }) : null,
  ]);
}

/**
 * The resources for a reader of `lang`, as the server picks them for a notice: those in that
 * language and those in none (an emergency number); every one when none is in `lang`.
 */
export function resourcesIn(resources, lang) {
  const items = Array.isArray(resources) ? resources.filter((r) => r && typeof r === "object") : [];
  const langOf = (r) => (typeof r.lang === "string" ? r.lang : "");
  if (!items.some((r) => langOf(r) === lang)) return items;
  return items.filter((r) => langOf(r) === lang || langOf(r) === "");
}

export function renderResources(list, resources) {
  const items = Array.isArray(resources) ? resources.filter((r) => r && typeof r === "object") : [];
  if (items.length === 0) {
    list.replaceChildren(
      el("li", {
        className: "resource",
        text: "Call your local emergency number if you or someone near you is in danger.",
      }),
    );
    return;
  }
  list.replaceChildren(...items.map(resourceItem));
}
