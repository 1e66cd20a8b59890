// The login form: username, password and the 6-digit authenticator code.

import { byId, setStatus } from "../participant/dom.js";
import * as api from "./api.js";

function failureText(result) {
  switch (result.status) {
    case 0:
      return "The server cannot be reached. Check the connection and try again.";
    case 401:
      return "That did not work. Check your username, password and authenticator code.";
    case 429: {
      const wait = Number(result.headers && result.headers.get("Retry-After"));
      const when = Number.isFinite(wait) && wait > 0 ? ` Wait ${Math.ceil(wait)} seconds.` : " Wait a while.";
      if (result.body && result.body.error === "busy") {
        return `The server is checking many logins at once.${when}`;
      }
      return `Too many login attempts.${when}`;
    }
    case 403:
      return "The server refused this login page. Open the console from the server's own address.";
    case 503:
      return "Staff login is not available on this server right now.";
    default:
      return "Logging in failed. Try again in a moment.";
  }
}

/** Wire the form; onSuccess(loginBody) runs after a good login. */
export function setUpLogin(onSuccess) {
  const form = byId("login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = byId("login-submit");
    if (submit.disabled) return;
    const username = byId("login-username").value.trim();
    const password = byId("login-password").value;
    const totp = byId("login-totp").value.replace(/\s+/g, "");
    if (!username || !password) {
      setStatus("login-status", "Enter your username and password.", "error");
      (username ? byId("login-password") : byId("login-username")).focus();
      return;
    }
    if (!/^\d{6}$/.test(totp)) {
      setStatus("login-status", "The authenticator code is 6 digits.", "error");
      byId("login-totp").focus();
      return;
    }
    submit.disabled = true;
    setStatus("login-status", "Logging in…");
    const result = await api.login(username, password, totp);
    submit.disabled = false;
    if (result.status === 200 && result.body) {
      // Nothing of the secret stays in the form once it has done its job.
      byId("login-password").value = "";
      byId("login-totp").value = "";
      setStatus("login-status", "");
      onSuccess(result.body);
      return;
    }
    byId("login-totp").value = "";
    setStatus("login-status", failureText(result), "error");
    byId("login-totp").focus();
  });
}

export function showLoginNote(text) {
  const note = byId("login-note");
  note.textContent = text || "";
  note.hidden = !text;
}
