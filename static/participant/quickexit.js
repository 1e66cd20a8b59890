// Quick Exit: leave at once, without waiting for anything on the network.
//
// Storage is cleared and the socket closed synchronously, then the page is *replaced* by a
// neutral site, so the Back button does not come back here (as Aselo's QuickExit does).

const FALLBACK_URL = "https://www.weather.gov/";
const ESCAPE_PRESSES = 3;
const ESCAPE_WINDOW_MS = 1500;

let exitUrl = FALLBACK_URL;
const hooks = [];

export function setExitUrl(url) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "https:" || parsed.protocol === "http:") exitUrl = parsed.href;
  } catch {
    /* keep the fallback */
  }
}

/** Wipe both web storages of this origin; blocked storage held nothing either. */
export function clearAllStorage() {
  try {
    window.localStorage.clear();
  } catch {
    /* nothing */
  }
  try {
    window.sessionStorage.clear();
  } catch {
    /* nothing */
  }
}

/** A synchronous step to run on exit (close the socket, stop writing storage). */
export function onQuickExit(hook) {
  hooks.push(hook);
}

export function quickExit() {
  try {
    // Forget this device's session on the server too, so the next person to open the site
    // here is not let back in under this name. Sent, never awaited: leaving comes first.
    fetch("/api/session/end", {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
    }).catch(() => {});
  } catch {
    /* no fetch: the cookie's own lifetime still applies */
  }
  clearAllStorage();
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      /* never let a hook stop the exit */
    }
  }
  try {
    // Nothing of the chat stays on screen while the next site loads.
    document.title = "";
    document.body.replaceChildren();
  } catch {
    /* ignore */
  }
  window.location.replace(exitUrl);
}

/** Escape pressed three times within 1.5 s leaves, from anywhere on the page. */
export function installEscapeShortcut(target = window) {
  let presses = [];
  target.addEventListener(
    "keydown",
    (event) => {
      if (event.key !== "Escape" || event.repeat || event.isComposing) return;
      const now = Date.now();
      presses = presses.filter((t) => now - t < ESCAPE_WINDOW_MS);
      presses.push(now);
      if (presses.length >= ESCAPE_PRESSES) {
        presses = [];
        quickExit();
      }
    },
    { capture: true },
  );
}
