// Messages written but not yet acknowledged by the server, in order, each with its nonce.
//
// They live in memory and in sessionStorage (this tab only, gone when the tab closes), so a
// reload or a dropped connection loses no word; Quick Exit and erasing clear them. The nonce is
// fixed when the message is written and reused on every retry: the server keeps one message
// per nonce and answers a retry with the first id.

const KEY = "peerline.pending";
const MAX_ITEMS = 200;

function newNonce() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Outbox {
  constructor(storage = safeSessionStorage()) {
    this.storage = storage;
    this.items = new Map(); // nonce -> {nonce, room, text, created, sentAt, everSent}
    this.disabled = false;
    this.load();
  }

  load() {
    if (!this.storage) return;
    let raw = null;
    try {
      raw = this.storage.getItem(KEY);
    } catch {
      return;
    }
    if (!raw) return;
    try {
      const list = JSON.parse(raw);
      if (!Array.isArray(list)) return;
      for (const item of list.slice(0, MAX_ITEMS)) {
        if (
          item &&
          typeof item.nonce === "string" &&
          typeof item.room === "string" &&
          typeof item.text === "string"
        ) {
          this.items.set(item.nonce, {
            nonce: item.nonce,
            room: item.room,
            text: item.text,
            created: Number(item.created) || Date.now(),
            sentAt: 0,
            everSent: true, // from before a reload: it may have reached the server
          });
        }
      }
    } catch {
      /* a damaged entry is dropped */
    }
  }

  save() {
    if (this.disabled || !this.storage) return;
    try {
      if (this.items.size === 0) {
        this.storage.removeItem(KEY);
        return;
      }
      const list = [...this.items.values()].map(({ nonce, room, text, created }) => ({
        nonce,
        room,
        text,
        created,
      }));
      this.storage.setItem(KEY, JSON.stringify(list));
    } catch {
      /* storage full or blocked: the message is still kept in memory */
    }
  }

  add(room, text) {
    const item = {
      nonce: newNonce(),
      room,
      text,
      created: Date.now(),
      sentAt: 0,
      everSent: false,
    };
    this.items.set(item.nonce, item);
    this.save();
    return item;
  }

  get(nonce) {
    return this.items.get(nonce) || null;
  }

  remove(nonce) {
    const item = this.items.get(nonce) || null;
    if (item) {
      this.items.delete(nonce);
      this.save();
    }
    return item;
  }

  forRoom(room) {
    return [...this.items.values()]
      .filter((item) => item.room === room)
      .sort((a, b) => a.created - b.created);
  }

  get size() {
    return this.items.size;
  }

  /** Forget everything, in memory and in storage. */
  clear() {
    this.items.clear();
    if (!this.storage) return;
    try {
      this.storage.removeItem(KEY);
    } catch {
      /* nothing to do */
    }
  }

  /** After Quick Exit: never write again, even if something still calls save(). */
  disable() {
    this.disabled = true;
    this.items.clear();
  }
}

function safeSessionStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}
