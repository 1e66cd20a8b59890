// Tells the server the person is using the console, so the 15-minute idle limit counts from
// their last real action and not from the last frame a timer sent. At most once a minute.

const EVERY_MS = 60_000;

export function trackActivity(target, send) {
  let last = 0;
  const touch = () => {
    const now = Date.now();
    if (now - last < EVERY_MS) return;
    // Only count it as sent when the socket took it, so the next gesture tries again.
    if (send({ type: "active" })) last = now;
  };
  target.addEventListener("keydown", touch, { passive: true });
  target.addEventListener("pointerdown", touch, { passive: true });
}
