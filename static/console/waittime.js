// How long someone has waited, in words a person reads at a glance: "just now", "4 min",
// "1 h 5 min". `offset` is the server clock minus this device's, so times are not skewed.

export function waitedText(sinceMs, offset = 0) {
  const now = Date.now() + offset;
  const minutes = Math.max(0, Math.floor((now - Number(sinceMs)) / 60_000));
  if (!Number.isFinite(minutes) || minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

export function clockText(ms) {
  const date = new Date(Number(ms));
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
