// One WebSocket to /ws that comes back by itself: jittered backoff from 0.5 s doubling to 30 s.
//
// The owner gets: onReady(hello) after each (re)connect, onFrame(frame) for every later frame,
// onDown() when the socket is lost and a retry is planned, and onEnd(reason, detail) when it
// must not retry: "session" (1008: the session is gone), "banned" (4501), "broken" (1003).

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const HEARTBEAT_MS = 25_000; // a ping when quiet, so a dead mobile link is noticed
const SILENCE_LIMIT_MS = 55_000; // nothing at all heard for this long: the socket is dead

export const CloseCode = Object.freeze({
  UNSUPPORTED_DATA: 1003,
  POLICY: 1008,
  TOO_BIG: 1009,
  BANNED: 4501,
});

export function socketUrl(loc = window.location) {
  return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/ws";
}

export class Connection {
  constructor({ url, onReady, onFrame, onDown, onEnd, onProblem, checkSession }) {
    this.url = url;
    this.onReady = onReady;
    this.onFrame = onFrame;
    this.onDown = onDown;
    this.onEnd = onEnd;
    this.onProblem = onProblem || (() => {});
    this.checkSession = checkSession || (async () => "unknown");
    this.ws = null;
    this.ready = false; // hello received on the current socket
    this.everReady = false; // hello received on some socket since start()
    this.stopped = true;
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.lastHeard = 0;
    this.holdUntil = 0; // test hook: do not reconnect before this time
  }

  get isReady() {
    return this.ready && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.everReady = false;
    this.open();
  }

  /** Stop for good (Quick Exit, erase, session gone): no more frames, no reconnect. */
  stop() {
    this.stopped = true;
    this.clearTimers();
    this.discardSocket(1000);
  }

  /** Try now instead of waiting for the backoff (the network came back, the tab is visible). */
  nudge() {
    if (this.stopped || this.ws !== null) return;
    if (Date.now() < this.holdUntil) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.open();
  }

  send(frame) {
    if (!this.isReady) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** For tests and for a stuck socket: close it as a network drop would. */
  drop({ reconnectAfterMs = 0 } = {}) {
    this.holdUntil = Date.now() + reconnectAfterMs;
    if (this.ws) this.ws.close();
  }

  // ---- internals ---------------------------------------------------------------------------

  open() {
    if (this.stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.onmessage = (event) => this.handleMessage(ws, event);
    ws.onclose = (event) => this.handleClose(ws, event);
    ws.onerror = () => {}; // a close event always follows
  }

  handleMessage(ws, event) {
    if (ws !== this.ws) return;
    this.lastHeard = Date.now();
    if (typeof event.data !== "string") return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
    if (!this.ready) {
      if (frame.type !== "hello") {
        // Frames before hello can only be errors (too many sockets); pass them on.
        this.onFrame(frame);
        return;
      }
      this.ready = true;
      this.everReady = true;
      this.attempt = 0;
      this.startHeartbeat();
      this.onReady(frame);
      return;
    }
    this.onFrame(frame);
  }

  async handleClose(ws, event) {
    if (ws !== this.ws) return;
    const hadHello = this.ready;
    this.ws = null;
    this.ready = false;
    this.clearTimers();
    if (this.stopped) return;
    const code = event.code;
    if (code === CloseCode.POLICY) {
      this.stopped = true;
      this.onEnd("session");
      return;
    }
    if (code === CloseCode.BANNED) {
      this.stopped = true;
      this.onEnd("banned");
      return;
    }
    if (code === CloseCode.UNSUPPORTED_DATA) {
      this.stopped = true;
      this.onEnd("broken");
      return;
    }
    if (code === CloseCode.TOO_BIG) this.onProblem("too_big");
    this.onDown();
    if (!hadHello) {
      // The upgrade itself failed. A refused upgrade (no valid session) looks like any other
      // network failure to a browser, so ask the API whether the session still exists.
      const state = await this.checkSession();
      if (this.stopped || this.ws !== null) return;
      if (state === "gone") {
        this.stopped = true;
        this.onEnd("session");
        return;
      }
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    // "Equal jitter": between half and all of the ceiling, so many clients do not return at once.
    let delay = ceiling / 2 + Math.random() * (ceiling / 2);
    delay = Math.max(delay, this.holdUntil - Date.now());
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  startHeartbeat() {
    this.lastHeard = Date.now();
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        // Dead link: do not wait for a closing handshake that will never come.
        const dead = this.ws;
        this.handleClose(dead, { code: 1006 });
        try {
          dead.onclose = null;
          dead.close();
        } catch {
          /* already closed */
        }
        return;
      }
      this.send({ type: "ping" });
    }, HEARTBEAT_MS);
  }

  clearTimers() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  discardSocket(code) {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (!ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    try {
      ws.close(code);
    } catch {
      /* already closing */
    }
  }
}
