// Peerline review page (/review): moderators read flagged and reported messages with the
// conversation around them, act on them, and keep the crisis lexicon. Login and session are
// the console's (same cookie, same CSRF token, same login form module). No polling: a timer
// must not keep a session alive that nobody is using, so the list refreshes on demand.

import { byId, closeDialog, openDialog, setStatus, setUpDialog } from "../participant/dom.js";
import * as consoleApi from "../console/api.js";
import { setUpLogin, showLoginNote } from "../console/login.js";
import * as api from "./api.js";
import { clearDetail, currentItem, readAction, setUpDetail, showDetail } from "./detail.js";
import { renderItems, sortItems } from "./items.js";
import { clearLexicon, lexiconLoaded, loadLexicon, setUpLexicon } from "./lexicon.js";
import { STATUS } from "./words.js";

const VIEWS = ["loading", "login", "denied", "review"];
const state = { me: null, items: [], selected: null, pendingBan: null };

function showView(name) {
  for (const view of VIEWS) byId(`view-${view}`).hidden = view !== name;
  document.body.dataset.view = name;
  byId("bar-tools").hidden = name !== "review" && name !== "denied";
}

function announce(text) {
  const node = byId("announce");
  node.textContent = "";
  setTimeout(() => {
    node.textContent = text;
  }, 50);
}

// ---- session -----------------------------------------------------------------------------------

async function load() {
  showView("loading");
  const result = await consoleApi.me();
  if (result.status === 200 && result.body) {
    start(result.body);
    return;
  }
  showLogin(result.status === 0 ? "The server cannot be reached. Reload the page to try again." : "");
}

function showLogin(note = "") {
  showLoginNote(note);
  showView("login");
  byId("login-username").focus();
}

async function afterLogin() {
  const result = await consoleApi.me();
  if (result.status === 200 && result.body) start(result.body);
  else showLogin("Logged in, but the review page could not load. Reload the page.");
}

function start(me) {
  state.me = me;
  consoleApi.setCsrf(me.csrf);
  byId("me-name").textContent = String(me.name || "");
  const roles = Array.isArray(me.roles) ? me.roles.map(String) : [];
  byId("me-role").textContent = roles.length ? `(${roles.join(", ")})` : "";
  if (!roles.includes("moderator")) {
    showView("denied");
    byId("denied-title").focus();
    return;
  }
  showView("review");
  selectTab("items", { focus: false });
  byId("items-title").focus();
  loadItems();
}

/** Any 401: the session ended (idle limit, logout elsewhere). Nothing stays on screen. */
function sessionGone() {
  state.me = null;
  state.items = [];
  state.selected = null;
  consoleApi.setCsrf("");
  byId("items").replaceChildren();
  clearDetail();
  clearLexicon();
  for (const id of ["ban-dialog", "retire-dialog"]) closeDialog(byId(id));
  showLogin("Your session has ended (you logged out, were away too long, or the account was changed). Log in again to continue.");
}

async function logout() {
  const button = byId("logout");
  button.disabled = true;
  const result = await consoleApi.logout();
  if (result.status === 204 || result.status === 401) {
    window.location.replace("/review");
    return;
  }
  button.disabled = false;
  setStatus("items-status", "Logging out failed. Try again.", "error");
}

// ---- items ---------------------------------------------------------------------------------------

function filter() {
  return byId("filter-all").checked ? "all" : "open";
}

async function loadItems() {
  setStatus("items-status", "Loading…");
  const result = await api.items(filter());
  if (result.status === 401) return sessionGone();
  if (result.status !== 200 || !result.body) {
    setStatus("items-status", api.why(result, "The list could not be loaded"), "error");
    return;
  }
  state.items = sortItems(result.body.items);
  renderList();
  setStatus("items-status", "");
}

function renderList() {
  const list = byId("items");
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
  renderItems(list, state.items, state.selected, select);
  byId("items-empty").hidden = state.items.length > 0;
  byId("items-empty").textContent = filter() === "open" ? "Nothing open to review." : "Nothing to review.";
  byId("items-count").textContent = state.items.length ? `(${state.items.length})` : "";
  if (focused) {
    const again = list.querySelector(`button[data-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

async function select(id, { focus = true } = {}) {
  state.selected = id;
  renderList();
  setStatus("items-status", "Opening…");
  const result = await api.item(id);
  if (result.status === 401) return sessionGone();
  if (result.status !== 200 || !result.body) {
    setStatus("items-status", result.status === 404 ? "That item no longer exists." : api.why(result, "The item could not be opened"), "error");
    return;
  }
  if (state.selected !== id) return; // another item was chosen meanwhile
  setStatus("items-status", "");
  showDetail(result.body);
  if (focus) byId("detail-title").focus();
}

// ---- actions -----------------------------------------------------------------------------------

function submitAction(event) {
  event.preventDefault();
  const item = currentItem();
  if (!item || state.selected === null) return;
  const read = readAction();
  if (read.error) {
    setStatus("action-status", read.error, "error");
    read.focus.focus();
    return;
  }
  if (read.body.action === "ban") {
    state.pendingBan = { id: state.selected, body: read.body };
    const who = item.author ? item.author : "the writer of this message";
    byId("ban-desc").textContent =
      `${who} will be disconnected at once and cannot use the chat again under this pseudonym. ` +
      "This is recorded in the audit log with your reason.";
    openDialog(byId("ban-dialog"));
    return;
  }
  perform(state.selected, read.body);
}

async function perform(id, body) {
  const button = byId("action-submit");
  button.disabled = true;
  setStatus("action-status", "Applying…");
  const result = await api.act(id, body);
  button.disabled = false;
  if (result.status === 401) return sessionGone();
  if (result.status !== 200) {
    setStatus(
      "action-status",
      result.status === 404 ? "That item no longer exists." : api.why(result, "Not applied"),
      "error",
    );
    return;
  }
  const status = String((result.body && result.body.status) || "");
  const words = STATUS[status] || status || "done";
  announce(`Done: ${words}.`);
  await loadItems();
  await select(id, { focus: false });
  setStatus("items-status", `Done: the item is now ${words.toLowerCase()}.`);
  byId("detail-title").focus();
}

// ---- tabs --------------------------------------------------------------------------------------

function selectTab(name, { focus = true } = {}) {
  for (const tab of ["items", "lexicon"]) {
    const on = tab === name;
    const button = byId(`tab-${tab}`);
    button.setAttribute("aria-selected", on ? "true" : "false");
    button.tabIndex = on ? 0 : -1;
    byId(`panel-${tab}`).hidden = !on;
  }
  if (focus) byId(`tab-${name}`).focus();
  if (name === "lexicon" && !lexiconLoaded()) loadLexicon();
}

function tabKeys(event) {
  if (event.key !== "ArrowRight" && event.key !== "ArrowLeft" && event.key !== "Home" && event.key !== "End") return;
  event.preventDefault();
  const itemsOn = byId("tab-items").getAttribute("aria-selected") === "true";
  const next = event.key === "Home" ? "items" : event.key === "End" ? "lexicon" : itemsOn ? "lexicon" : "items";
  selectTab(next);
}

// ---- wiring ------------------------------------------------------------------------------------

function wire() {
  setUpLogin(afterLogin);
  setUpDetail();
  setUpLexicon(sessionGone);
  setUpDialog(byId("ban-dialog"));
  setUpDialog(byId("retire-dialog"));
  byId("logout").addEventListener("click", logout);
  byId("filter-open").addEventListener("change", loadItems);
  byId("filter-all").addEventListener("change", loadItems);
  byId("items-refresh").addEventListener("click", loadItems);
  byId("action-form").addEventListener("submit", submitAction);
  byId("ban-confirm").addEventListener("click", () => {
    const pending = state.pendingBan;
    state.pendingBan = null;
    closeDialog(byId("ban-dialog"));
    if (pending) perform(pending.id, pending.body);
  });
  byId("tab-items").addEventListener("click", () => selectTab("items"));
  byId("tab-lexicon").addEventListener("click", () => selectTab("lexicon"));
  byId("tab-items").addEventListener("keydown", tabKeys);
  byId("tab-lexicon").addEventListener("keydown", tabKeys);
}

wire();
load();
