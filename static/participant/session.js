// Starting a session: loading the program's info, the consent text and its acceptance; and
// what happens when a session ends (or is started again after erasing).

import * as api from "./api.js";
import { hideCrisis, setFallbackResources } from "./crisis.js";
import { byId, el, setStatus } from "./dom.js";
import { ROOM_KEY, connection, messages, outbox, showView, state, storageSet } from "./page.js";
import { setExitUrl } from "./quickexit.js";
import { renderResources, resourcesIn } from "./resources.js";
import { enterRooms, renderRooms } from "./rooms.js";
import { forgetSupport } from "./support.js";

export async function load() {
  showView("loading");
  byId("loading-retry").hidden = true;
  setStatusText("loading-detail", "Getting things ready.");
  const [info, session] = await Promise.all([api.getInfo(), api.getSession()]);
  if (info.status !== 200 || !info.body) {
    loadFailed(api.failureText(info, "Peerline could not load."));
    return;
  }
  applyInfo(info.body);
  const serverDate = Date.parse(info.date || "");
  if (!Number.isNaN(serverDate)) state.clockOffset = serverDate - Date.now();
  if (session.status === 200 && session.body) {
    state.me = String(session.body.pseudonym || "");
    enterRooms({ resume: true });
    return;
  }
  if (session.status === 401) {
    // No session (or an older consent): anything left from before belongs to nobody now.
    outbox.clear();
    storageSet(ROOM_KEY, null);
    showConsent();
    return;
  }
  loadFailed(api.failureText(session, "Peerline could not check your session."));
}

function setStatusText(id, text) {
  byId(id).textContent = text;
}

function loadFailed(text) {
  byId("loading-title").textContent = "Peerline is not available right now";
  setStatusText("loading-detail", text);
  byId("loading-retry").hidden = false;
  showView("loading");
}

function applyInfo(info) {
  state.info = info;
  const program = String(info.program || "Peerline");
  byId("brand").textContent = program;
  byId("consent-program").textContent = program;
  document.title = "Peerline";
  if (typeof info.quick_exit_url === "string") setExitUrl(info.quick_exit_url);
  // The page is in English: its lists show the program's English lines (and those in no
  // particular language); a crisis notice brings the lines in its writer's language.
  const resources = resourcesIn(info.resources, "en");
  renderResources(byId("resource-list"), resources);
  renderResources(byId("waiting-resources"), resources);
  renderResources(byId("ended-resources"), resources);
  setFallbackResources(resources);
  byId("support-offer").hidden = info.support !== true;
  renderConsentText(info.consent && info.consent.text);
  renderRooms(Array.isArray(info.rooms) ? info.rooms : []);
}

function renderConsentText(text) {
  const holder = byId("consent-text");
  const paragraphs = String(text || "")
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  holder.replaceChildren(...paragraphs.map((p) => el("p", { text: p })));
}

function showConsent(note = "") {
  const noteNode = byId("consent-note");
  noteNode.textContent = note;
  noteNode.hidden = !note;
  setStatus("consent-status", "");
  byId("consent-accept").disabled = false;
  showView("consent");
}

export async function acceptConsent() {
  const button = byId("consent-accept");
  if (button.disabled || !state.info) return;
  button.disabled = true;
  setStatus("consent-status", "Starting…");
  const version = state.info.consent && state.info.consent.version;
  const result = await api.createSession(version);
  if (result.status === 201 && result.body) {
    state.me = String(result.body.pseudonym || "");
    setStatus("consent-status", "");
    enterRooms({ resume: false });
    return;
  }
  button.disabled = false;
  if (result.status === 400 && result.body && result.body.error === "consent_required") {
    // The program changed its consent text since this page loaded: show the new one.
    const info = await api.getInfo();
    if (info.status === 200 && info.body) applyInfo(info.body);
    showConsent("The text above has changed since the page opened. Please read it again.");
    return;
  }
  setStatus("consent-status", api.failureText(result, "Could not start."), "error");
}

export function sessionGone(note) {
  const lost = outbox.size;
  hideCrisis();
  connection.stop();
  outbox.clear();
  storageSet(ROOM_KEY, null);
  forgetSupport();
  state.me = null;
  state.room = null;
  state.joinedRoom = null;
  messages.reset();
  const extra = lost ? ` ${lost} unsent message${lost === 1 ? " was" : "s were"} not delivered.` : "";
  showConsent(note + extra);
}

export function startAgain() {
  if (state.info) showConsent();
  else load();
}
