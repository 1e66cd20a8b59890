// Peerline participant page: the entry module. It wires the page's buttons and forms to the
// parts beside it (consent and session, rooms, chat, composer, one-to-one support, reports,
// erase, Quick Exit) and starts loading. Wire contract: PROTOCOL.md. Every piece of text from
// the server or from people is rendered with textContent only.

import { onComposerInput, onComposerKey, retryTick, submitMessage } from "./composer.js";
import { setUpCrisis } from "./crisis.js";
import { byId, openDialog, setStatus, setUpDialog } from "./dom.js";
import { confirmErase, openErase } from "./erase.js";
import { feedbackDone } from "./feedback.js";
import { connection, outbox, showView, state, updateBanner } from "./page.js";
import { installEscapeShortcut, onQuickExit, quickExit } from "./quickexit.js";
import { submitReport } from "./reports.js";
import { beginRoom, leaveRoom, sendJoin, submitInvite } from "./rooms.js";
import { acceptConsent, load, startAgain } from "./session.js";
import { askForSupport, cancelSupport, submitFeedback } from "./support.js";

// Page-wide timers, stopped by Quick Exit.
const timers = [];

// ---- wiring ------------------------------------------------------------------------------------

function wire() {
  byId("quick-exit").addEventListener("click", quickExit);
  // Every dialog has its own Quick exit: a modal dialog covers the one in the header.
  for (const node of document.querySelectorAll("[data-action=quick-exit]")) {
    node.addEventListener("click", quickExit);
  }
  installEscapeShortcut(window);
  onQuickExit(() => {
    // The page is emptied before the next site loads: a timer that fired in between found
    // no #conn-banner and threw (seen as a page error in the Quick Exit test).
    for (const timer of timers) clearInterval(timer);
    outbox.disable();
    connection.stop();
  });

  setUpCrisis();
  for (const id of ["help-dialog", "erase-dialog", "invite-dialog", "report-dialog"]) {
    setUpDialog(byId(id));
  }
  const openHelp = () => {
    openDialog(byId("help-dialog"));
    byId("help-title").focus();
  };
  byId("help-open").addEventListener("click", openHelp);
  for (const node of document.querySelectorAll("[data-action=help]")) {
    node.addEventListener("click", openHelp);
  }
  for (const node of document.querySelectorAll("[data-action=erase]")) {
    node.addEventListener("click", openErase);
  }
  byId("erase-confirm").addEventListener("click", confirmErase);

  byId("loading-retry").addEventListener("click", load);
  byId("consent-accept").addEventListener("click", acceptConsent);
  byId("chat-leave").addEventListener("click", leaveRoom);
  byId("support-form").addEventListener("submit", askForSupport);
  byId("chat-support").addEventListener("click", () => {
    leaveRoom();
    byId("support-topic").focus();
  });
  byId("support-return").addEventListener("click", () => {
    const room = [...state.direct].find((r) => !state.endedRooms.has(r));
    if (!room) return;
    beginRoom(room);
    setStatus("rooms-status", "Opening your private chat…");
    if (connection.isReady) sendJoin(room, { since: null });
  });
  byId("support-cancel").addEventListener("click", cancelSupport);
  byId("feedback-form").addEventListener("submit", submitFeedback);
  byId("feedback-skip").addEventListener("click", () => feedbackDone(false));
  byId("chat-ended-back").addEventListener("click", leaveRoom);
  byId("composer").addEventListener("submit", submitMessage);
  byId("composer-text").addEventListener("input", onComposerInput);
  byId("composer-text").addEventListener("keydown", onComposerKey);
  byId("invite-form").addEventListener("submit", submitInvite);
  byId("report-form").addEventListener("submit", submitReport);
  byId("start-again").addEventListener("click", startAgain);
  byId("ended-retry").addEventListener("click", () => {
    if (state.me) {
      showView("rooms");
      connection.start();
    } else {
      load();
    }
  });

  window.addEventListener("online", () => connection.nudge());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") connection.nudge();
  });
  timers.push(setInterval(retryTick, 1000), setInterval(updateBanner, 1000));

  // A small hook for the browser tests (and for a person's own "reconnect" debugging):
  // it can only drop this page's own socket.
  Object.defineProperty(window, "__peerline", {
    value: Object.freeze({
      dropSocket: (options) => connection.drop(options || {}),
      reconnectNow: () => {
        connection.holdUntil = 0;
        connection.nudge();
      },
      isConnected: () => connection.isReady,
      pendingCount: () => outbox.size,
    }),
  });
}

wire();
load();
