// Words for the review page's codes, shared by the list and the detail view.

export const KIND = { held: "Held alert", flag: "Flagged", topic: "Support topic", report: "Reported" };

export const STATUS = {
  open: "Open",
  dismissed: "Dismissed",
  resolved: "Resolved",
  warned: "Warned",
  muted: "Muted",
  banned: "Banned",
  escalated: "Escalated",
  removed: "Removed",
};

export const CATEGORY = {
  suicide: "suicide",
  self_harm: "self-harm",
  overdose: "overdose",
  medical: "medical emergency",
  harm_to_others: "harm to others",
  abuse_in_progress: "abuse in progress",
};

export function when(ms) {
  const date = new Date(Number(ms));
  if (!Number.isFinite(Number(ms)) || Number.isNaN(date.getTime())) return "";
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay ? time : `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

export function roomText(item) {
  if (item && typeof item.room_name === "string" && item.room_name) return item.room_name;
  const room = item && typeof item.room === "string" ? item.room : "";
  return room.startsWith("dm-") ? "a one-to-one chat" : room || "a room";
}
