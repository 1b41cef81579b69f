// The admin dashboard (/admin): figures, everyone's desktops (search, filters, stop, remove, stop
// all), live connections (kill), connection history, session recordings, the audit log, people,
// and the catalog.
// The open section is fetched again every few seconds, so what it shows follows without a reload.
import { getJson, postJson, sendChange } from "./api.js";
import { onLanguageChange, setText, t } from "./i18n.js";
import { el, showError, startPage } from "./page.js";
import { $, Pager, actionButton, cell, clearError, confirmAction, fillRows, formatBytes, formatDuration, formatTime,
  notify, reportError, translatedCell } from "./admin-ui.js";
import { allTypes, bindCatalog, loadTypes, renderCatalog, typeTitle } from "./admin-catalog.js";
import { bindRecordings, loadRecordings, renderRecordings } from "./admin-recordings.js";

const POLL_MS = 4000;
const SEARCH_DELAY_MS = 300;
const STOPPABLE = new Set(["running", "starting", "error"]);
const REMOVABLE = new Set(["running", "stopped", "error"]);
const tabs = [...document.querySelectorAll("[role=tab][data-section]")];
const data = {}; // what each section fetched last, to draw again when the language changes
const pending = new Set(); // desktop and connection ids with a request under way

function statusOf(state) {
  const status = el("span", { class: `status state-${state}`, "data-state": state });
  setText(status, `dash.state.${state}`);
  return status;
}

/** `request`'s answer, with the catalog fetched alongside the first time (rows show types by title). */
const withTypes = (request) => Promise.all([request, allTypes().length ? null : loadTypes()]).then(([answer]) => answer);

const traffic = (c) => t("admin.traffic", { down: formatBytes(c.bytes_to_client), up: formatBytes(c.bytes_from_client) });

// --- overview

async function loadOverview() {
  data.overview = await withTypes(getJson("/api/admin/stats"));
}

function renderOverview() {
  const stats = data.overview;
  if (!stats) return;
  $("stat-total").textContent = stats.total;
  $("stat-running").textContent = stats.running;
  $("stat-active-users").textContent = stats.active_users;
  $("stat-live-connections").textContent = stats.live_connections;
  $("stat-recordings").textContent = t("admin.recordingsStat",
    { size: formatBytes(stats.recordings.bytes), n: stats.recordings.files });
  fillRows($("per-type-rows"), stats.per_type.map((type) => el("tr", { "data-key": type.desktop_type },
    el("th", { scope: "row", text: typeTitle(type.desktop_type) }), cell(String(type.total)),
    cell(String(type.running)), cell(String(type.live_connections)))));
}

// --- everyone's desktops

async function loadDesktops() {
  const params = new URLSearchParams();
  for (const [name, id] of [["query", "desktop-query"], ["state", "desktop-state"], ["desktop_type", "desktop-type"]]) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  data.desktops = (await withTypes(getJson(`/api/admin/containers?${params}`))).desktops;
}

async function desktopAction(desktop, action) {
  const params = { owner: desktop.owner || t("admin.pool"), title: typeTitle(desktop.desktop_type) };
  const confirmed = await confirmAction(`admin.${action}Desktop`, `admin.confirm.${action}`, params, `admin.${action}`);
  if (!confirmed) return;
  clearError();
  pending.add(desktop.id);
  renderDesktops();
  try {
    const path = `/api/admin/container/${encodeURIComponent(desktop.id)}/${action}`;
    await (action === "stop" ? postJson(path, {}) : sendChange("DELETE", path));
    notify(`admin.${action}Notice`, params);
  } catch (error) {
    reportError(error);
  } finally {
    pending.delete(desktop.id);
  }
  await refresh();
}

function desktopRow(desktop) {
  const owner = desktop.owner || t("admin.pool");
  const title = typeTitle(desktop.desktop_type);
  const busy = pending.has(desktop.id);
  const state = el("td", {}, busy ? el("span", { class: "spinner", "aria-hidden": "true" }) : null, statusOf(desktop.state));
  if (desktop.reason && desktop.state !== "running") state.append(el("small", { class: "reason", text: desktop.reason }));
  const actions = el("td", { class: "row-actions" });
  if (STOPPABLE.has(desktop.state)) {
    actions.append(actionButton("stop", t("admin.stopLabel", { owner, title }), () => desktopAction(desktop, "stop")));
  }
  if (REMOVABLE.has(desktop.state)) {
    actions.append(actionButton("remove", t("admin.removeLabel", { owner, title }), () => desktopAction(desktop, "remove")));
  }
  for (const button of actions.querySelectorAll("button")) button.disabled = busy;
  return el("tr", { "data-key": desktop.id, "data-owner": desktop.owner || "", "data-type": desktop.desktop_type,
    "data-state": desktop.state, "aria-busy": String(busy) },
  el("th", { scope: "row", text: owner }), cell(title), state, cell(formatTime(desktop.started_at)),
  cell(formatTime(desktop.last_activity_at)), actions);
}

function renderDesktops() {
  const typeFilter = $("desktop-type");
  const options = allTypes().map((kind) => [kind.id, typeTitle(kind.id)]);
  if (typeFilter.dataset.options !== JSON.stringify(options)) { // rebuilt only when changed: it may be open
    const chosen = typeFilter.value;
    typeFilter.replaceChildren(typeFilter.options[0], ...options.map(([id, title]) => el("option", { value: id, text: title })));
    typeFilter.value = chosen;
    typeFilter.dataset.options = JSON.stringify(options);
  }
  if (data.desktops) fillRows($("desktops-rows"), data.desktops.map(desktopRow), $("desktops-empty"));
}

async function stopAll() {
  clearError();
  let running;
  try { // counted over everyone, whatever the filters show; pool desktops have no owner and keep running
    running = (await getJson("/api/admin/containers?state=running")).desktops.filter((d) => d.owner).length;
  } catch (error) {
    reportError(error);
    return;
  }
  if (!await confirmAction("admin.stopAll", "admin.confirm.stopAll", { n: running }, "admin.stopAll")) return;
  const button = $("stop-all");
  button.disabled = true;
  try {
    const answer = await postJson("/api/admin/containers/stop-all", {});
    notify("admin.stopAllNotice", { n: answer.stopped });
    if (answer.problems.length) showError($("admin-error"), t("admin.stopAllProblems", { problems: answer.problems.join("; ") }));
  } catch (error) {
    reportError(error);
  } finally {
    button.disabled = false;
  }
  await refresh();
}

// --- live connections and their history

async function loadConnections() {
  data.connections = (await withTypes(getJson("/api/admin/connections?live=true&limit=500"))).connections;
}

async function kill(connection) {
  const params = { user: connection.user || "–", title: typeTitle(connection.desktop_type) };
  if (!await confirmAction("admin.killConnection", "admin.confirm.kill", params, "admin.kill")) return;
  clearError();
  pending.add(connection.id);
  renderConnections();
  try {
    await postJson(`/api/admin/connections/${encodeURIComponent(connection.id)}/kill`, {});
    notify("admin.killNotice", params);
  } catch (error) {
    reportError(error);
  } finally {
    pending.delete(connection.id);
  }
  await refresh();
}

function connectionRow(connection) {
  const user = connection.user || "–";
  const title = typeTitle(connection.desktop_type);
  const ending = Boolean(connection.kill_requested_at) || pending.has(connection.id);
  const action = actionButton(ending ? "ending" : "kill", t("admin.killLabel", { user, title }), () => kill(connection));
  action.disabled = ending;
  return el("tr", { "data-key": connection.id, "data-user": connection.user || "" },
    el("th", { scope: "row", text: user }), cell(title), translatedCell(`admin.mode.${connection.mode}`),
    cell(formatTime(connection.started_at)), cell(traffic(connection)), el("td", { class: "row-actions" }, action));
}

function renderConnections() {
  if (data.connections) fillRows($("live-rows"), data.connections.map(connectionRow), $("live-empty"));
}

const historyPager = new Pager($("history-pager"), () => refresh());

async function loadHistory() {
  data.history = await withTypes(getJson(`/api/admin/connections?live=false&${historyPager.query()}`));
}

function renderHistory() {
  if (!data.history) return;
  fillRows($("history-rows"), data.history.connections.map((c) => el("tr", { "data-key": c.id, "data-user": c.user || "" },
    el("th", { scope: "row", text: c.user || "–" }), cell(typeTitle(c.desktop_type)), translatedCell(`admin.mode.${c.mode}`),
    cell(formatTime(c.started_at)), cell(formatDuration(c.started_at, c.ended_at)), cell(traffic(c)),
    cell(c.end_reason || "–", { class: "end-reason" }))));
  historyPager.render(data.history.total);
}

// --- audit log

const auditPager = new Pager($("audit-pager"), () => refresh());
const seenActions = new Set();

async function loadAudit() {
  const action = $("audit-action").value.trim();
  data.audit = await getJson(`/api/admin/audit?${auditPager.query()}${action ? `&action=${encodeURIComponent(action)}` : ""}`);
}

function details(event) {
  return Object.entries(event.details).map(([name, value]) =>
    `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`).join(" · ");
}

function renderAudit() {
  if (!data.audit) return;
  fillRows($("audit-rows"), data.audit.events.map((e) => el("tr", { "data-key": String(e.id), "data-action": e.action },
    cell(formatTime(e.at)), cell(e.actor || t("admin.system")), el("th", { scope: "row" }, el("code", { text: e.action })),
    cell(e.target || "–", { class: "target", translate: "no" }), cell(e.ip || "–"),
    cell(details(e) || "–", { class: "details", translate: "no" }))));
  auditPager.render(data.audit.total);
  const fresh = data.audit.events.map((e) => e.action).filter((action) => !seenActions.has(action));
  for (const action of fresh) {
    seenActions.add(action);
    $("audit-actions").append(el("option", { value: action }));
  }
}

// --- people

const userPager = new Pager($("users-pager"), () => refresh());

async function loadUsers() {
  const query = $("user-query").value.trim();
  data.users = await withTypes(
    getJson(`/api/admin/users?${userPager.query()}${query ? `&query=${encodeURIComponent(query)}` : ""}`));
}

function userRow(user) {
  const name = el("th", { scope: "row" }, el("span", { class: "username", text: user.username }));
  if (user.display_name) name.append(el("br"), el("small", { text: user.display_name }));
  if (user.disabled) {
    const badge = el("span", { class: "badge" });
    setText(badge, "admin.userDisabled");
    name.append(" ", badge);
  }
  const roles = user.roles.map((role) => t(`admin.role.${role}`)).join(", ") || "–";
  const groups = user.groups.map((g) => g.name || g.key).join(", ") || "–";
  // Each desktop as its type's title (data, not a string of ours) and its state.
  const desktops = el("td");
  user.desktops.forEach((d, n) => desktops.append(...(n ? [", "] : []),
    el("span", { translate: "no", text: typeTitle(d.desktop_type) }), ": ", t(`dash.state.${d.state}`)));
  if (!user.desktops.length) desktops.textContent = "–";
  return el("tr", { "data-key": String(user.id), "data-username": user.username },
    name, cell(user.email || "–"), cell(roles, { class: "roles" }), cell(groups, { class: "groups" }),
    desktops, cell(formatTime(user.last_login_at)));
}

function renderUsers() {
  if (!data.users) return;
  fillRows($("users-rows"), data.users.users.map(userRow));
  userPager.render(data.users.total);
}

// --- sections, tabs and refreshing

const SECTIONS = {
  overview: [loadOverview, renderOverview],
  desktops: [loadDesktops, renderDesktops],
  connections: [loadConnections, renderConnections],
  history: [loadHistory, renderHistory],
  recordings: [() => withTypes(loadRecordings()), renderRecordings],
  audit: [loadAudit, renderAudit],
  users: [loadUsers, renderUsers],
  catalog: [loadTypes, () => renderCatalog(refresh)],
};
let current = null;
let loading = null;
let again = false;

/** Fetch the open section again and draw it; `quiet` for the timer (errors do not take the focus).
 * Asked while a fetch runs, it fetches once more afterwards: that one may predate a change. */
async function refresh({ quiet = false } = {}) {
  if (loading) {
    again = true;
    return loading;
  }
  const section = current;
  const [load, render] = SECTIONS[section];
  loading = (async () => {
    try {
      await load();
      if (section === current) render();
      if ($("admin-error").dataset.source === "refresh") clearError(); // reachable again
      const live = $("live-state");
      live.dataset.mode = "live";
      setText(live, "admin.updated", { time: new Date().toLocaleTimeString() });
    } catch (error) {
      reportError(error, { focus: !quiet });
      $("admin-error").dataset.source = "refresh";
    } finally {
      loading = null;
      if (again) {
        again = false;
        refresh({ quiet: true });
      }
    }
  })();
  return loading;
}

function select(section, { focus = false } = {}) {
  current = SECTIONS[section] ? section : "overview";
  for (const tab of tabs) {
    const selected = tab.dataset.section === current;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  if (window.location.hash !== `#${current}`) history.replaceState(null, "", `#${current}`);
  SECTIONS[current][1](); // what was fetched before, at once
  refresh();
}

function bindTabs() {
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab.dataset.section));
    tab.addEventListener("keydown", (event) => { // arrows, Home and End move between the tabs
      const index = tabs.indexOf(tab);
      const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length].dataset.section, { focus: true });
    });
  }
  window.addEventListener("hashchange", () => select(window.location.hash.slice(1)));
}

function bindFilters() {
  let timer = null;
  const later = (pager) => {
    clearTimeout(timer);
    timer = setTimeout(() => { pager?.reset(); refresh(); }, SEARCH_DELAY_MS);
  };
  for (const form of document.querySelectorAll("form[role=search]")) {
    form.addEventListener("submit", (event) => event.preventDefault());
  }
  $("desktop-query").addEventListener("input", () => later());
  $("desktop-state").addEventListener("change", () => refresh());
  $("desktop-type").addEventListener("change", () => refresh());
  $("audit-action").addEventListener("input", () => later(auditPager));
  $("user-query").addEventListener("input", () => later(userPager));
  $("stop-all").addEventListener("click", stopAll);
}

function main() {
  startPage();
  bindTabs();
  bindFilters();
  bindCatalog(refresh);
  bindRecordings(refresh);
  onLanguageChange(() => SECTIONS[current][1]());
  select(window.location.hash.slice(1));
  setInterval(() => {
    if (!document.hidden && !document.querySelector("dialog[open]")) refresh({ quiet: true });
  }, POLL_MS);
}

main();
