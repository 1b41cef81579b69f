// The classroom (teachers and admins): pick a group; see small pictures of its students'
// running desktops, refreshed every few seconds (a click watches one, view only), with a mark
// for each raised hand and locked screen; lock the group's screens or one student's, send a
// message; and assign desktop types, with a folder of material, to the group or to one of its members.
import { ApiError, getJson, postJson, sendChange } from "./api.js";
import { relabelLessons, setupLessons, showLessons } from "./classroom-lessons.js";
import { language, onLanguageChange, setText, t } from "./i18n.js";
import { createLive } from "./classroom-live.js";
import { el, showError, startPage } from "./page.js";

const REFRESH_MS = 3000;
const STALE_AFTER_SECONDS = 8; // a picture a few refreshes old: the desktop did not answer the last grabs
const GROUP_KEY = "deskbroker.classroom.group";

const $ = (id) => document.getElementById(id);
const errorRegion = $("class-error");
const groupSelect = $("group-select");
const state = {
  groups: [], group: null, members: [], types: [], assignments: [], desktops: [],
  people: new Map(), watching: true, // user id → { lock, hand_raised_at }: the wall's marks
};
let refreshTimer = null;
let refreshRound = 0; // a newer round (another group, the tab shown again) ends the older one

const localized = (value) => value?.[language()] || value?.en || value?.de || "";
const personName = (person) => person.display_name || person.username;

function errorKey(error) {
  if (error?.key) return error.key;
  if (!(error instanceof ApiError)) return "error.server";
  switch (error.code) {
    case "already_assigned": return "class.err.exists";
    case "bad_folder": case "bad_path": return "class.err.folder";
    case "not_your_group": case "not_your_student": case "not_your_assignment": case "forbidden":
    case "not_in_group":
      return "class.err.forbidden";
    case "bad_text": return "class.err.text";
    case "not_signed_in": return "error.signedOut";
    case "desktop_not_running": return "error.notRunning";
    case "offline": return "error.offline";
    default: return error.status >= 500 ? "error.server" : "error.badRequest";
  }
}

function fail(error) {
  const key = errorKey(error);
  errorRegion.dataset.key = key;
  showError(errorRegion, t(key));
  errorRegion.focus();
}

const live = createLive({ bar: $("demo-bar"), status: $("demo-status"), showMine: $("show-mine-button"),
  endDemo: $("end-demo-button"), fail });

/** An option; `data` marks names and titles, which are not translated. */
function option(value, text, data = false) {
  return el("option", { value, text, translate: data ? "no" : null });
}

// --- the screens

function screenCard(desktop) {
  const owner = personName(desktop.owner);
  const title = localized(desktop.title);
  const picture = el("img", { class: "thumb", alt: "", width: "400", height: "250" });
  const link = el("a", { class: "screen-link", href: `/desktops/${encodeURIComponent(desktop.id)}/view?mode=view`,
    "aria-label": t("class.watch", { name: owner, title }) }, picture);
  const missing = el("span", { class: "thumb-missing", "data-i18n": "class.noPicture" });
  const stale = el("span", { class: "thumb-stale" });
  return el("li", { class: "screen", "data-desktop-id": desktop.id, "data-owner-id": String(desktop.owner.id),
    "data-state": "loading" },
    link, missing, stale,
    el("p", { class: "screen-name", translate: "no", text: owner }),
    el("p", { class: "screen-type", translate: "no", text: title }),
    live.actions(desktop),
    el("div", { class: "screen-marks" }));
}

function actionButton(action, key, label, onClick) {
  const button = el("button", { type: "button", class: "button small", "data-action": action });
  setText(button, key);
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

/** A card's marks (raised hand, locked) and the acts on its student: help, lock or unlock. */
function markCard(card, desktop) {
  const person = state.people.get(desktop.owner.id) || {};
  const name = personName(desktop.owner);
  card.dataset.hand = person.hand_raised_at ? "raised" : "down";
  card.dataset.locked = String(Boolean(person.lock));
  const marks = [];
  if (person.hand_raised_at) {
    marks.push(el("span", { class: "mark hand", text: t("class.handRaised") }),
      actionButton("helped", "class.helped", t("class.helpedLabel", { name }), () => helped(desktop.owner)));
  }
  if (person.lock) {
    marks.push(el("span", { class: "mark locked", text: t("class.locked") }),
      actionButton("unlock", "class.unlock", t("class.unlockLabel", { name }),
        () => act("unlock", { user_id: desktop.owner.id })));
  } else {
    marks.push(actionButton("lock", "class.lock", t("class.lockLabel", { name }),
      () => act("lock", { user_id: desktop.owner.id, text: $("lock-text").value })));
  }
  card.querySelector(".screen-marks").replaceChildren(...marks);
}

function renderHands() {
  const names = state.members.filter((person) => state.people.get(person.id)?.hand_raised_at).map(personName);
  const hands = $("hands");
  hands.hidden = !names.length;
  if (names.length) {
    hands.textContent = t("class.hands", {
      names: new Intl.ListFormat(language(), { type: "conjunction" }).format(names) });
  }
}

function asDataUrl(blob) {
  // A data: URL, which the page's Content-Security-Policy allows for images (blob: it does not).
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** "drawn", or "stale" (with how old it says) when the server had to send its last picture. */
function pictureState(card, response) {
  // Both times are the server's (its Date header, whole seconds): the browser's clock may be off.
  const takenAt = response.headers.get("X-Picture-Taken-At");
  const age = Date.parse(response.headers.get("Date")) / 1000 - Number(takenAt);
  if (!takenAt || !(age > STALE_AFTER_SECONDS)) return "drawn";
  setText(card.querySelector(".thumb-stale"), "class.stalePicture", { seconds: Math.round(age) });
  return "stale";
}

async function refreshPicture(card) {
  const id = card.dataset.desktopId;
  if (!state.watching) return;
  try {
    // The same screen as last time answers 304 without the picture: nothing to draw again.
    const headers = card.dataset.etag ? { "If-None-Match": card.dataset.etag } : {};
    const response = await fetch(`/api/teacher/desktops/${encodeURIComponent(id)}/thumbnail`,
      { credentials: "same-origin", cache: "no-store", headers });
    if (response.status === 304) {
      card.dataset.state = pictureState(card, response);
      return;
    }
    if (!response.ok) throw new ApiError(response.status, `http_${response.status}`);
    card.dataset.etag = response.headers.get("ETag") || "";
    const url = await asDataUrl(await response.blob());
    const picture = card.querySelector("img");
    picture.src = url;
    await picture.decode();
    card.dataset.state = pictureState(card, response);
  } catch {
    card.dataset.state = "failed"; // the last picture, if any, stays; the next round tries again
  }
}

function renderScreens() {
  const list = $("screens");
  const cards = new Map([...list.children].map((card) => [card.dataset.desktopId, card]));
  const wanted = state.desktops.map((desktop) => cards.get(desktop.id) || screenCard(desktop));
  list.replaceChildren(...wanted); // kept cards keep their picture until the next one arrives
  state.desktops.forEach((desktop, index) => markCard(wanted[index], desktop));
  renderHands();
  $("watching-off").hidden = state.watching;
  for (const missing of list.querySelectorAll("[data-i18n]")) setText(missing, missing.dataset.i18n);
  list.setAttribute("aria-busy", "false");
  $("no-screens").hidden = state.desktops.length > 0 || !state.group;
}

async function refreshScreens() {
  clearTimeout(refreshTimer);
  const round = ++refreshRound;
  const group = state.group;
  if (!group) return;
  if (!document.hidden) { // a tab in the background counts as nobody watching
    try {
      const [{ desktops }, marks] = await Promise.all([
        getJson(`/api/teacher/groups/${group.id}/desktops`), getJson(`/api/teacher/groups/${group.id}/state`)]);
      if (round !== refreshRound) return;
      state.desktops = desktops;
      setMarks(marks);
      renderScreens();
      await Promise.all([...$("screens").children].map(refreshPicture));
    } catch (error) {
      if (error.code === "not_signed_in") return window.location.assign("/");
    }
  }
  if (round === refreshRound) refreshTimer = setTimeout(refreshScreens, REFRESH_MS);
}

function setMarks({ watching, people }) {
  state.watching = watching;
  state.people = new Map(people.map((person) => [person.user_id, person]));
}

// --- lessons: lock, messages, raised hands

function done(key, params) {
  const notice = $("class-done");
  notice.hidden = false;
  setText(notice, key, params);
}

async function reloadMarks() {
  setMarks(await getJson(`/api/teacher/groups/${state.group.id}/state`));
  renderScreens();
}

/** `lock` or `unlock` the group's screens, or one student's (`user_id`). */
async function act(action, body) {
  showError(errorRegion, "");
  try {
    const { people } = await postJson(`/api/teacher/groups/${state.group.id}/${action}`, body);
    done(action === "lock" ? "class.lockedDone" : "class.unlockedDone", { n: people });
    await reloadMarks();
  } catch (error) {
    fail(error);
  }
}

async function helped(person) {
  showError(errorRegion, "");
  try {
    await sendChange("DELETE", `/api/teacher/groups/${state.group.id}/hands/${person.id}`);
    await reloadMarks();
  } catch (error) {
    fail(error);
  }
}

async function sendMessage(event) {
  event.preventDefault();
  showError(errorRegion, "");
  const [kind, id] = $("message-target").value.split(":");
  const body = { text: $("message-text").value, ...(kind === "user" ? { user_id: Number(id) } : {}) };
  try {
    const { people } = await postJson(`/api/teacher/groups/${state.group.id}/messages`, body);
    $("message-text").value = "";
    done("class.sentDone", { n: people });
  } catch (error) {
    fail(error);
  }
}

function renderMessageTargets() {
  const select = $("message-target");
  const chosen = select.value;
  select.replaceChildren();
  if (state.group) {
    select.append(option(`group:${state.group.id}`, t("class.wholeGroup", { name: state.group.name })));
    for (const person of state.members) select.append(option(`user:${person.id}`, personName(person), true));
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  $("class-controls").hidden = !state.group;
}

// --- assignments

function targetText(assignment) {
  if (assignment.group) return t("class.wholeGroup", { name: assignment.group.name });
  return personName(assignment.user);
}

function assignmentRow(assignment) {
  const title = localized(assignment.title);
  const folder = el("td", { class: "folder" });
  if (assignment.folder) {
    folder.append(el("span", { translate: "no", text: assignment.folder }), " ");
    const files = el("a", { class: "button small", href: `/files?space=${encodeURIComponent(assignment.space)}`,
      "data-action": "files" });
    setText(files, "class.folderFiles");
    files.setAttribute("aria-label", t("class.folderFilesLabel", { folder: assignment.folder }));
    folder.append(files);
  } else {
    folder.append(el("span", { class: "note", text: "–" }));
  }
  const remove = el("button", { type: "button", class: "button small", "data-action": "remove" });
  setText(remove, "class.remove");
  remove.setAttribute("aria-label", t("class.removeLabel", { title, target: targetText(assignment) }));
  remove.addEventListener("click", () => unassign(assignment, title));
  return el("tr", { "data-assignment-id": String(assignment.id), "data-type": assignment.desktop_type },
    el("th", { scope: "row", translate: "no", text: title }),
    el("td", { class: "target", translate: assignment.group ? null : "no", text: targetText(assignment) }),
    folder, el("td", { class: "row-actions" }, remove));
}

function renderAssignments() {
  $("assignments").replaceChildren(...state.assignments.map(assignmentRow));
  $("assignment-table").hidden = !state.assignments.length;
  $("no-assignments").hidden = state.assignments.length > 0;
}

function renderForm() {
  const typeSelect = $("assign-type");
  const chosenType = typeSelect.value;
  typeSelect.replaceChildren(...state.types.map((kind) => (kind.open
    ? option(kind.id, t("class.typeOpen", { title: localized(kind.title) }))
    : option(kind.id, localized(kind.title), true))));
  if (state.types.some((kind) => kind.id === chosenType)) typeSelect.value = chosenType;
  $("open-hint").hidden = !state.types.find((kind) => kind.id === typeSelect.value)?.open;

  const targetSelect = $("assign-target");
  const chosenTarget = targetSelect.value;
  targetSelect.replaceChildren();
  if (state.group) {
    targetSelect.append(option(`group:${state.group.id}`, t("class.wholeGroup", { name: state.group.name })));
    for (const person of state.members) targetSelect.append(option(`user:${person.id}`, personName(person), true));
  }
  if ([...targetSelect.options].some((o) => o.value === chosenTarget)) targetSelect.value = chosenTarget;
  $("assign-button").disabled = !state.group || !state.types.length;
  renderMessageTargets();
}

async function loadTypes() {
  state.types = (await getJson("/api/teacher/desktop-types")).desktop_types;
  renderForm();
}

async function loadAssignments() {
  const { assignments } = await getJson(`/api/teacher/assignments?group_id=${state.group.id}`);
  state.assignments = assignments;
  renderAssignments();
  showLessons(state.group, state.assignments);
}

async function assign(event) {
  event.preventDefault();
  showError(errorRegion, "");
  const [kind, id] = $("assign-target").value.split(":");
  const body = { desktop_type: $("assign-type").value, folder: $("assign-folder").value.trim() || null,
    [kind === "group" ? "group_id" : "user_id"]: Number(id) };
  try {
    await postJson("/api/teacher/assignments", body);
    $("assign-folder").value = "";
    await Promise.all([loadTypes(), loadAssignments()]);
  } catch (error) {
    fail(error);
  }
}

async function unassign(assignment, title) {
  if (!window.confirm(t("class.confirmRemove", { title, target: targetText(assignment) }))) return;
  showError(errorRegion, "");
  try {
    await sendChange("DELETE", `/api/teacher/assignments/${assignment.id}`);
    await Promise.all([loadTypes(), loadAssignments()]);
  } catch (error) {
    fail(error);
  }
}

// --- the group

async function chooseGroup(id) {
  state.group = state.groups.find((group) => String(group.id) === String(id)) || null;
  state.desktops = [];
  state.people = new Map();
  $("class-done").hidden = true;
  state.members = [];
  $("screens").replaceChildren();
  showError(errorRegion, "");
  if (!state.group) {
    showLessons(null, []);
    live.load(null);
    renderForm();
    refreshScreens(); // ends the refreshing of the group before
    return;
  }
  try {
    localStorage.setItem(GROUP_KEY, String(state.group.id));
  } catch {
    // not remembered; the choice still applies to this page
  }
  try {
    await live.load(state.group);
    state.members = (await getJson(`/api/teacher/groups/${state.group.id}/members`)).members;
    renderForm();
    await loadAssignments();
  } catch (error) {
    fail(error);
  }
  refreshScreens();
}

function storedGroup() {
  try {
    return localStorage.getItem(GROUP_KEY);
  } catch {
    return null;
  }
}

async function main() {
  startPage();
  try {
    const [{ groups }, { desktop_types: types }] = await Promise.all([
      getJson("/api/teacher/groups"), getJson("/api/teacher/desktop-types")]);
    state.groups = groups;
    state.types = types;
  } catch (error) {
    fail(error);
    return;
  }
  groupSelect.replaceChildren(...state.groups.map((group) => option(String(group.id), group.name, true)));
  $("no-groups").hidden = state.groups.length > 0;
  groupSelect.disabled = !state.groups.length;
  const remembered = state.groups.find((group) => String(group.id) === storedGroup());
  if (remembered) groupSelect.value = String(remembered.id);
  groupSelect.addEventListener("change", () => chooseGroup(groupSelect.value));
  $("assign-form").addEventListener("submit", assign);
  $("lock-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act("lock", { text: $("lock-text").value });
  });
  $("unlock-button").addEventListener("click", () => act("unlock", {}));
  $("message-form").addEventListener("submit", sendMessage);
  $("assign-type").addEventListener("change", renderForm);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshScreens();
  });
  onLanguageChange(() => {
    relabelLessons();
    renderForm();
    renderAssignments();
    $("screens").replaceChildren();
    renderScreens();
    live.render();
    for (const card of $("screens").children) refreshPicture(card);
  });
  renderForm();
  await setupLessons();
  await chooseGroup(groupSelect.value);
}

main();
