// The admin dashboard's session recordings: found by person, type and date, played in the
// browser with guacamole-common-js's SessionRecording (play, pause, seek, speed), downloaded and
// deleted. The broker audits every playback, download and deletion.
import { SessionRecording } from "@glokon/guacamole-common-js";
import { getJson, sendChange } from "./api.js";
import { setText, t } from "./i18n.js";
import { el } from "./page.js";
import { $, Pager, actionButton, cell, clearError, confirmAction, fillRows, formatBytes, formatDuration, formatTime,
  notify, reportError } from "./admin-ui.js";
import { allTypes, typeTitle } from "./admin-catalog.js";

const api = (id = "", what = "") => `/api/admin/recordings${id ? `/${encodeURIComponent(id)}` : ""}${what ? `/${what}` : ""}`;
const TICK_MS = 100; // how often the player's own clock moves at speeds other than 1×
let found = null; // the last page fetched
const pager = new Pager($("recordings-pager"), () => recordingsRefresh());
let recordingsRefresh = () => {};

export async function loadRecordings() {
  const params = new URLSearchParams(pager.query());
  for (const [name, id] of [["user", "recording-user"], ["desktop_type", "recording-type"], ["from", "recording-from"],
    ["to", "recording-to"]]) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  found = await getJson(`${api()}?${params}`);
}

async function remove(recording, params) {
  if (!await confirmAction("admin.deleteRecording", "admin.confirm.deleteRecording", params, "admin.delete")) return;
  clearError();
  try {
    await sendChange("DELETE", api(recording.id));
    notify("admin.recordingDeleted", params);
  } catch (error) {
    reportError(error);
  }
  await recordingsRefresh();
}

function row(recording) {
  const params = { user: recording.user || "–", title: typeTitle(recording.desktop_type), time: formatTime(recording.started_at) };
  const live = !recording.ended_at;
  const duration = live ? t("admin.recordingLive") : formatDuration(recording.started_at, recording.ended_at);
  const actions = el("td", { class: "row-actions" },
    actionButton("play", t("admin.playLabel", params), () => play(recording, params), true),
    actionButton("download", t("admin.downloadLabel", params), () => window.location.assign(api(recording.id, "download"))),
    actionButton("delete", t("admin.deleteRecordingLabel", params), () => remove(recording, params)));
  for (const button of actions.querySelectorAll("button")) button.disabled = live; // guacd still writes it
  return el("tr", { "data-key": recording.id, "data-user": recording.user || "", "data-type": recording.desktop_type },
    el("th", { scope: "row", text: recording.user || "–" }), cell(typeTitle(recording.desktop_type)),
    cell(formatTime(recording.started_at)), cell(duration), cell(formatBytes(recording.size_bytes)), actions);
}

export function renderRecordings() {
  const typeFilter = $("recording-type");
  const options = allTypes().map((kind) => [kind.id, typeTitle(kind.id)]);
  if (typeFilter.dataset.options !== JSON.stringify(options)) { // rebuilt only when changed: it may be open
    const chosen = typeFilter.value;
    typeFilter.replaceChildren(typeFilter.options[0], ...options.map(([id, title]) => el("option", { value: id, text: title })));
    typeFilter.value = chosen;
    typeFilter.dataset.options = JSON.stringify(options);
  }
  if (!found) return;
  setText($("recording-storage"), "admin.recordingStorage", { n: found.storage.files, size: formatBytes(found.storage.bytes) });
  fillRows($("recordings-rows"), found.recordings.map(row), $("recordings-empty"));
  pager.render(found.total);
}

// --- the player

const dialog = $("player-dialog");
let player = null; // { recording, clock, stop() } of the one being played

function clockText(ms) {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function showPosition() {
  if (!player) return;
  const position = player.recording.getPosition();
  const duration = player.recording.getDuration();
  const seek = $("player-seek");
  seek.max = String(duration);
  if (!player.dragging) seek.value = String(position);
  $("player-time").textContent = `${clockText(position)} / ${clockText(duration)}`;
  const running = playing();
  setText($("player-play"), running ? "admin.pause" : "admin.play");
  dialog.dataset.playing = String(running);
  dialog.dataset.position = String(position);
}

function fit() {
  const display = player?.recording.getDisplay();
  if (!display?.getWidth()) return;
  const room = $("player-screen");
  display.scale(Math.min(room.clientWidth / display.getWidth(), room.clientHeight / display.getHeight(), 1));
}

/** Playback at `speed` (1: the recording's own timing; others: our clock seeking forward). */
function start() {
  const speed = Number($("player-speed").value);
  const { recording } = player;
  if (recording.getPosition() >= recording.getDuration()) recording.seek(0);
  if (speed === 1) {
    recording.play();
    return;
  }
  let busy = false;
  player.clock = setInterval(() => {
    if (busy) return;
    const next = Math.min(recording.getDuration(), recording.getPosition() + TICK_MS * speed);
    busy = true;
    recording.seek(next, () => {
      busy = false;
      if (next >= recording.getDuration()) stop();
      showPosition();
    });
  }, TICK_MS);
  showPosition();
}

function stop() {
  if (!player) return;
  clearInterval(player.clock);
  player.clock = null;
  if (player.recording.isPlaying()) player.recording.pause();
  showPosition();
}

function playing() {
  return Boolean(player && (player.recording.isPlaying() || player.clock));
}

async function play(recording, params) {
  close();
  setText($("player-title"), "admin.playerTitle", params);
  setText($("player-status"), "admin.playerLoading");
  $("player-play").disabled = true;
  $("player-seek").disabled = true;
  dialog.dataset.state = "loading";
  dialog.showModal();
  let blob;
  try { // the broker audits this fetch as a playback
    const response = await fetch(api(recording.id, "play"), { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(String(response.status));
    blob = await response.blob();
  } catch {
    setText($("player-status"), "admin.playerFailed");
    dialog.dataset.state = "failed";
    return;
  }
  if (!dialog.open) return; // closed while loading
  const session = new SessionRecording(blob, 250);
  player = { recording: session, clock: null, dragging: false };
  const element = session.getDisplay().getElement();
  $("player-screen").replaceChildren(element);
  session.getDisplay().onresize = fit;
  session.onseek = showPosition;
  session.onplay = showPosition;
  session.onpause = showPosition;
  session.onprogress = showPosition;
  session.onerror = () => {
    setText($("player-status"), "admin.playerFailed");
    dialog.dataset.state = "failed";
  };
  session.onload = () => {
    setText($("player-status"), "admin.playerReady");
    $("player-play").disabled = false;
    $("player-seek").disabled = false;
    dialog.dataset.state = "ready";
    dialog.dataset.duration = String(session.getDuration());
    session.seek(0, () => { fit(); showPosition(); }); // the first frame
  };
}

function close() {
  if (player) {
    stop();
    player.recording.abort();
    player = null;
  }
  $("player-screen").replaceChildren();
  if (dialog.open) dialog.close();
}

export function bindRecordings(refresh) {
  recordingsRefresh = refresh;
  $("player-play").addEventListener("click", () => (playing() ? stop() : start()));
  $("player-speed").addEventListener("change", () => {
    if (!playing()) return;
    stop();
    start();
  });
  const seek = $("player-seek");
  seek.addEventListener("input", () => {
    if (!player) return;
    player.dragging = true;
    $("player-time").textContent = `${clockText(Number(seek.value))} / ${clockText(player.recording.getDuration())}`;
  });
  seek.addEventListener("change", () => {
    if (!player) return;
    const target = Number(seek.value); // before stop() shows the position it leaves
    const resume = playing();
    stop();
    player.dragging = false;
    player.recording.seek(target, () => {
      showPosition();
      if (resume) start();
    });
  });
  $("player-close").addEventListener("click", close);
  dialog.addEventListener("close", close);
  new ResizeObserver(fit).observe($("player-screen"));
  let timer = null;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => { pager.reset(); refresh(); }, 300);
  };
  $("recording-user").addEventListener("input", later);
  for (const id of ["recording-type", "recording-from", "recording-to"]) {
    $(id).addEventListener("change", () => { pager.reset(); refresh(); });
  }
}
