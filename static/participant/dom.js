// Small DOM helpers. User-provided text only ever goes through textContent.

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}

/**
 * Make an element. `text` is set with textContent; attributes with setAttribute.
 * Never accepts HTML.
 */
export function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
  if (options.attrs) {
    for (const [name, value] of Object.entries(options.attrs)) {
      if (value === false || value === null || value === undefined) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/** Set a status line's text; an empty string clears it. */
export function setStatus(id, text, kind = "info") {
  const node = byId(id);
  node.textContent = text || "";
  node.dataset.kind = kind;
}

/** Open a <dialog> as a modal, remembering what had focus so it can be given back. */
export function openDialog(dialog) {
  if (dialog.open) return;
  dialog.returnFocusTo = document.activeElement;
  dialog.showModal();
}

export function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

/** Wire the common dialog behaviour once: close buttons and focus restore. */
export function setUpDialog(dialog) {
  dialog.addEventListener("close", () => {
    const back = dialog.returnFocusTo;
    dialog.returnFocusTo = null;
    if (back && typeof back.focus === "function" && document.contains(back)) back.focus();
  });
  // A click on the backdrop (outside the box) closes it, as people expect on phones.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
}
