// The optional feedback prompt shown after a supporter ends a one-to-one chat:
// helpfulness 1-5 (radio buttons) and an optional comment. Stored by the server with no link
// to the person; this module only shows the form and reads it.

import { byId, setStatus } from "./dom.js";

const MAX_COMMENT = 1000;

/** Back to the start: nothing chosen, nothing written, no thanks yet. */
export function resetFeedback() {
  const form = byId("feedback-form");
  form.reset();
  form.hidden = true;
  byId("feedback-thanks").hidden = true;
  setStatus("feedback-status", "");
}

/**
 * Show the form. The notice's own sentence is not repeated: the heading above already says
 * the chat ended, and the form asks the question.
 */
export function showFeedback() {
  resetFeedback();
  byId("feedback-form").hidden = false;
}

/** {rating, comment} from the form, or null (with a message shown) when no rating is chosen. */
export function readFeedback() {
  const picked = byId("feedback-form").querySelector("input[name=rating]:checked");
  if (!picked) {
    setStatus("feedback-status", "Choose a number from 1 to 5, or press Skip.", "error");
    return null;
  }
  const comment = byId("feedback-comment").value.trim().slice(0, MAX_COMMENT);
  return { rating: Number(picked.value), comment: comment || null };
}

export function feedbackSending() {
  setStatus("feedback-status", "Sending…");
}

export function feedbackFailed(detail) {
  setStatus("feedback-status", `Your feedback was not sent: ${detail}.`, "error");
}

export function feedbackDone(thanked) {
  byId("feedback-form").hidden = true;
  setStatus("feedback-status", "");
  const thanks = byId("feedback-thanks");
  thanks.hidden = !thanked;
  (thanked ? thanks : byId("chat-ended-back")).focus();
}
