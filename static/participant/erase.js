// Erasing: the person deletes their session and everything kept about it on this device.

import * as api from "./api.js";
import { hideCrisis } from "./crisis.js";
import { byId, closeDialog, openDialog, setStatus } from "./dom.js";
import { connection, messages, outbox, showView, state } from "./page.js";
import { clearAllStorage } from "./quickexit.js";
import { sessionGone } from "./session.js";
import { forgetSupport } from "./support.js";

export function openErase() {
  setStatus("erase-status", "");
  byId("erase-confirm").disabled = false;
  openDialog(byId("erase-dialog"));
}

export async function confirmErase() {
  const button = byId("erase-confirm");
  if (button.disabled) return;
  button.disabled = true;
  state.erasing = true;
  state.endedDuringErase = false;
  setStatus("erase-status", "Erasing…");
  const result = await api.deleteSession();
  state.erasing = false;
  if (result.status === 204) {
    connection.stop();
    outbox.clear();
    clearAllStorage();
    forgetSupport();
    hideCrisis();
    state.me = null;
    state.room = null;
    state.joinedRoom = null;
    state.lastId.clear();
    state.ownIds.clear();
    messages.reset();
    closeDialog(byId("erase-dialog"));
    showView("erased");
    return;
  }
  if (result.status === 401) {
    closeDialog(byId("erase-dialog"));
    sessionGone("Your session had already ended, so there was nothing more to erase.");
    return;
  }
  button.disabled = false;
  setStatus(
    "erase-status",
    result.status === 0
      ? "Peerline could not be reached. Nothing was erased. Please try again."
      : "Erasing failed. Nothing was erased. Please try again in a moment.",
    "error",
  );
  if (state.endedDuringErase) {
    // The session ended on its own while we asked; nothing left to erase from here.
    closeDialog(byId("erase-dialog"));
    sessionGone("Your session has ended.");
  }
}
