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

/** "(3 waiting · 2 unread) Peerline console": visible in the tab strip from other tabs. */
export function setTitleCounts(waiting, unread) {
  const parts = [];
  if (waiting > 0) parts.push(`${waiting} waiting`);
  if (unread > 0) parts.push(`${unread} unread`);
  document.title = parts.length ? `(${parts.join(" · ")}) ${BASE_TITLE}` : BASE_TITLE;
}
