// The file manager: the private (home) and public spaces, folders, uploads with progress,
// download, new folder, rename, move and delete, over /api/files/<space>/…. Another space
// (an assignment's folder, from the classroom) opens with ?space=<name> in a tab of its own; ?path= opens a folder.
import { ApiError, csrf, getJson, postJson } from "./api.js";
import { language, onLanguageChange, setText, t } from "./i18n.js";
import { el, showError, startPage } from "./page.js";

const query = new URLSearchParams(window.location.search); // ?path= opens a folder (a collection, from the classroom)
const state = { space: query.get("space") || "home", path: (query.get("path") || "").split("/").filter(Boolean),
  info: null, entries: [], complete: true };
const $ = (id) => document.getElementById(id);
const errorRegion = $("files-error");
const dialog = $("files-dialog");

function errorKey(error) {
  const status = error instanceof ApiError ? error.status : 0;
  const code = error?.code || "";
  if (status === 413) return "files.err.tooLarge";
  if (status === 507) return "files.err.quota";
  if (status === 409) return "files.err.exists";
  if (status === 400) return "files.err.badName";
  if (status === 404) return "files.err.notFound";
  if (status === 403) return "files.err.forbidden";
  if (status === 401) return "error.signedOut";
  if (status === 503) return "files.err.unavailable";
  if (status === 0 || code === "offline") return "error.offline";
  return "error.server";
}

function fail(error) {
  const key = errorKey(error);
  errorRegion.dataset.key = key;
  showError(errorRegion, t(key));
}

function formatSize(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${new Intl.NumberFormat(language(), { maximumFractionDigits: unit ? 1 : 0 }).format(value)} ${units[unit]}`;
}

const formatTime = (iso) =>
  new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
const joined = (...parts) => parts.filter(Boolean).join("/");
const api = (action) => `/api/files/${state.space}${action ? `/${action}` : ""}`;

function ask(titleKey, { labelKey = null, value = "", messageKey = null, params = {} } = {}) {
  // A modal dialog with one text field (or none, for a confirmation); resolves to the text or null.
  setText($("dialog-title"), titleKey);
  const message = $("dialog-message");
  message.hidden = !messageKey;
  if (messageKey) setText(message, messageKey, params);
  const field = $("dialog-input");
  $("dialog-field").hidden = !labelKey;
  if (labelKey) setText($("dialog-label"), labelKey);
  field.value = value;
  dialog.returnValue = "";
  dialog.showModal();
  if (labelKey) field.select();
  else $("dialog-ok").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? field.value : null), { once: true });
  });
}

async function change(action, body) {
  showError(errorRegion, "");
  try {
    await postJson(api(action), body);
  } catch (error) {
    fail(error);
  }
  await load();
}

function breadcrumbs() {
  const list = $("breadcrumbs-list");
  list.replaceChildren();
  const crumbs = [["files.root", []], ...state.path.map((name, i) => [name, state.path.slice(0, i + 1)])];
  crumbs.forEach(([label, path], i) => {
    const last = i === crumbs.length - 1;
    const item = el(last ? "span" : "button", last ? { "aria-current": "location" } : { type: "button", class: "link" });
    if (i === 0) setText(item, label);
    else item.textContent = label;
    if (!last) item.addEventListener("click", () => { state.path = path; load(); });
    list.append(el("li", {}, item));
  });
}

function actionButton(key, entry, onClick) {
  const b = el("button", { type: "button", class: "button small", "data-action": key,
    "aria-label": `${t(`files.${key}`)}: ${entry.name}` });
  setText(b, `files.${key}`);
  b.setAttribute("aria-label", `${t(`files.${key}`)}: ${entry.name}`);
  b.addEventListener("click", onClick);
  return b;
}

function row(entry) {
  const path = joined(...state.path, entry.name);
  let name;
  if (entry.type === "folder") {
    name = el("button", { type: "button", class: "link entry-name", "aria-label": t("files.open", { name: entry.name }) },
      entry.name);
    name.addEventListener("click", () => { state.path = [...state.path, entry.name]; load(); });
  } else {
    name = el("a", { class: "entry-name", href: `${api("download")}?path=${encodeURIComponent(path)}`, download: entry.name },
      entry.name);
  }
  const actions = el("td", { class: "row-actions" });
  if (entry.type !== "folder") {
    const download = el("a", { class: "button small", "data-action": "download", download: entry.name,
      href: `${api("download")}?path=${encodeURIComponent(path)}`, "aria-label": `${t("files.download")}: ${entry.name}` });
    setText(download, "files.download");
    download.setAttribute("aria-label", `${t("files.download")}: ${entry.name}`);
    actions.append(download);
  }
  if (state.info?.writable) {
    actions.append(
      actionButton("rename", entry, async () => {
        const newName = await ask("files.rename", { labelKey: "files.newName", value: entry.name });
        if (newName && newName !== entry.name) change("rename", { path, name: newName });
      }),
      actionButton("move", entry, async () => {
        const to = await ask("files.move", { labelKey: "files.moveTo", value: state.path.join("/") });
        if (to !== null) change("move", { path, to: to.replace(/^\/+|\/+$/g, "") });
      }),
      actionButton("delete", entry, async () => {
        if (await ask("files.delete", { messageKey: "files.confirmDelete", params: { name: entry.name } }) !== null) {
          change("delete", { path });
        }
      }));
  }
  return el("tr", { "data-name": entry.name, "data-type": entry.type },
    el("th", { scope: "row" }, name),
    el("td", { class: "size", text: entry.type === "folder" ? t("files.folder") : formatSize(entry.size) }),
    el("td", { class: "modified", text: formatTime(entry.modified) }),
    actions);
}

/** A tab for the space ?space= names, unless it has one; it takes the space's title once that is known. */
function addSpaceTab() {
  if (document.querySelector(`[role=tab][data-space="${CSS.escape(state.space)}"]`)) return;
  const tab = el("button", { type: "button", role: "tab", id: "tab-other", "data-space": state.space,
    "aria-controls": "space-panel", text: state.space });
  document.querySelector("[role=tablist]").append(tab);
}

function render() {
  const other = $("tab-other");
  if (other && state.info?.title && state.info.space === other.dataset.space) {
    setText(other, "files.assignmentSpace", { name: state.info.title });
  }
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.space === state.space;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  const info = state.info;
  const writable = Boolean(info?.writable);
  for (const element of document.querySelectorAll("[data-write]")) element.hidden = !writable;
  $("read-only").hidden = !info || writable;
  const usage = $("usage");
  if (info) {
    setText(usage, info.used_complete === false ? "files.usageAtLeast" : "files.usage",
      { used: formatSize(info.used), quota: formatSize(info.quota) });
    const meter = $("usage-meter");
    meter.max = info.quota;
    meter.value = Math.min(info.used, info.quota);
  }
  breadcrumbs();
  const body = $("entries");
  body.replaceChildren(...state.entries.map(row));
  $("empty").hidden = state.entries.length > 0;
  const incomplete = $("incomplete"); // the broker lists a limited number of entries per folder
  incomplete.hidden = state.complete;
  if (!state.complete) setText(incomplete, "files.incomplete", { count: state.entries.length });
}

let loads = 0; // the newest load wins: a slow answer for the space or folder left before must not show

async function load() {
  const mine = ++loads;
  $("listing").setAttribute("aria-busy", "true");
  try {
    const folder = state.path.join("/");
    const [info, list] = await Promise.all([getJson(api("")), getJson(`${api("list")}?path=${encodeURIComponent(folder)}`)]);
    if (mine !== loads) return;
    state.info = info;
    state.entries = list.entries;
    state.complete = list.complete !== false;
  } catch (error) {
    if (mine !== loads) return;
    state.entries = [];
    state.complete = true;
    fail(error);
  }
  $("listing").setAttribute("aria-busy", "false");
  render();
}

function uploadOne(file, token) {
  // One request per file, so each has its own progress bar (XHR: fetch has no upload progress).
  const label = el("span", { class: "upload-name" });
  setText(label, "files.uploading", { name: file.name });
  const bar = el("progress", { max: "100", value: "0", "aria-label": file.name });
  const item = el("li", { class: "upload", "data-name": file.name, "data-state": "running" }, label, bar);
  $("uploads").append(item);
  const form = new FormData();
  form.append("files", file, file.name);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${api("upload")}?path=${encodeURIComponent(state.path.join("/"))}`);
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
    });
    const finish = (ok, error) => {
      item.dataset.state = ok ? "done" : "failed";
      if (ok) {
        bar.value = 100;
        setText(label, "files.uploaded", { name: file.name });
      } else {
        setText(label, "files.uploadFailed", { name: file.name });
        fail(error);
      }
      resolve(ok);
    };
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) return finish(true);
      let code = `http_${xhr.status}`;
      try { code = JSON.parse(xhr.responseText).error || code; } catch { /* not JSON */ }
      finish(false, new ApiError(xhr.status, code));
    });
    xhr.addEventListener("error", () => finish(false, new ApiError(0, "offline")));
    xhr.send(form);
  });
}

async function upload(files) {
  if (!files.length || !state.info?.writable) return;
  showError(errorRegion, "");
  $("uploads").replaceChildren();
  const token = await csrf();
  await Promise.all([...files].map((file) => uploadOne(file, token)));
  await load();
}

function bind() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      state.space = tab.dataset.space;
      state.path = [];
      showError(errorRegion, "");
      $("uploads").replaceChildren();
      load();
    });
    tab.addEventListener("keydown", (event) => { // arrow keys move between tabs
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  }
  $("file-input").addEventListener("change", (event) => {
    upload([...event.target.files]);
    event.target.value = "";
  });
  const zone = $("drop-zone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    upload([...(event.dataTransfer?.files || [])]);
  });
  $("new-folder").addEventListener("click", async () => {
    const name = await ask("files.newFolder", { labelKey: "files.folderName" });
    if (name) change("folder", { path: joined(...state.path, name) });
  });
  $("dialog-form").addEventListener("submit", (event) => {
    event.preventDefault();
    dialog.close("ok"); // Enter in the field submits too: the dialog's default is OK
  });
  $("dialog-cancel").addEventListener("click", () => dialog.close(""));
  onLanguageChange(render);
}

startPage();
addSpaceTab();
bind();
load();
