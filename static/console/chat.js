// One open one-to-one chat in the console: its messages, composer with canned replies, the
// private notes panel and the wrap-up form. Everything from people or the server is put on
// the page with textContent (through el()), never parsed as HTML.

import { el } from "../participant/dom.js";
import { maxId } from "../participant/ids.js";
import { clockText } from "./waittime.js";

const MAX_TEXT = 4000;
const MAX_SHOWN = 500;
const TYPING_SEND_MS = 2000; // tell the participant "typing" at most every 2 s
const TYPING_SHOW_MS = 3000; // show their "typing" hint for 3 s after the last signal
// What a flagged message's mark says: the level in words (never colour alone), then the kind.
const FLAG_WORDS = { urgent: "Urgent", concern: "Concern" };
const CATEGORY_WORDS = {
  suicide: "suicide risk",
  self_harm: "self-harm",
  overdose: "possible overdose",
  medical: "medical emergency",
  harm_to_others: "harm to others",
  abuse_in_progress: "abuse in progress",
  substance_use: "substance use",
};
// In a group room a flag counts as open (the tab's urgency) for an hour: the room goes on,
// and a mark from yesterday is history, still shown on its message. In a one-to-one chat a
// flag stays open for the chat's life.
const GROUP_FLAG_OPEN_MS = 60 * 60 * 1000;
const ROLE_WORDS = {
  participant: "Participant",
  supporter: "Supporter",
  facilitator: "Facilitator",
  moderator: "Moderator",
  admin: "Staff",
};

let counter = 0;

function newNonce() {
  return crypto.randomUUID();
}

export class Chat {
  /**
   * options: {room, topic, priority, me: {name}, canned: [{title,text}], wrapup: {topics,
   * outcomes}, send(frame) -> bool, onChange(chat), onEnd(chat), onTransfer(chat),
   * onClose(chat), onIncoming(chat, frame)}
   */
  constructor(options) {
    counter += 1;
    this.number = counter;
    this.key = `c${counter}`; // DOM ids: never the room id, which is the server's
    this.room = options.room;
    this.topic = typeof options.topic === "string" && options.topic.trim() ? options.topic.trim() : "";
    this.priority = options.priority || "";
    this.origin = typeof options.origin === "string" ? options.origin : ""; // "Invited from …"
    this.opts = options;
    // A group room (opened by a facilitator): messages and a composer only; notes, transfer,
    // end and wrap-up belong to one-to-one chats.
    this.group = options.group === true;
    this.roomName = typeof options.roomName === "string" ? options.roomName : "";
    this.participant = ""; // the participant's pseudonym, once a message shows it
    this.unread = 0;
    this.ended = false;
    this.wrapped = false;
    this.joined = false;
    this.lastId = null;
    this.ids = new Set(); // message ids shown
    this.flags = new Map(); // message id -> {label, category}: read as urgent or concern
    this.early = new Map(); // `flagged` that came before its message
    this.noteIds = new Set();
    this.pending = new Map(); // nonce -> {text, li}
    this.noteDrafts = new Map(); // ref -> text, to give it back when refused
    this.typingSentAt = 0;
    this.typingTimer = null;
    this.build();
  }

  /** "urgent", "concern" or "": the highest flag on a message still shown. */
  get urgency() {
    let level = "";
    const since = this.group ? Date.now() - GROUP_FLAG_OPEN_MS : 0;
    for (const [id, flag] of this.flags) {
      if (Number(id.split("-")[0]) < since) continue;
      if (flag.label === "urgent") return "urgent";
      if (flag.label === "concern") level = "concern";
    }
    return level;
  }

  get title() {
    if (this.group) return this.roomName || "Group room";
    return this.participant ? `Chat with ${this.participant}` : `Chat ${this.number}`;
  }

  // ---- building the pane -------------------------------------------------------------------

  build() {
    const k = this.key;
    this.heading = el("h2", { text: this.title, attrs: { id: `${k}-title`, tabindex: "-1" } });
    this.sub = el("p", { className: "pane-sub muted" });
    this.flagNote = el("p", { className: "flag-note", attrs: { hidden: true } });
    this.renderSub();
    this.leaveButton = el("button", { className: "btn btn-small", text: "Leave room", attrs: { type: "button" } });
    this.leaveButton.addEventListener("click", () => {
      this.opts.send({ type: "leave", room: this.room });
      this.opts.onClose(this);
    });
    this.transferButton = el("button", {
      className: "btn btn-small",
      text: "Transfer",
      attrs: { type: "button" },
    });
    this.transferButton.addEventListener("click", () => this.opts.onTransfer(this));
    this.endButton = el("button", {
      className: "btn btn-small btn-end",
      text: "End chat",
      attrs: { type: "button" },
    });
    this.endButton.addEventListener("click", () => this.opts.onEnd(this));

    this.list = el("ol", {
      className: "messages console-messages",
      attrs: {
        "aria-live": "polite",
        "aria-relevant": "additions",
        "aria-label": "Messages",
        tabindex: "0",
      },
    });
    this.status = el("p", { className: "status-line", attrs: { role: "status" } });
    this.typing = el("p", { className: "typing" });
    this.endedNote = el("p", {
      className: "ended-note",
      text: "This chat has ended. The participant can no longer write here.",
      attrs: { hidden: true },
    });

    this.pane = el(
      "section",
      { className: "chat-pane", attrs: { "aria-labelledby": `${k}-title`, hidden: true } },
      [
        el("div", { className: "pane-head" }, [
          el("div", { className: "pane-head-text" }, [this.heading, this.sub, this.flagNote]),
          el(
            "div",
            { className: "pane-actions" },
            this.group ? [this.leaveButton] : [this.transferButton, this.endButton],
          ),
        ]),
        el("div", { className: `pane-body${this.group ? " is-group" : ""}` }, [
          el("div", { className: "conversation" }, [
            this.list,
            this.typing,
            this.endedNote,
            this.status,
            this.buildComposer(),
            this.group ? null : this.buildWrapup(),
          ]),
          this.group ? null : this.buildNotes(),
        ]),
      ],
    );
  }

  renderSub() {
    const priority = FLAG_WORDS[this.priority];
    const sub = this.group
      ? ["Group room: everyone in the room sees what you write here"]
      : [priority, this.topic ? `Topic: ${this.topic}` : this.origin || "No topic given"].filter(Boolean);
    this.sub.textContent = sub.join(" · ");
    const level = this.urgency;
    this.flagNote.hidden = !level;
    this.flagNote.dataset.level = level;
    this.flagNote.textContent =
      level === "urgent"
        ? "Urgent: a message here reads as a crisis (marked below). The crisis lines were shown to them."
        : level === "concern"
          ? "Concern: a message here reads as worrying (marked below). The crisis lines were shown to them."
          : "";
  }

  buildComposer() {
    const k = this.key;
    this.box = el("textarea", {
      attrs: {
        id: `${k}-text`,
        rows: "3",
        maxlength: String(MAX_TEXT),
        placeholder: this.group ? "Write to the room" : "Write to the participant",
      },
    });
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.composer.requestSubmit();
      }
    });
    this.box.addEventListener("input", () => {
      // A person waiting for an answer is reassured to see that one is being written.
      const now = Date.now();
      if (!this.joined || !this.box.value.trim() || now - this.typingSentAt < TYPING_SEND_MS) return;
      if (this.opts.send({ type: "typing", room: this.room })) this.typingSentAt = now;
    });
    this.sendButton = el("button", { className: "btn btn-primary", text: "Send", attrs: { type: "submit" } });
    const canned = Array.isArray(this.opts.canned) ? this.opts.canned : [];
    let cannedRow = null;
    if (canned.length) {
      this.cannedSelect = el(
        "select",
        { attrs: { id: `${k}-canned` } },
        [
          el("option", { text: "Choose a reply…", attrs: { value: "" } }),
          ...canned.map((c, i) => el("option", { text: String(c.title || `Reply ${i + 1}`), attrs: { value: String(i) } })),
        ],
      );
      const insert = el("button", { className: "btn btn-small", text: "Insert", attrs: { type: "button" } });
      insert.addEventListener("click", () => this.insertCanned());
      cannedRow = el("div", { className: "canned-row" }, [
        el("label", { text: "Canned reply", attrs: { for: `${k}-canned` } }),
        this.cannedSelect,
        insert,
      ]);
    }
    this.composer = el("form", { className: "console-composer", attrs: { autocomplete: "off" } }, [
      cannedRow,
      el("div", { className: "composer" }, [
        el("label", {
          className: "visually-hidden",
          text: this.group ? `Message to ${this.title}` : "Message to the participant",
          attrs: { for: `${k}-text` },
        }),
        this.box,
        this.sendButton,
      ]),
    ]);
    this.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    return this.composer;
  }

  buildNotes() {
    const k = this.key;
    this.noteList = el("ol", { className: "note-list", attrs: { "aria-label": "Notes so far" } });
    this.noteBox = el("textarea", { attrs: { id: `${k}-note`, rows: "3", maxlength: String(MAX_TEXT) } });
    this.noteStatus = el("p", { className: "status-line", attrs: { role: "status" } });
    const form = el("form", { className: "note-form", attrs: { autocomplete: "off" } }, [
      el("label", { text: "New note", attrs: { for: `${k}-note` } }),
      this.noteBox,
      this.noteStatus,
      el("button", { className: "btn btn-small", text: "Add note", attrs: { type: "submit" } }),
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitNote();
    });
    this.noteEmpty = el("p", { className: "muted note-empty", text: "No notes yet." });
    return el("aside", { className: "notes", attrs: { "aria-labelledby": `${k}-notes` } }, [
      el("h3", { text: "Private notes", attrs: { id: `${k}-notes` } }),
      el("p", { className: "staff-only", text: "Staff only: never shown to the participant." }),
      this.noteEmpty,
      this.noteList,
      form,
    ]);
  }

  buildWrapup() {
    const k = this.key;
    const lists = this.opts.wrapup || {};
    const options = (values) =>
      (Array.isArray(values) ? values : []).map((v) => el("option", { text: String(v), attrs: { value: String(v) } }));
    this.wrapTopic = el("select", { attrs: { id: `${k}-wrap-topic`, required: true } }, [
      el("option", { text: "Choose…", attrs: { value: "" } }),
      ...options(lists.topics),
    ]);
    this.wrapOutcome = el("select", { attrs: { id: `${k}-wrap-outcome`, required: true } }, [
      el("option", { text: "Choose…", attrs: { value: "" } }),
      ...options(lists.outcomes),
    ]);
    this.wrapReferral = el("input", { attrs: { id: `${k}-wrap-referral`, type: "checkbox" } });
    this.wrapStatus = el("p", { className: "status-line", attrs: { role: "status" } });
    this.wrapSubmit = el("button", { className: "btn btn-primary", text: "Save wrap-up", attrs: { type: "submit" } });
    this.closeButton = el("button", { className: "btn", text: "Close chat", attrs: { type: "button", hidden: true } });
    this.closeButton.addEventListener("click", () => this.opts.onClose(this));
    this.wrapForm = el("form", { className: "wrapup", attrs: { hidden: true, "aria-labelledby": `${k}-wrap-title` } }, [
      el("h3", { text: "Wrap-up", attrs: { id: `${k}-wrap-title`, tabindex: "-1" } }),
      el("p", { className: "muted", text: "No names or details that could identify the person." }),
      el("div", { className: "wrap-fields" }, [
        el("div", {}, [el("label", { text: "Topic", attrs: { for: `${k}-wrap-topic` } }), this.wrapTopic]),
        el("div", {}, [el("label", { text: "Outcome", attrs: { for: `${k}-wrap-outcome` } }), this.wrapOutcome]),
      ]),
      el("p", { className: "check" }, [
        this.wrapReferral,
        el("label", { text: "Referral given", attrs: { for: `${k}-wrap-referral` } }),
      ]),
      this.wrapStatus,
      el("div", { className: "actions" }, [this.wrapSubmit, this.closeButton]),
    ]);
    this.wrapForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitWrapup();
    });
    return this.wrapForm;
  }

  // ---- sending -----------------------------------------------------------------------------

  insertCanned() {
    const index = this.cannedSelect.value;
    const item = index === "" ? null : this.opts.canned[Number(index)];
    if (!item) {
      this.setStatus("Choose a canned reply first.", "error");
      this.cannedSelect.focus();
      return;
    }
    const text = String(item.text || "");
    const box = this.box;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = start + text.length;
    this.cannedSelect.value = "";
    this.setStatus("");
  }

  submit() {
    const text = this.box.value;
    if (this.ended) return;
    if (!text.trim()) {
      this.setStatus("Write something first.", "error");
      return;
    }
    if (text.length > MAX_TEXT) {
      this.setStatus(`A message is at most ${MAX_TEXT} characters.`, "error");
      return;
    }
    this.setStatus("");
    const nonce = newNonce();
    const li = this.messageItem({ from: { name: this.opts.me.name }, text, ts: Date.now() }, true);
    li.classList.add("pending");
    li.dataset.nonce = nonce;
    this.pending.set(nonce, { text, li, sent: false });
    this.append(li, true);
    this.box.value = "";
    this.sendPending(nonce);
  }

  sendPending(nonce) {
    const item = this.pending.get(nonce);
    if (!item) return;
    const ok = this.joined && this.opts.send({ type: "say", room: this.room, text: item.text, nonce, ref: nonce });
    item.li.querySelector(".msg-state").textContent = ok ? "Sending…" : "Not sent yet: waiting for the connection";
  }

  /** After a (re)join: everything not yet acknowledged goes again, with its own nonce. */
  flush() {
    for (const nonce of this.pending.keys()) this.sendPending(nonce);
  }

  submitNote() {
    const text = this.noteBox.value.trim();
    if (!text) {
      this.setNoteStatus("Write the note first.", "error");
      return;
    }
    const ref = `note:${newNonce()}`;
    if (!this.opts.send({ type: "note", room: this.room, text, ref })) {
      this.setNoteStatus("Not connected: the note was not saved. Try again in a moment.", "error");
      return;
    }
    this.noteDrafts.set(ref, text);
    this.noteBox.value = "";
    this.setNoteStatus("Saving the note…");
  }

  submitWrapup() {
    const topic = this.wrapTopic.value;
    const outcome = this.wrapOutcome.value;
    if (!topic || !outcome) {
      this.wrapStatus.textContent = "Choose a topic and an outcome.";
      this.wrapStatus.dataset.kind = "error";
      (topic ? this.wrapOutcome : this.wrapTopic).focus();
      return;
    }
    const ok = this.opts.send({
      type: "wrapup",
      room: this.room,
      topic,
      outcome,
      referral: this.wrapReferral.checked,
      ref: `wrapup:${this.room}`,
    });
    this.wrapStatus.dataset.kind = ok ? "info" : "error";
    this.wrapStatus.textContent = ok ? "Saving…" : "Not connected. Try again in a moment.";
    if (ok) this.wrapSubmit.disabled = true;
  }

  // ---- frames from the server --------------------------------------------------------------

  /** `joined`: the history (all of it on a fresh join, the gap after a reconnect). */
  onJoined(frame) {
    // Staff joins of a direct room carry its topic and priority again (after a reload too).
    if (typeof frame.topic === "string" && frame.topic.trim() && !this.topic) this.topic = frame.topic.trim();
    if (frame.priority === "urgent" || (frame.priority === "concern" && this.priority !== "urgent")) {
      this.priority = frame.priority;
    }
    if ("topic" in frame || "priority" in frame) {
      this.renderSub();
      this.opts.onChange(this);
    }
    for (const message of Array.isArray(frame.history) ? frame.history : []) this.onMessage(message, { quiet: true });
    this.joined = frame.more !== true;
    if (this.joined) this.flush();
  }

  onMessage(frame, { quiet = false } = {}) {
    const id = typeof frame.id === "string" ? frame.id : "";
    if (!id || this.ids.has(id)) return;
    this.lastId = maxId(this.lastId, id);
    const from = frame.from && typeof frame.from === "object" ? frame.from : {};
    if (!this.group && from.role === "participant" && from.name && !this.participant) {
      this.participant = String(from.name);
      this.heading.textContent = this.title;
      this.opts.onChange(this);
    }
    // My own message coming back before (or instead of) its ack: adopt the pending copy.
    if (from.role !== "participant" && from.name === this.opts.me.name) {
      for (const [nonce, item] of this.pending) {
        if (item.text === frame.text) {
          this.acknowledge(nonce, id);
          return;
        }
      }
    }
    const own = from.role !== "participant" && from.name === this.opts.me.name;
    if (!own && from.name && this.typing.textContent.startsWith(`${from.name} `)) {
      this.typing.textContent = "";
    }
    const li = this.messageItem(frame, own);
    li.dataset.id = id;
    this.ids.add(id);
    this.append(li, false);
    const flag = frame.flag && typeof frame.flag === "object" ? frame.flag : this.early.get(id);
    this.early.delete(id);
    if (flag) this.markFlag(id, flag);
    if (!own && !quiet) this.opts.onIncoming(this, frame);
  }

  /** `flagged`: one of the shown messages reads as urgent or concern (staff only). */
  onFlagged(frame) {
    const id = typeof frame.message === "string" ? frame.message : "";
    if (!id) return;
    if (!this.ids.has(id)) {
      this.early.set(id, frame); // its message is on its way
      return;
    }
    this.markFlag(id, frame);
  }

  markFlag(id, flag) {
    const label = flag.label === "urgent" ? "urgent" : flag.label === "concern" ? "concern" : "";
    if (!label) return;
    const before = this.urgency;
    this.flags.set(id, { label, category: String(flag.category || "") });
    // The chat's priority follows its flags, as the server's does (shown again after a reload).
    const rank = { urgent: 2, concern: 1 };
    if (rank[label] > (rank[this.priority] || 0)) this.priority = label;
    const li = this.list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
    if (li && !li.querySelector(".flag-mark")) {
      li.classList.add("is-flagged", `flag-${label}`);
      const what = CATEGORY_WORDS[flag.category];
      li.prepend(
        el("p", { className: "flag-mark" }, [
          el("span", { className: "flag-level", text: FLAG_WORDS[label] }),
          what ? el("span", { className: "flag-what", text: what }) : null,
          el("span", { className: "flag-hint", text: "Flagged by the crisis scan" }),
          this.group && this.opts.onInvite ? this.inviteButton(id) : null,
        ]),
      );
    }
    this.renderSub();
    if (this.urgency !== before) this.opts.onChange(this);
  }

  /** In a group room: offer the author of this flagged message a private chat. */
  inviteButton(id) {
    const button = el("button", { className: "btn btn-small", text: "Invite to a private chat", attrs: { type: "button" } });
    button.addEventListener("click", () => {
      if (this.opts.onInvite({ room: this.room, message: id, roomName: this.roomName })) button.disabled = true;
    });
    return button;
  }

  /** `erased`: the author erased these messages, or a moderator removed them. */
  onErased(ids) {
    const before = this.urgency;
    let removed = 0;
    for (const id of Array.isArray(ids) ? ids : []) {
      if (typeof id !== "string") continue;
      this.flags.delete(id);
      this.early.delete(id);
      const li = this.list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
      if (li) {
        li.remove();
        removed += 1;
      }
    }
    if (this.urgency !== before) {
      this.renderSub();
      this.opts.onChange(this);
    }
    return removed;
  }

  onAck(frame) {
    if (typeof frame.nonce === "string" && typeof frame.id === "string") this.acknowledge(frame.nonce, frame.id);
  }

  acknowledge(nonce, id) {
    const item = this.pending.get(nonce);
    if (!item) return;
    this.pending.delete(nonce);
    if (this.ids.has(id)) {
      item.li.remove();
      return;
    }
    this.ids.add(id);
    this.lastId = maxId(this.lastId, id);
    item.li.dataset.id = id;
    delete item.li.dataset.nonce;
    item.li.classList.remove("pending");
    item.li.querySelector(".msg-state").textContent = "";
  }

  /** An error answering one of my frames (matched by ref). Returns true when it was ours. */
  onError(ref, code, detail) {
    const item = this.pending.get(ref);
    if (item) {
      if (code === "rate_limited" || code === "unavailable" || code === "internal") {
        item.li.querySelector(".msg-state").textContent = "Not sent yet: trying again…";
        setTimeout(() => this.sendPending(ref), 3000);
        return true;
      }
      this.pending.delete(ref);
      item.li.classList.remove("pending");
      item.li.classList.add("failed");
      item.li.querySelector(".msg-state").textContent = `Not sent: ${detail}.`;
      if (!this.box.value) this.box.value = item.text;
      return true;
    }
    if (this.noteDrafts.has(ref)) {
      const text = this.noteDrafts.get(ref);
      this.noteDrafts.delete(ref);
      if (!this.noteBox.value) this.noteBox.value = text;
      this.setNoteStatus(`The note was not saved: ${detail}.`, "error");
      return true;
    }
    if (ref === `wrapup:${this.room}`) {
      this.wrapSubmit.disabled = false;
      this.wrapStatus.dataset.kind = "error";
      this.wrapStatus.textContent = `The wrap-up was not saved: ${detail}.`;
      return true;
    }
    return false;
  }

  onTyping(name) {
    if (!name || name === this.opts.me.name) return;
    this.typing.textContent = `${name} is typing…`;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => {
      this.typing.textContent = "";
    }, TYPING_SHOW_MS);
  }

  onNotes(notes) {
    for (const note of Array.isArray(notes) ? notes : []) this.addNote(note);
  }

  onNoted(frame) {
    if (typeof frame.ref === "string" && this.noteDrafts.delete(frame.ref)) this.setNoteStatus("Note saved.");
    this.addNote(frame);
  }

  addNote(note) {
    const id = String(note.id || "");
    if (!id || this.noteIds.has(id)) return;
    this.noteIds.add(id);
    const from = note.from && typeof note.from === "object" ? note.from : {};
    const when = clockText(note.ts);
    this.noteEmpty.hidden = true;
    this.noteList.append(
      el("li", { className: "note" }, [
        el("p", { className: "msg-meta" }, [
          el("span", { className: "msg-who", text: String(from.name || "Staff") }),
          when ? el("span", { className: "msg-time", text: when }) : null,
        ]),
        el("p", { className: "msg-text", text: String(note.text || "") }),
      ]),
    );
  }

  markEnded() {
    if (this.ended || this.group) return;
    this.ended = true;
    this.joined = false;
    this.setStatus("");
    for (const item of this.pending.values()) item.li.querySelector(".msg-state").textContent = "Not sent: the chat ended.";
    this.pending.clear();
    this.composer.hidden = true;
    this.endedNote.hidden = false;
    this.transferButton.disabled = true;
    this.endButton.disabled = true;
    this.wrapForm.hidden = false;
    this.opts.onChange(this);
  }

  markWrapped() {
    this.wrapped = true;
    this.wrapStatus.dataset.kind = "info";
    this.wrapStatus.textContent = "Wrap-up saved. Thank you.";
    for (const control of [this.wrapTopic, this.wrapOutcome, this.wrapReferral]) control.disabled = true;
    this.wrapSubmit.hidden = true;
    this.closeButton.hidden = false;
    this.closeButton.focus();
  }

  onSocketDown() {
    this.joined = false;
    for (const item of this.pending.values()) item.li.querySelector(".msg-state").textContent = "Not sent yet: waiting for the connection";
  }

  // ---- view --------------------------------------------------------------------------------

  show(visible) {
    this.pane.hidden = !visible;
    if (visible) {
      this.list.scrollTop = this.list.scrollHeight;
    }
  }

  focus() {
    if (!this.ended) this.box.focus();
    else if (!this.wrapped) this.wrapTopic.focus();
    else this.heading.focus();
  }

  setStatus(text, kind = "info") {
    this.status.textContent = text || "";
    this.status.dataset.kind = kind;
  }

  setNoteStatus(text, kind = "info") {
    this.noteStatus.textContent = text || "";
    this.noteStatus.dataset.kind = kind;
  }

  append(li, force) {
    const l = this.list;
    const pinned = force || l.scrollHeight - l.scrollTop - l.clientHeight < 80;
    // Pending messages stay last; a confirmed one goes before the first pending.
    const firstPending = li.dataset.nonce ? null : l.querySelector("li[data-nonce]");
    l.insertBefore(li, firstPending);
    while (l.children.length > MAX_SHOWN) l.firstElementChild.remove();
    if (pinned) l.scrollTop = l.scrollHeight;
  }

  // A line from the server about the chat itself (the participant left, say): not a message.
  onNotice(text) {
    this.append(el("li", { className: "msg system", text: String(text || "") }), true);
  }

  messageItem(frame, own) {
    const from = frame.from && typeof frame.from === "object" ? frame.from : {};
    const role = String(from.role || "");
    const roleWords = ROLE_WORDS[role] || "";
    const when = clockText(frame.ts);
    return el("li", { className: `msg${own ? " own" : ""}${role && role !== "participant" ? " staff" : ""}` }, [
      el("p", { className: "msg-meta" }, [
        el("span", { className: "msg-who", text: own ? "You" : String(from.name || "Someone") }),
        roleWords && !own ? el("span", { className: "msg-role", text: roleWords }) : null,
        when ? el("span", { className: "msg-time", text: when }) : null,
      ]),
      el("p", { className: "msg-text", text: String(frame.text || "") }),
      el("div", { className: "msg-foot" }, [el("span", { className: "msg-state" })]),
    ]);
  }
}
