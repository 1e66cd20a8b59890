// The lexicon tab: search the entries, add one, retire one. Every change carries a reason
// and comes back with a new version number; the list is reloaded from the server after it.

import { byId, closeDialog, el, openDialog, setStatus } from "../participant/dom.js";
import * as api from "./api.js";

const MAX_SHOWN = 200; // enough to scan; the search narrows the rest

const state = { entries: [], version: "", loaded: false, retiring: null, onGone: () => {} };

function matches(entry, words) {
  if (!words.length) return true;
  const hay = [entry.id, entry.pattern, entry.category, entry.severity, entry.language, entry.note, entry.origin]
    .map((v) => String(v || "").toLowerCase())
    .join(" ");
  return words.every((w) => hay.includes(w));
}

function entryItem(entry) {
  const retire = el("button", {
    className: "btn btn-small",
    text: "Retire",
    attrs: { type: "button", "aria-label": `Retire ${entry.id}` },
  });
  retire.addEventListener("click", () => askRetire(entry, retire));
  const severity = String(entry.severity || "");
  return el("li", { className: "lex-entry", attrs: { "data-id": String(entry.id) } }, [
    el("div", { className: "lex-top" }, [
      el("code", { className: "lex-id", text: String(entry.id) }),
      el("span", { className: `level level-${severity}`, text: severity }),
      el("span", { className: "item-cat", text: String(entry.category || "") }),
      entry.language ? el("span", { className: "muted", text: String(entry.language) }) : null,
      el("span", { className: `origin origin-${entry.origin}`, text: entry.origin === "added" ? "added by a moderator" : "built in" }),
      retire,
    ]),
    el("p", { className: "lex-pattern", text: String(entry.pattern || "") }),
    entry.note ? el("p", { className: "lex-note muted", text: String(entry.note) }) : null,
  ]);
}

export function renderLexicon() {
  const words = byId("lex-search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  // Moderators' own additions first: those are the ones most often looked at again.
  const all = [...state.entries].sort((a, b) => (a.origin === "added" ? 0 : 1) - (b.origin === "added" ? 0 : 1));
  const found = all.filter((e) => matches(e, words));
  byId("lex-entries").replaceChildren(...found.slice(0, MAX_SHOWN).map(entryItem));
  byId("lex-version").textContent = state.version ? `(version ${state.version})` : "";
  byId("lex-count").textContent =
    found.length > MAX_SHOWN
      ? `Showing ${MAX_SHOWN} of ${found.length} matching entries (${state.entries.length} in all). Search to narrow.`
      : `${found.length} of ${state.entries.length} entries.`;
}

export async function loadLexicon() {
  setStatus("lex-status", "Loading…");
  const result = await api.lexicon();
  if (result.status === 401) return state.onGone();
  if (result.status !== 200 || !result.body) {
    setStatus("lex-status", api.why(result, "The lexicon could not be loaded"), "error");
    return;
  }
  state.entries = (Array.isArray(result.body.entries) ? result.body.entries : []).filter((e) => e && e.id !== undefined);
  state.version = String(result.body.version || "");
  state.loaded = true;
  setStatus("lex-status", "");
  renderLexicon();
}

export function lexiconLoaded() {
  return state.loaded;
}

function askRetire(entry, button) {
  state.retiring = entry;
  byId("retire-id").textContent = String(entry.id);
  byId("retire-pattern").textContent = String(entry.pattern || "");
  byId("retire-reason").value = "";
  setStatus("retire-status", "");
  const dialog = byId("retire-dialog");
  openDialog(dialog);
  dialog.returnFocusTo = button;
  byId("retire-reason").focus();
}

async function submitRetire(event) {
  event.preventDefault();
  const entry = state.retiring;
  if (!entry) return;
  const reason = byId("retire-reason").value.trim();
  if (!reason) {
    setStatus("retire-status", "Give a reason for retiring this entry.", "error");
    byId("retire-reason").focus();
    return;
  }
  setStatus("retire-status", "Retiring…");
  const result = await api.changeLexicon({ retire: String(entry.id), reason });
  if (result.status === 401) return state.onGone();
  if (result.status !== 200) {
    setStatus("retire-status", api.why(result, "Not retired"), "error");
    return;
  }
  state.retiring = null;
  byId("retire-dialog").returnFocusTo = byId("lex-search");
  closeDialog(byId("retire-dialog"));
  await loadLexicon();
  setStatus("lex-status", `Retired ${entry.id}. Lexicon version ${String(result.body && result.body.version) || "updated"}.`);
}

async function submitAdd(event) {
  event.preventDefault();
  const add = {
    id: byId("lex-id").value.trim(),
    pattern: byId("lex-pattern").value.trim(),
    category: byId("lex-category").value,
    severity: byId("lex-severity").value,
    language: byId("lex-language").value,
    note: byId("lex-note").value.trim(),
  };
  const reason = byId("lex-reason").value.trim();
  const missing = [
    [!add.id, "lex-id", "Give the entry an id."],
    [!add.pattern, "lex-pattern", "Write the pattern."],
    [!reason, "lex-reason", "Give a reason for this change."],
  ].find(([bad]) => bad);
  if (missing) {
    setStatus("lex-add-status", missing[2], "error");
    byId(missing[1]).focus();
    return;
  }
  setStatus("lex-add-status", "Adding…");
  const result = await api.changeLexicon({ add, reason });
  if (result.status === 401) return state.onGone();
  if (result.status !== 200) {
    setStatus("lex-add-status", api.why(result, "Not added"), "error");
    return;
  }
  for (const id of ["lex-id", "lex-pattern", "lex-note", "lex-reason"]) byId(id).value = "";
  const version = result.body && result.body.version ? String(result.body.version) : "";
  setStatus("lex-add-status", `Added ${add.id}. It applies to new messages now${version ? ` (lexicon version ${version})` : ""}.`);
  byId("lex-search").value = add.id;
  await loadLexicon();
}

export function setUpLexicon(onGone) {
  state.onGone = onGone;
  byId("lex-search").addEventListener("input", renderLexicon);
  byId("lex-form").addEventListener("submit", submitAdd);
  byId("retire-form").addEventListener("submit", submitRetire);
}

export function clearLexicon() {
  state.entries = [];
  state.version = "";
  state.loaded = false;
  byId("lex-entries").replaceChildren();
}
