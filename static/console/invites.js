// Invitations to a private chat, sent from a group-room alert the staff member took: the
// server finds the message's author (staff never learn more than the pseudonym), who sees
// the invitation and accepts or not. Wire: `invite_direct` -> `invite_sent` (or `error`),
// later `assigned` with `invite` (accepted) or `invite_declined`.

let counter = 0;

export class Invitations {
  /**
   * options: {send(frame) -> bool, say(text, kind, shown), noteOn(room, message, text) -> bool,
   * closeOn(room, message, text) -> bool}
   */
  constructor(options) {
    this.opts = options;
    this.pending = new Map(); // ref -> {room, message, roomName}
    this.sent = new Map(); // invite id -> {room, message, roomName}
  }

  /** Returns true when the frame went out. */
  invite({ room, message, roomName }) {
    if (typeof room !== "string" || typeof message !== "string") return false;
    counter += 1;
    const ref = `invite:${counter}`;
    if (!this.opts.send({ type: "invite_direct", room, message, ref })) {
      this.tell({ room, message }, "Not connected: the invitation was not sent. Try again in a moment.", "error");
      return false;
    }
    this.pending.set(ref, { room, message, roomName: String(roomName || room) });
    return true;
  }

  onSent(frame) {
    const item = this.pending.get(String(frame.ref || ""));
    if (!item) return;
    this.pending.delete(frame.ref);
    if (typeof frame.invite === "string") this.sent.set(frame.invite, item);
    this.tell(item, "Invitation sent. They see it now and can accept or not; the chat opens here if they accept.");
  }

  onDeclined(frame) {
    const item = this.sent.get(String(frame.invite || ""));
    if (!item) return;
    this.sent.delete(frame.invite);
    this.tell(item, `The person in ${item.roomName} declined the private chat.`);
  }

  /** An `assigned` that answers one of our invitations: what the chat pane should say. */
  accepted(invite) {
    const item = this.sent.get(String(invite || ""));
    if (!item) return null;
    this.sent.delete(invite);
    const text = `The person in ${item.roomName} accepted: the private chat is open.`;
    // The alert's card has done its work: the chat is where the person is now.
    const shown = this.opts.closeOn(item.room, item.message, text);
    this.opts.say(text, "info", shown);
    return item;
  }

  /** An error answering `invite_direct`; returns true when it was one. */
  onError(ref, code, detail) {
    if (!ref.startsWith("invite:")) return false;
    const item = this.pending.get(ref);
    this.pending.delete(ref);
    const text =
      code === "bad_frame" ? "The invitation was not sent: that message is no longer there." : `The invitation was not sent: ${detail}.`;
    this.tell(item || {}, text, "error");
    return true;
  }

  tell(item, text, kind = "info") {
    const shown = item.room && this.opts.noteOn(item.room, item.message, text);
    this.opts.say(text, kind, shown);
  }
}
