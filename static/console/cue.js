// Cues for something new: a short generated tone and the count in the document title.
//
// The tone is made with the Web Audio API (no audio file, nothing fetched). Browsers keep
// audio locked until the person has interacted with the page, so the context is created or
// resumed on the first click or key press; before that the cue is visual only.

const BASE_TITLE = "Peerline console";

let context = null;
let enabled = true;

export function setSoundEnabled(on) {
  enabled = Boolean(on);
}

/** Call from a user gesture: creates (or wakes) the audio context so later tones can play. */
export function unlockAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  try {
    if (!context) context = new Ctx();
    if (context.state === "suspended") context.resume().catch(() => {});
  } catch {
    context = null; // no audio on this device: the visual cue still works
  }
}

function beep(start, frequency, length) {
  const osc = context.createOscillator();
  const gain = context.createGain();
  osc.type = "sine";
  osc.frequency.value = frequency;
  // A soft attack and release: a click-free tone that is noticeable but not alarming.
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
  osc.connect(gain).connect(context.destination);
  osc.start(start);
  osc.stop(start + length + 0.02);
}

/** One tone for a new ticket; two rising tones when it is urgent. */
export function playTone({ urgent = false } = {}) {
  if (!enabled || !context || context.state !== "running") return;
  try {
    const now = context.currentTime;
    beep(now, 660, 0.18);
    if (urgent) beep(now + 0.24, 880, 0.22);
  } catch {
    /* audio failed: the visual cue is still there */
  }
}

/**
 * The crisis alarm: three loud, rising square-wave pulses. Unlike the queue tone it ignores the
 * Sound switch (an alert must not be missed). Returns true when it could actually play, false
 * while audio is still locked (no click on the page yet) or absent.
 */
export function playAlarm() {
  if (!context || context.state !== "running") return false;
  try {
    const now = context.currentTime;
    [880, 1175, 1568].forEach((frequency, i) => {
      const start = now + i * 0.2;
      const osc = context.createOscillator();
      const gain = context.createGain();
      osc.type = "square";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.35, start + 0.01);
      gain.gain.setValueAtTime(0.35, start + 0.13);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.17);
      osc.connect(gain).connect(context.destination);
      osc.start(start);
      osc.stop(start + 0.2);
    });
    return true;
  } catch {
    return false;
  }
}

/** "running", "locked" (needs a click) or "none" (no Web Audio on this device). */
export function audioState() {
  if (!(window.AudioContext || window.webkitAudioContext)) return "none";
  return context && context.state === "running" ? "running" : "locked";
}

let normalTitle = BASE_TITLE;
let flashText = "";
let flashTimer = null;
let flashOn = false;

/** "(3 waiting · 2 unread) Peerline console": visible in the tab strip from other tabs. */
export function setTitleCounts(waiting, unread) {
  const parts = [];
  if (waiting > 0) parts.push(`${waiting} waiting`);
  if (unread > 0) parts.push(`${unread} unread`);
  normalTitle = parts.length ? `(${parts.join(" · ")}) ${BASE_TITLE}` : BASE_TITLE;
  if (!flashTimer) document.title = normalTitle;
}

/** Flash the title between `text` and the normal title every second; "" stops it. */
export function flashTitle(text) {
  flashText = text || "";
  if (!flashText) {
    clearInterval(flashTimer);
    flashTimer = null;
    flashOn = false;
    document.title = normalTitle;
    return;
  }
  if (flashTimer) return;
  flashOn = true;
  document.title = flashText;
  flashTimer = setInterval(() => {
    flashOn = !flashOn;
    document.title = flashOn ? flashText : normalTitle;
  }, 1000);
}
