// The admin dashboard's desktop-type catalog: every type (disabled ones too), edited in a dialog
// (titles, descriptions, icon upload, resources, enabled), and types of the admins' own.
import { getJson, sendChange } from "./api.js";
import { setText, t } from "./i18n.js";
import { el, showError } from "./page.js";
import { $, actionButton, cell, clearError, confirmAction, errorText, fillRows, localized, notify,
  reportError } from "./admin-ui.js";

let types = [];
let editing = null; // the type in the dialog; null for a new one
const dialog = $("type-dialog");
const api = (id = "") => `/api/admin/desktop-types${id ? `/${encodeURIComponent(id)}` : ""}`;

export const allTypes = () => types;

export function typeTitle(id) {
  const kind = types.find((k) => k.id === id);
  return kind ? localized(kind.title) || id : id || "–";
}

export function typeIcon(kind, className = "type-icon small") {
  if (/^data:image\//.test(kind.icon || "")) return el("img", { class: className, src: kind.icon, alt: "" });
  // An icon name from the image cannot be drawn in the browser: the title's first letter stands in.
  return el("span", { class: `${className} fallback`, "aria-hidden": "true", translate: "no",
    text: (localized(kind.title) || kind.id).charAt(0).toUpperCase() });
}

export async function loadTypes() {
  types = (await getJson(api())).desktop_types;
  return types;
}

function resources(kind) {
  const parts = [`${kind.memory_mb} MB`, t("admin.cpus", { n: kind.cpus }), t("admin.pids", { n: kind.pids_limit })];
  if (kind.shm_size_mb) parts.push(t("admin.shm", { n: kind.shm_size_mb }));
  if (kind.max_running) parts.push(t("admin.maxRunningShort", { n: kind.max_running }));
  if (kind.sound === false) parts.push(t("admin.soundOff"));
  return parts.join(" · ");
}

function row(kind, refresh) {
  const title = localized(kind.title);
  const name = el("th", { scope: "row" }, el("span", { class: "type-cell" }, typeIcon(kind),
    el("span", {}, el("span", { class: "type-title", text: title }), " ", el("code", { text: kind.id }))));
  const origin = el("span");
  setText(origin, `admin.source.${kind.source}`);
  const source = el("td", {}, origin);
  if (kind.admin_fields.length) {
    source.append(el("br"), el("small", { class: "note", text: t("admin.changedHere", { fields: kind.admin_fields.join(", ") }) }));
  }
  const status = el("span", { class: kind.enabled ? "status state-running" : "status state-stopped" });
  setText(status, kind.enabled ? "admin.enabled" : "admin.disabled");
  const state = el("td", {}, status);
  if (kind.record_sessions) {
    const recorded = el("span", { class: "badge recorded", "data-recorded": "true" });
    setText(recorded, "admin.recordedType");
    state.append(" ", recorded);
  }
  const actions = el("td", { class: "row-actions" },
    actionButton("edit", t("admin.editLabel", { title }), () => openEditor(kind, refresh)),
    actionButton(kind.enabled ? "disable" : "enable", t(kind.enabled ? "admin.disableLabel" : "admin.enableLabel", { title }),
      () => change(() => sendChange("PATCH", api(kind.id), { enabled: !kind.enabled }),
        kind.enabled ? "admin.disabledNotice" : "admin.enabledNotice", title, refresh)));
  if (kind.source === "admin" && !kind.desktops) {
    actions.append(actionButton("delete", t("admin.deleteLabel", { title }), async () => {
      if (await confirmAction("admin.deleteType", "admin.confirmDeleteType", { title }, "admin.delete")) {
        change(() => sendChange("DELETE", api(kind.id)), "admin.deletedNotice", title, refresh);
      }
    }));
  }
  return el("tr", { "data-key": kind.id, "data-type": kind.id, "data-enabled": String(kind.enabled) },
    name, source, state, cell(resources(kind), { class: "resources" }),
    cell(t(`egress.${kind.egress || "none"}`), { class: "egress", "data-egress": kind.egress || "none" }),
    cell(String(kind.desktops)),
    actions);
}

async function change(request, noticeKey, title, refresh) {
  clearError();
  try {
    await request();
    notify(noticeKey, { title });
  } catch (error) {
    reportError(error);
  }
  await refresh();
}

export function renderCatalog(refresh) {
  fillRows($("catalog-rows"), types.map((kind) => row(kind, refresh)));
}

// --- the editor dialog

const field = (name) => $(`type-${name}`);
const NUMBER_FIELDS = { memory: "memory_mb", cpus: "cpus", pids: "pids_limit", shm: "shm_size_mb",
  "max-running": "max_running", "vnc-port": "vnc_port" };
const NEW_TYPE = { id: "", image: "", source: "admin", enabled: true, icon: "", title: { en: "", de: "" },
  description: { en: "", de: "" }, memory_mb: 1024, cpus: 1, pids_limit: 1024, shm_size_mb: null, max_running: null,
  vnc_port: 5901, egress: "none", record_sessions: false, sound: true };

function preview(kind, dataUrl = null) {
  const shown = dataUrl ? { ...kind, icon: dataUrl } : kind;
  field("icon-preview").replaceChildren(typeIcon(shown, "type-icon"));
}

function openEditor(kind, refresh) {
  editing = kind;
  const shown = kind || NEW_TYPE;
  const fromImage = shown.source === "image";
  setText($("type-dialog-title"), kind ? "admin.editType" : "admin.newType", { title: localized(shown.title) });
  showError($("type-error"), "");
  for (const element of dialog.querySelectorAll("[data-new-only]")) element.hidden = Boolean(kind);
  for (const element of dialog.querySelectorAll("[data-image-only]")) element.hidden = !fromImage;
  field("id").value = shown.id;
  field("image").value = shown.image;
  for (const name of ["image", "vnc-port"]) field(name).disabled = fromImage; // the image's own
  for (const lang of ["en", "de"]) {
    field(`title-${lang}`).value = shown.title[lang] || "";
    field(`description-${lang}`).value = shown.description[lang] || "";
  }
  for (const [name, key] of Object.entries(NUMBER_FIELDS)) field(name).value = shown[key] ?? "";
  field("enabled").checked = shown.enabled;
  field("record").checked = Boolean(shown.record_sessions);
  field("sound").checked = shown.sound !== false;
  field("egress").value = shown.egress || "none";
  field("icon").value = "";
  preview(shown);
  dialog.refresh = refresh;
  dialog.showModal();
  (kind ? field("title-en") : field("id")).focus();
}

function formBody() {
  const number = (name) => {
    const text = field(name).value.trim();
    return text === "" ? null : Number(text);
  };
  const body = {
    title: { en: field("title-en").value, de: field("title-de").value },
    description: { en: field("description-en").value, de: field("description-de").value },
    enabled: field("enabled").checked,
    record_sessions: field("record").checked,
    sound: field("sound").checked,
    egress: field("egress").value,
  };
  for (const [name, key] of Object.entries(NUMBER_FIELDS)) if (name !== "vnc-port") body[key] = number(name);
  if (!editing || editing.source === "admin") {
    body.image = field("image").value.trim();
    body.vnc_port = number("vnc-port");
  }
  if (!editing) body.id = field("id").value.trim();
  return body;
}

async function save(event) {
  event.preventDefault();
  const body = formBody();
  const icon = field("icon").files[0];
  const saveButton = $("type-save");
  saveButton.disabled = true;
  showError($("type-error"), "");
  try {
    const kind = editing ? await sendChange("PATCH", api(editing.id), body)
      : await sendChange("POST", api(), body);
    editing = kind; // made: a second try after a refused icon changes it instead of making it again
    if (icon) {
      const form = new FormData();
      form.append("icon", icon, icon.name);
      await sendChange("POST", `${api(kind.id)}/icon`, form);
    }
    dialog.close();
    notify("admin.savedNotice", { title: localized(kind.title) });
    await dialog.refresh();
  } catch (error) {
    const region = $("type-error");
    showError(region, errorText(error));
    region.focus();
  } finally {
    saveButton.disabled = false;
  }
}

export function bindCatalog(refresh) {
  $("new-type").addEventListener("click", () => openEditor(null, refresh));
  $("type-form").addEventListener("submit", save);
  $("type-cancel").addEventListener("click", () => dialog.close());
  field("icon").addEventListener("change", () => {
    const file = field("icon").files[0];
    if (!file) return preview(editing || NEW_TYPE);
    const reader = new FileReader(); // a data: URL: the page's CSP allows those, not blob: URLs
    reader.addEventListener("load", () => preview(editing || NEW_TYPE, reader.result));
    reader.readAsDataURL(file);
  });
}
