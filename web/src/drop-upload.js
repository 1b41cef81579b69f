// Files dropped on the viewer's screen go into the person's home through the file API
// (POST /api/files/home/upload, which enforces sizes and quotas), into a folder of their
// choosing (localStorage, default "Downloads"), with progress. A watcher cannot drop files.
import { ApiError, csrf, postJson } from "./api.js";
import { setText, t } from "./i18n.js";

const FOLDER_KEY = "deskbroker.dropFolder";
const DEFAULT_FOLDER = "Downloads";

/** The folder (from the top of the home space) dropped files go into. */
export function dropFolder() {
  let stored = null;
  try { stored = localStorage.getItem(FOLDER_KEY); } catch { /* storage blocked */ }
  const folder = (stored || "").split("/").filter((part) => part && part !== "." && part !== "..").join("/");
  return folder || DEFAULT_FOLDER;
}

function chooseFolder(folder) {
  try { localStorage.setItem(FOLDER_KEY, folder); } catch { /* storage blocked: the default stays */ }
}

/** The toolbar button that shows the drop folder and lets the person choose another. */
export function setupFolderChoice({ button, dialog, input }) {
  const show = () => setText(button, "drop.folderButton", { folder: dropFolder() });
  button.hidden = false;
  show();
  button.addEventListener("click", () => {
    input.value = dropFolder();
    dialog.showModal();
    input.select();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "ok") return;
    chooseFolder(input.value.trim());
    show();
  });
}

/** The message key for a refused or failed upload (the server's own text goes alongside). */
export function dropErrorKey(status) {
  return {
    0: "error.offline", 401: "error.signedOut", 400: "files.err.badName", 403: "files.err.forbidden",
    409: "files.err.exists", 413: "files.err.tooLarge", 503: "files.err.unavailable", 507: "files.err.quota",
  }[status] || "error.server";
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(1)} ${units[unit]}`;
}

async function ensureFolder(folder) {
  let path = "";
  for (const part of folder.split("/")) {
    path = path ? `${path}/${part}` : part;
    try {
      await postJson("/api/files/home/folder", { path });
    } catch (error) {
      if (error.status !== 409) throw error; // 409: it is there already
    }
  }
}

function send(files, folder, token, onProgress) {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest(); // fetch has no upload progress
    xhr.open("POST", `/api/files/home/upload?path=${encodeURIComponent(folder)}`);
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      reject(new ApiError(xhr.status, body?.error || `http_${xhr.status}`, body?.message));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "offline")));
    xhr.send(form);
  });
}

export function setupDropUpload({ screen, hint, status, viewOnly }) {
  let busy = false;

  function report(state, key, params, detail = "") {
    status.hidden = false;
    status.dataset.state = state;
    setText(status, key, params);
    if (detail) status.textContent = `${t(key, params)} (${detail})`;
  }

  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  const hide = () => { hint.hidden = true; };

  for (const type of ["dragenter", "dragover"]) {
    screen.addEventListener(type, (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault(); // else the browser opens the file instead of the page
      event.stopPropagation();
      if (event.dataTransfer) event.dataTransfer.dropEffect = viewOnly ? "none" : "copy";
      setText(hint, viewOnly ? "drop.viewOnly" : "drop.hint", { folder: dropFolder() });
      hint.hidden = false;
    });
  }
  screen.addEventListener("dragleave", (event) => {
    if (!screen.contains(event.relatedTarget)) hide();
  });
  screen.addEventListener("drop", async (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.stopPropagation();
    hide();
    const files = [...(event.dataTransfer?.files || [])];
    if (viewOnly) {
      report("refused", "drop.viewOnly");
      return;
    }
    if (!files.length) return;
    if (busy) {
      report("busy", "drop.busy");
      return;
    }
    busy = true;
    const folder = dropFolder();
    const total = files.reduce((sum, file) => sum + file.size, 0);
    const progress = (sent) => report("running", "drop.progress", {
      count: files.length, folder, sent: formatBytes(Math.min(sent, total)), total: formatBytes(total),
    });
    progress(0);
    try {
      await ensureFolder(folder);
      await send(files, folder, await csrf(), (loaded) => progress(loaded));
      report("done", "drop.done", { count: files.length, folder });
    } catch (error) {
      const code = error instanceof ApiError ? error.status : 0;
      const detail = error instanceof ApiError && error.message !== error.code ? error.message : "";
      report("failed", "drop.failed", { reason: t(dropErrorKey(code)) }, detail);
    } finally {
      busy = false;
    }
  });
}
