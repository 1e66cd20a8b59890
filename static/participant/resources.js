// Crisis resources from the program (/api/info), rendered as plain text plus tel:/sms: links.

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
  return typeof contact === "string" && /\btext\b/i.test(contact);
}

/** One resource as a list item: name, contact, call/text links, note. */
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
  return el("li", { className: "resource" }, [
    el("h3", { className: "resource-name", text: name }),
    contact ? el("p", { className: "resource-contact", text: contact }) : null,
    links.length ? el("p", { className: "resource-links" }, links) : null,
    note ? el("p", { className: "resource-note", text: note }) : null,
  ]);
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
