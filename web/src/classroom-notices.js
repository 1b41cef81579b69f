// What a student sees of the classroom (the `classroom` event of /api/events), on the viewer
// and the dashboard: the lock screen with the teacher's words, the teacher's messages (each
// dismissable), and the hand-raise button. The broker enforces the lock; this only shows it.
import { sendChange } from "./api.js";
import { setText, t } from "./i18n.js";
import { el } from "./page.js";

const dismissed = new Set(); // dismissed here, until the next event no longer lists them

/** Messages as cards in `container` (a polite live region), each with its dismiss button. */
export function renderMessages(container, messages) {
  const shown = new Map([...container.children].map((card) => [card.dataset.messageId, card]));
  const wanted = messages.filter((message) => !dismissed.has(message.id)).map((message) => {
    const id = String(message.id);
    if (shown.has(id)) return shown.get(id);
    const close = el("button", { type: "button", class: "tool message-dismiss", "data-action": "dismiss" });
    setText(close, "msg.dismiss");
    close.setAttribute("aria-label", t("msg.dismissLabel", { name: message.from }));
    close.addEventListener("click", async () => {
      dismissed.add(message.id);
      card.remove();
      container.hidden = !container.children.length;
      try {
        await sendChange("POST", `/api/classroom/messages/${message.id}/dismiss`);
      } catch {
        // gone already, or offline: it stays dismissed on this page
      }
    });
    const card = el("div", { class: "message", "data-message-id": id },
      el("p", { class: "message-from", text: t("msg.from", { name: message.from }) }),
      el("p", { class: "message-text", translate: "no", text: message.text }), close);
    return card;
  });
  container.replaceChildren(...wanted);
  container.hidden = !wanted.length;
}

/** The lock screen `element` (with .lock-text and .lock-by inside) for `lock`, or hidden for null. */
export function renderLock(element, lock) {
  element.hidden = !lock;
  if (!lock) return;
  element.querySelector(".lock-text").textContent = lock.text;
  element.querySelector(".lock-text").hidden = !lock.text;
  setText(element.querySelector(".lock-by"), "lock.by", { name: lock.by });
}

/** The toolbar's hand button: raises or withdraws; `update(raisedAt)` follows the event stream. */
export function setupHandButton(button) {
  let raised = false;
  const show = () => {
    button.setAttribute("aria-pressed", String(raised));
    setText(button, raised ? "hand.lower" : "hand.raise");
  };
  button.hidden = false;
  button.addEventListener("click", async () => {
    const want = !raised;
    try {
      await sendChange(want ? "POST" : "DELETE", "/api/classroom/hand");
      raised = want;
      show();
    } catch {
      // offline or signed out: the button stays as it was
    }
  });
  show();
  return {
    update(raisedAt) {
      raised = Boolean(raisedAt);
      show();
    },
  };
}
