// Message ids are stream ids "<ms>-<seq>"; they order the messages of a room.

export function parseId(id) {
  const match = /^(\d{1,15})-(\d{1,15})$/.exec(id || "");
  if (!match) return null;
  return [Number(match[1]), Number(match[2])];
}

/** Negative when a < b, zero when equal, positive when a > b. Unparseable ids sort first. */
export function compareIds(a, b) {
  const pa = parseId(a);
  const pb = parseId(b);
  if (!pa || !pb) return (pa ? 1 : 0) - (pb ? 1 : 0);
  return pa[0] - pb[0] || pa[1] - pb[1];
}

export function maxId(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  return compareIds(a, b) >= 0 ? a : b;
}
