// The dashboard: a card per desktop type the person may start, kept up to date by the
// server-sent events of /api/events (polling /api/container/list when those fail), which also
// bring a teacher's messages and the notice that the screens are locked.
import { getJson, postJson } from "./api.js";
import { renderLock, renderMessages } from "./classroom-notices.js";
import { language, onLanguageChange, setText, t } from "./i18n.js";
import { createLessonCountdown } from "./lesson-end.js";
import { el, showError, startPage } from "./page.js";
import { desktopErrorKey, reasonHelps, startUrl } from "./start-errors.js";
import { followDemo } from "./viewer-classroom.js";

const BUSY = new Set(["creating", "starting", "stopping"]);
const POLL_MS = 5000;

const root = document.getElementById("desktops");
const errorRegion = document.getElementById("dashboard-error");
const liveBadge = document.getElementById("live-state");
let types = [];
const desktops = new Map(); // desktop type id → desktop
const pending = new Map(); // desktop type id → "stopping" | "removing", while a request runs

function fail(error, title) {
  const key = desktopErrorKey(error);
  errorRegion.dataset.key = key;
  showError(errorRegion, `${title}: ${t(key)}${error?.message && reasonHelps(key) ? ` (${error.message})` : ""}`);
  errorRegion.focus();
}

function localized(value) {
  if (!value || typeof value === "string") return value || "";
  return value[language()] || value.en || value.de || "";
}

function formatTime(iso) {
  if (!iso) return t("dash.never");
  return new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

function icon(kind) {
  const title = localized(kind.title);
  if (/^data:image\//.test(kind.icon || "")) return el("img", { class: "type-icon", src: kind.icon, alt: "" });
  // A freedesktop icon name cannot be drawn in the browser: the title's first letter stands in.
  return el("span", { class: "type-icon fallback", "aria-hidden": "true", translate: "no",
    text: (title || kind.id).charAt(0).toUpperCase() });
}

function stateOf(kind) {
  if (pending.get(kind.id) === "stopping") return "stopping";
  return desktops.get(kind.id)?.state || "none";
}

// Folders assigned while the desktop runs: its container cannot mount them, a restart brings them.
function foldersNotice(desktop) {
  const folders = desktop.folders_pending || [];
  if (!folders.length) return null;
  const names = new Intl.ListFormat(language(), { type: "conjunction" })
    .format(folders.map((name) => t("dash.quoted", { name })));
  return el("p", { class: "notice folders-pending", role: "status",
    text: t(folders.length === 1 ? "dash.newFolder" : "dash.newFolders", { folders: names }) });
}

// A lesson's end stops the desktop soon: a countdown per desktop, kept across re-renders.
const countdowns = new Map();
function lessonEndNotice(typeId, desktop) {
  if (!desktop.stops_at) {
    countdowns.get(typeId)?.countdown.update(null);
    return null;
  }
  let kept = countdowns.get(typeId);
  if (!kept) {
    const banner = el("p", { class: "notice lesson-end", hidden: true });
    kept = { banner, countdown: createLessonCountdown(banner) };
    countdowns.set(typeId, kept);
  }
  kept.countdown.update(desktop.stops_at);
  return kept.banner;
}

function button(key, labelKey, title, onClick, primary = false) {
  const b = el("button", { type: "button", class: primary ? "button primary" : "button", "data-action": key });
  setText(b, `dash.${key}`);
  b.setAttribute("aria-label", t(labelKey, { title }));
  b.addEventListener("click", onClick);
  return b;
}

function card(kind) {
  const title = localized(kind.title);
  const desktop = desktops.get(kind.id);
  const state = stateOf(kind);
  const busy = BUSY.has(state) || pending.has(kind.id);
  const headingId = `type-${kind.id}-title`;
  const status = el("span", { class: `status state-${state}`, "data-state": state });
  setText(status, `dash.state.${state}`);
  const actions = el("div", { class: "actions" });
  if (state === "running" && desktop) {
    const connect = el("a", { class: "button primary", "data-action": "connect",
      href: `/desktops/${encodeURIComponent(desktop.id)}/view?protocol=guacamole&mode=control`,
      "aria-label": t("dash.connectLabel", { title }) });
    setText(connect, "dash.connect");
    actions.append(connect, button("stop", "dash.stopLabel", title, () => act(kind, "stop")));
  } else {
    // Start opens the viewer at once: it starts the desktop, shows how far the start is and draws it.
    const start = button("start", "dash.startLabel", title, () => window.location.assign(startUrl(kind.id)), true);
    start.disabled = busy;
    actions.append(start);
  }
  if (desktop && !busy) actions.append(button("remove", "dash.removeLabel", title, () => act(kind, "remove")));
  for (const b of actions.querySelectorAll("button")) if (busy) b.disabled = true;
  const reason = desktop?.reason && state !== "running" ? el("p", { class: "reason", text: desktop.reason }) : null;
  const notice = desktop && state === "running" ? foldersNotice(desktop) : null;
  // Told before the start (and seen in the viewer while connected): this type records sessions.
  const recorded = kind.recorded ? el("p", { class: "notice recorded", id: `type-${kind.id}-recorded`, role: "note",
    text: t("dash.recorded") }) : null;
  if (recorded) for (const control of actions.querySelectorAll("[data-action=start], [data-action=connect]")) {
    control.setAttribute("aria-describedby", recorded.id);
  }
  const lessonEnd = desktop && state === "running" ? lessonEndNotice(kind.id, desktop) : null;
  const lastAccess = desktop ? (desktop.last_activity_at || desktop.started_at) : null;
  const egress = (desktop && desktop.egress) || kind.egress || "none"; // what this desktop reaches beyond its screen
  const dl = el("dl", { class: "facts" },
    el("dt", { "data-i18n": "dash.status" }), el("dd", {}, busy ? el("span", { class: "spinner", "aria-hidden": "true" }) : null, status),
    el("dt", { "data-i18n": "dash.lastAccess" }), el("dd", { class: "last-access", text: formatTime(lastAccess) }),
    el("dt", { "data-i18n": "dash.network" }),
    el("dd", { class: "egress", "data-egress": egress, title: t(`egress.${egress}.long`), text: t(`egress.${egress}`) }));
  const article = el("article", { class: "desktop-card", "data-type": kind.id, "data-state": state,
    "aria-labelledby": headingId, "aria-busy": busy ? "true" : "false" },
    el("div", { class: "card-head" }, icon(kind), el("h2", { id: headingId, text: title })),
    el("p", { class: "description", text: localized(kind.description) }), dl, recorded, reason, notice, lessonEnd, actions);
  return article;
}

function render() {
  const focused = document.activeElement?.closest?.(".desktop-card") ? {
    type: document.activeElement.closest(".desktop-card").dataset.type,
    action: document.activeElement.dataset.action,
  } : null;
  root.replaceChildren();
  if (!types.length) {
    const none = el("p", { class: "empty" });
    setText(none, "dash.none");
    root.append(none);
    return;
  }
  for (const kind of types) root.append(card(kind));
  for (const dt of root.querySelectorAll("dt[data-i18n]")) setText(dt, dt.dataset.i18n);
  if (focused) { // keep the keyboard focus where it was across a re-render
    const again = root.querySelector(`.desktop-card[data-type="${CSS.escape(focused.type)}"] [data-action]`);
    const same = root.querySelector(`.desktop-card[data-type="${CSS.escape(focused.type)}"] [data-action="${focused.action}"]`);
    (same || again)?.focus();
  }
}

function setDesktops(list) {
  desktops.clear();
  for (const desktop of list) desktops.set(desktop.desktop_type, desktop);
  render();
}

async function act(kind, action) {
  const title = localized(kind.title);
  if (action === "remove" && !window.confirm(t("dash.confirmRemove", { title }))) return;
  showError(errorRegion, "");
  pending.set(kind.id, { stop: "stopping", remove: "removing" }[action]);
  render();
  try {
    const answer = await postJson(`/api/container/${action}?desktop_type=${encodeURIComponent(kind.id)}`, {});
    if (action === "remove") desktops.delete(kind.id);
    else desktops.set(kind.id, answer);
  } catch (error) {
    fail(error, title);
    refresh();
  } finally {
    pending.delete(kind.id);
    render();
  }
}

async function refresh() {
  try {
    setDesktops((await getJson("/api/container/list")).desktops);
  } catch (error) {
    if (error.code === "not_signed_in") window.location.assign("/");
  }
}

let pollTimer = null;
function poll() {
  if (pollTimer) return;
  liveBadge.dataset.mode = "polling";
  setText(liveBadge, "dash.polling");
  pollTimer = setInterval(refresh, POLL_MS);
}

function listen() {
  if (!("EventSource" in window)) return poll();
  const source = new EventSource("/api/events");
  let failures = 0;
  source.addEventListener("open", () => {
    failures = 0;
    liveBadge.dataset.mode = "live";
    setText(liveBadge, "dash.live");
  });
  source.addEventListener("desktops", (event) => setDesktops(JSON.parse(event.data).desktops));
  source.addEventListener("classroom", (event) => { // a teacher's messages, and a lock of the screens
    const classroom = JSON.parse(event.data);
    renderLock(document.getElementById("lock-screen"), classroom.lock);
    renderMessages(document.getElementById("messages"), classroom.messages);
  });
  followDemo(source);
  source.addEventListener("signed_out", () => {
    source.close();
    window.location.assign("/");
  });
  source.addEventListener("error", () => {
    failures += 1;
    // The browser reconnects by itself; when it gives up, or keeps failing, poll instead.
    if (source.readyState === EventSource.CLOSED || failures >= 3) {
      source.close();
      poll();
    }
  });
}

async function main() {
  startPage();
  onLanguageChange(render);
  try {
    const list = await getJson("/api/container/list");
    types = list.desktop_types;
    setDesktops(list.desktops);
    root.setAttribute("aria-busy", "false");
  } catch (error) {
    fail(error, t("dash.heading"));
  }
  listen();
}

main();
