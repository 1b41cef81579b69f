// What the admin dashboard's sections share: tables that keep the keyboard focus across
// refreshes, action buttons, a confirmation dialog, pagers, notices, errors and formatting.
import { ApiError } from "./api.js";
import { language, setText, t } from "./i18n.js";
import { el, showError } from "./page.js";

export const $ = (id) => document.getElementById(id);

export function localized(value) {
  if (!value || typeof value === "string") return value || "";
  return value[language()] || value.en || value.de || "";
}

export function formatTime(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(language(), { dateStyle: "short", timeStyle: "medium" }).format(new Date(iso));
}

export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${new Intl.NumberFormat(language(), { maximumFractionDigits: unit ? 1 : 0 }).format(value)} ${units[unit]}`;
}

export function formatDuration(fromIso, toIso) {
  if (!fromIso || !toIso) return "–";
  const seconds = Math.max(0, Math.round((new Date(toIso) - new Date(fromIso)) / 1000));
  if (seconds < 60) return t("admin.seconds", { n: seconds });
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return t("admin.minutes", { n: minutes });
  return t("admin.hours", { h: Math.floor(minutes / 60), m: minutes % 60 });
}

/** A table cell with text; `key` instead translates a string. */
export function cell(text, attributes = {}) {
  return el("td", { ...attributes, text: text ?? "–" });
}

export function translatedCell(key, params, attributes = {}) {
  const td = el("td", attributes);
  setText(td, key, params);
  return td;
}

/** A small button for a row; `label` names the button and its row for screen readers. */
export function actionButton(action, label, onClick, primary = false) {
  const button = el("button", { type: "button", class: primary ? "button small primary" : "button small",
    "data-action": action });
  setText(button, `admin.${action}`);
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

/** Replace `tbody`'s rows (each with data-key), keeping the focus on the same action of the same row. */
export function fillRows(tbody, rows, emptyNote = null) {
  const focused = document.activeElement;
  const row = focused?.closest?.("tr[data-key]");
  const kept = row && tbody.contains(row) ? { key: row.dataset.key, action: focused.dataset.action } : null;
  tbody.replaceChildren(...rows);
  if (emptyNote) emptyNote.hidden = rows.length > 0;
  if (!kept) return;
  const again = rows.find((r) => r.dataset.key === kept.key);
  (again?.querySelector(`[data-action="${kept.action}"]:not(:disabled)`) || again?.querySelector("[data-action]"))?.focus();
}

/** Ask before something that cannot be undone; resolves to true for OK. */
export function confirmAction(titleKey, messageKey, params, okKey) {
  const dialog = $("confirm-dialog");
  setText($("confirm-title"), titleKey, params);
  setText($("confirm-message"), messageKey, params);
  setText($("confirm-ok"), okKey);
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-ok").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** Previous / next through a listing of `limit` rows; `onChange` loads the page at `offset`. */
export class Pager {
  constructor(nav, onChange, limit = 25) {
    Object.assign(this, { nav, onChange, limit, offset: 0, total: 0 });
    this.previous = this.button("admin.previous", -1);
    this.status = el("span", { class: "pager-status", "aria-live": "polite" });
    this.next = this.button("admin.next", 1);
    nav.append(this.previous, this.status, this.next);
  }

  button(key, step) {
    const button = el("button", { type: "button", class: "button small", "data-step": String(step) });
    setText(button, key);
    button.addEventListener("click", () => {
      this.offset = Math.max(0, this.offset + step * this.limit);
      this.onChange();
    });
    return button;
  }

  reset() {
    this.offset = 0;
  }

  render(total) {
    this.total = total;
    if (this.offset && this.offset >= total) { // the last page emptied meanwhile: back to the one before
      this.offset = Math.max(0, Math.floor((total - 1) / this.limit) * this.limit);
      this.onChange();
      return;
    }
    this.previous.disabled = this.offset === 0;
    this.next.disabled = this.offset + this.limit >= total;
    setText(this.status, "admin.range", { from: total ? this.offset + 1 : 0,
      to: Math.min(total, this.offset + this.limit), total });
  }

  query() {
    return `limit=${this.limit}&offset=${this.offset}`;
  }
}

let noticeTimer = null;

export function notify(key, params) {
  const notice = $("admin-notice");
  setText(notice, key, params);
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.hidden = true; }, 8000);
}

export function errorText(error) {
  if (!(error instanceof ApiError)) return t("error.server");
  if (error.status === 0) return t("error.offline");
  if (error.status === 401) return t("error.signedOut");
  if (error.status === 403 && error.code === "forbidden") return t("admin.err.forbidden");
  if (error.status === 409 || error.status === 400 || error.status === 404 || error.status === 413) {
    return t("admin.err.refused", { reason: error.message }); // the broker's message names what is wrong
  }
  return error.status === 503 ? t("dash.err.engine") : t("error.server");
}

/** Show what went wrong above the sections (moving the focus there, unless it came from a refresh
 * the person did not ask for); signed out means back to the sign-in page. */
export function reportError(error, { focus = true } = {}) {
  if (error instanceof ApiError && error.status === 401) {
    window.location.assign("/");
    return;
  }
  const region = $("admin-error");
  showError(region, errorText(error));
  region.dataset.source = "action";
  if (focus) region.focus();
}

export function clearError() {
  showError($("admin-error"), "");
}
