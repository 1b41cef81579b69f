// The classroom's lesson panel (teachers and admins), for the group chosen there: start a lesson on a
// desktop type (every student's desktop starts ahead; progress per student), end it (students are
// warned, then their desktops stop), open an address or a file of an assignment's folder on every
// running desktop at once, and collect the hand-ins of an assignment into the teacher's files.
import { ApiError, getJson, postJson } from "./api.js";
import { language, setText, t } from "./i18n.js";
import { el, showError } from "./page.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const localized = (value) => value?.[language()] || value?.en || value?.de || "";
const personName = (person) => person.display_name || person.username;

const panel = { group: null, assignments: [], types: [], lesson: null, handin: "", timer: null, round: 0 };

function errorKey(error) {
  if (!(error instanceof ApiError)) return "error.server";
  switch (error.code) {
    case "bad_url": return "lesson.err.url";
    case "bad_path": case "no_file": return "lesson.err.path";
    case "lesson_running": return "lesson.err.running";
    case "no_lesson": case "lesson_ending": return "lesson.err.noLesson";
    case "not_your_group": case "forbidden": return "class.err.forbidden";
    case "offline": return "error.offline";
    default: return error.status >= 500 ? "error.server" : "error.badRequest";
  }
}

function fail(error) {
  const region = $("lesson-error");
  showError(region, t(errorKey(error)));
  region.focus();
}

// --- the lesson

function renderLesson() {
  const lesson = panel.lesson;
  $("lesson-form").hidden = Boolean(lesson);
  $("lesson-end-button").hidden = !lesson || Boolean(lesson.ends_at);
  const status = $("lesson-status");
  if (!lesson) {
    setText(status, "lesson.none");
    $("lesson-progress").replaceChildren();
    return;
  }
  const values = { title: localized(lesson.title), started: lesson.started, total: lesson.total };
  delete status.dataset.i18n; // filled here, with figures: not by the page's translation of data-i18n
  status.textContent = t(lesson.ends_at ? "lesson.endingTeacher" : "lesson.running", values);
  status.dataset.started = String(lesson.started);
  status.dataset.total = String(lesson.total);
  $("lesson-progress").replaceChildren(...lesson.students.map((student) => el("li",
    { "data-state": student.state, "data-username": student.person.username },
    el("span", { translate: "no", text: personName(student.person) }), ": ",
    el("span", { text: t(`lesson.state.${student.state}`) }),
    student.problem ? el("span", { class: "problem", text: ` (${student.problem})` }) : null)));
}

async function refreshLesson() {
  clearTimeout(panel.timer);
  const round = ++panel.round;
  if (!panel.group) return;
  if (!document.hidden) {
    try {
      const { lesson, handin_folder: handin } = await getJson(`/api/teacher/groups/${panel.group.id}/lesson`);
      if (round !== panel.round) return;
      panel.lesson = lesson;
      panel.handin = handin;
      renderChoices();
      renderLesson();
    } catch (error) {
      if (error.code === "not_signed_in") return window.location.assign("/");
    }
  }
  if (round === panel.round) panel.timer = setTimeout(refreshLesson, POLL_MS);
}

async function startLesson(event) {
  event.preventDefault();
  showError($("lesson-error"), "");
  try {
    panel.lesson = await postJson(`/api/teacher/groups/${panel.group.id}/lesson/start`,
      { desktop_type: $("lesson-type").value });
    renderLesson();
    refreshLesson();
  } catch (error) {
    fail(error);
  }
}

async function endLesson() {
  if (!window.confirm(t("lesson.confirmEnd"))) return;
  showError($("lesson-error"), "");
  try {
    panel.lesson = (await postJson(`/api/teacher/groups/${panel.group.id}/lesson/end`)).lesson;
    renderLesson();
  } catch (error) {
    fail(error);
  }
}

// --- open for everyone

function showOpened(result) {
  $("open-result").textContent = t("lesson.opened", { count: result.opened, total: result.desktops.length });
  $("open-result").dataset.opened = String(result.opened);
  $("open-problems").replaceChildren(...result.desktops.filter((item) => !item.opened).map((item) => el("li", {},
    el("span", { translate: "no", text: personName(item.person) }), `: ${item.problem}`)));
}

async function openForAll(body) {
  showError($("lesson-error"), "");
  $("open-result").textContent = "";
  try {
    showOpened(await postJson(`/api/teacher/groups/${panel.group.id}/open`, body));
  } catch (error) {
    fail(error);
  }
}

// --- collecting

function collectionTable(collection) {
  const rows = collection.students.map((student) => {
    const files = student.files.length
      ? student.files.map((file) => `${file.path} (${file.size} B)`).join(", ")
      : t("lesson.nothing");
    return el("tr", { "data-username": student.person.username, "data-files": String(student.files.length) },
      el("th", { scope: "row", translate: "no", text: personName(student.person) }),
      el("td", { translate: student.files.length ? "no" : null, text: files }));
  });
  const link = el("a", { class: "button small", text: t("lesson.openCollection"),
    href: `/files?space=home&path=${encodeURIComponent(collection.path)}` });
  return [el("p", {}, el("span", { translate: "no", text: collection.path }), " ", link),
    el("table", { class: "entries" }, el("tbody", {}, ...rows))];
}

async function collect(event) {
  event.preventDefault();
  showError($("lesson-error"), "");
  try {
    const collection = await postJson(`/api/teacher/assignments/${$("collect-assignment").value}/collect`);
    $("collect-result").replaceChildren(...collectionTable(collection));
  } catch (error) {
    fail(error);
  }
}

// --- the panel

function renderChoices() {
  const typeSelect = $("lesson-type");
  const chosen = typeSelect.value;
  typeSelect.replaceChildren(...panel.types.map((kind) =>
    el("option", { value: kind.id, translate: "no", text: localized(kind.title) })));
  if (panel.types.some((kind) => kind.id === chosen)) typeSelect.value = chosen;
  const withFolders = panel.assignments.filter((assignment) => assignment.folder);
  for (const id of ["open-file-assignment", "collect-assignment"]) {
    const select = $(id);
    const before = select.value;
    select.replaceChildren(...withFolders.map((assignment) => el("option", { value: String(assignment.id),
      translate: "no", text: `${assignment.folder} (${localized(assignment.title)})` })));
    if (withFolders.some((assignment) => String(assignment.id) === before)) select.value = before;
  }
  $("open-file-form").hidden = !withFolders.length;
  $("collect-form").hidden = !withFolders.length;
  $("no-folders").hidden = withFolders.length > 0;
  const folder = withFolders.find((assignment) => String(assignment.id) === $("collect-assignment").value)?.folder;
  $("collect-hint").textContent = panel.handin && folder ? t("lesson.collectHint", { path: `${panel.handin}/${folder}` }) : "";
}

/** The classroom chose a group (or none), or its assignments changed. */
export function showLessons(group, assignments) {
  const changed = panel.group?.id !== group?.id;
  panel.group = group;
  panel.assignments = assignments || [];
  $("lesson-panel").hidden = !group;
  renderChoices();
  if (changed) {
    panel.lesson = null;
    $("open-result").textContent = "";
    $("open-problems").replaceChildren();
    $("collect-result").replaceChildren();
    showError($("lesson-error"), "");
    refreshLesson();
  }
}

export async function setupLessons() {
  $("lesson-form").addEventListener("submit", startLesson);
  $("lesson-end-button").addEventListener("click", endLesson);
  $("open-url-form").addEventListener("submit", (event) => {
    event.preventDefault();
    openForAll({ url: $("open-url").value.trim() });
  });
  $("open-file-form").addEventListener("submit", (event) => {
    event.preventDefault();
    openForAll({ assignment_id: Number($("open-file-assignment").value), path: $("open-file-path").value.trim() });
  });
  $("collect-form").addEventListener("submit", collect);
  $("collect-assignment").addEventListener("change", renderChoices);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshLesson();
  });
  try {
    panel.types = (await getJson("/api/teacher/desktop-types")).desktop_types;
  } catch (error) {
    fail(error);
  }
  renderChoices();
}

/** Again in the language just chosen. */
export function relabelLessons() {
  renderChoices();
  renderLesson();
}
