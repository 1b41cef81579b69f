// The classroom's live acts on a group: help a student with control (a link to the viewer in mode
// "help"), and demos: show one's own desktop or a student's to the whole group, and end it.
import { getJson, sendChange } from "./api.js";
import { language, setText, t } from "./i18n.js";
import { el } from "./page.js";

const localized = (value) => value?.[language()] || value?.en || value?.de || "";
const personName = (person) => person.display_name || person.username;

export function createLive({ bar, status, showMine, endDemo, fail }) {
  let group = null;
  let live = { demo: null, control: false };

  function render() {
    bar.hidden = !group;
    const { demo } = live;
    if (demo) setText(status, "class.demoOn", { title: localized(demo.title), name: personName(demo.shown) });
    else setText(status, "class.demoOff");
    endDemo.hidden = !demo;
    for (const link of document.querySelectorAll("[data-action=help]")) link.hidden = !live.control;
    for (const button of document.querySelectorAll("[data-action=show]")) {
      button.setAttribute("aria-pressed", String(demo?.desktop_id === button.dataset.desktopId));
    }
  }

  async function change(method, body) {
    try {
      live = await sendChange(method, `/api/teacher/groups/${group.id}/demo`, body);
      render();
    } catch (error) {
      fail(error);
    }
  }

  const show = (desktopId) => change("PUT", { desktop_id: desktopId });

  showMine.addEventListener("click", async () => {
    const { desktops } = await getJson("/api/container/list");
    const mine = desktops.find((desktop) => desktop.state === "running");
    if (mine) show(mine.id);
    else fail({ key: "class.noOwnDesktop" });
  });
  endDemo.addEventListener("click", () => change("DELETE"));

  return {
    async load(chosen) {
      group = chosen;
      live = { demo: null, control: false };
      render();
      if (!group) return;
      live = await getJson(`/api/teacher/groups/${group.id}/demo`);
      if (group === chosen) render();
    },
    render,
    /** A screen's actions: help with control, show it to the class. */
    actions(desktop) {
      const owner = personName(desktop.owner);
      const title = localized(desktop.title);
      const help = el("a", { class: "button small", "data-action": "help",
        href: `/desktops/${encodeURIComponent(desktop.id)}/view?mode=help`,
        "aria-label": t("class.helpLabel", { name: owner, title }) });
      setText(help, "class.help");
      help.hidden = !live.control;
      const showButton = el("button", { type: "button", class: "button small", "data-action": "show",
        "data-desktop-id": desktop.id, "aria-label": t("class.showLabel", { name: owner, title }),
        "aria-pressed": String(live.demo?.desktop_id === desktop.id) });
      setText(showButton, "class.show");
      showButton.addEventListener("click", () => show(desktop.id));
      return el("p", { class: "screen-actions" }, help, " ", showButton);
    },
  };
}
