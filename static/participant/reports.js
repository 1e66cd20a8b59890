// Reporting a message to the program's moderators.

import { byId, closeDialog, openDialog, setStatus } from "./dom.js";
import { connection, state } from "./page.js";

export function openReport(id, text, button) {
  state.reportTarget = { id, button };
  byId("report-quote").textContent = text.length > 280 ? `${text.slice(0, 280)}…` : text;
  byId("report-reason").value = "";
  openDialog(byId("report-dialog"));
  byId("report-reason").focus();
}

export function submitReport(event) {
  event.preventDefault();
  const target = state.reportTarget;
  closeDialog(byId("report-dialog"));
  if (!target || !state.room) return;
  const reason = byId("report-reason").value.trim().slice(0, 1000);
  const sent = connection.send({
    type: "report",
    room: state.room,
    message: target.id,
    reason,
    ref: `report:${target.id}`,
  });
  if (!sent) {
    setStatus("chat-status", "Not connected: the report was not sent. Try again in a moment.", "error");
    return;
  }
  target.button.disabled = true;
  setStatus("chat-status", "Sending the report…");
}

export function onReported(frame) {
  const target = state.reportTarget;
  if (target && target.id === frame.message) {
    target.button.textContent = "Reported";
    target.button.disabled = true;
  }
  state.reportTarget = null;
  setStatus(
    "chat-status",
    "Thank you for the report. It is kept for this program's moderators; the writer will not know who reported it.",
  );
}
