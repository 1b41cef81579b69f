// What the classroom does to a viewer, from the person's /api/events stream:
// - on their own desktop: a notice while a teacher watches, who controls it to help (with one
//   button that ends it), whether it is shown to the class; and during a demo a teacher shows
//   them, the page switches to that demo (view only);
// - on a demo (mode "demo"): who shows whose desktop; back to their own when it ends;
// - on a helper's viewer (mode "help"): a button to hand back.
import { postJson } from "./api.js";
import { setText } from "./i18n.js";

function viewerUrl(desktopId, query) {
  const search = new URLSearchParams(query).toString();
  return `/desktops/${encodeURIComponent(desktopId)}/view${search ? `?${search}` : ""}`;
}

/** Where a demo viewer returns to when the demo ends: the viewer it replaced, or the start page. */
function returnUrl() {
  const back = new URLSearchParams(window.location.search).get("back");
  return back ? viewerUrl(back, {}) : "/";
}

async function endHelp(desktopId) {
  try {
    await postJson(`/api/desktops/${encodeURIComponent(desktopId)}/help/end`);
  } catch {
    // the button stays; the next event says whether the help still runs
  }
}

/** `source`: the page's stream of the person's events (null: none to follow). */
export function followClassroom({ desktopId, mode, source, elements }) {
  const { watched, control, controlText, endControl, shown, demo, handBack } = elements;
  if (mode === "help") {
    handBack.hidden = false;
    handBack.addEventListener("click", async () => {
      await endHelp(desktopId);
      window.location.assign("/classroom");
    });
  }
  if (!source) return;
  endControl.addEventListener("click", () => endHelp(desktopId));

  source.addEventListener("desktops", (event) => {
    if (mode === "demo") return;
    const desktop = JSON.parse(event.data).desktops.find((found) => found.id === desktopId);
    const helpers = desktop?.controlled_by ?? [];
    watched.hidden = !desktop?.watched || helpers.length > 0; // control says more than watching
    control.hidden = helpers.length === 0;
    if (helpers.length) setText(controlText, "viewer.controlledBy", { names: helpers.join(", ") });
    shown.hidden = !desktop?.shown_to_class;
  });
  source.addEventListener("demo", (event) => {
    const shownNow = JSON.parse(event.data).demo;
    if (mode === "demo") {
      if (shownNow?.desktop_id === desktopId) {
        demo.hidden = false;
        setText(demo, shownNow.by === shownNow.of ? "viewer.demoOwn" : "viewer.demo", { by: shownNow.by, of: shownNow.of });
      } else {
        source.close();
        const back = new URLSearchParams(window.location.search).get("back");
        window.location.replace(shownNow ? viewerUrl(shownNow.desktop_id, { mode: "demo", ...(back ? { back } : {}) })
          : returnUrl());
      }
    } else if (shownNow) {
      source.close();
      window.location.replace(viewerUrl(shownNow.desktop_id, { mode: "demo", back: desktopId }));
    }
  });
}

/** On the dashboard: a demo a teacher shows takes the whole window. */
export function followDemo(source) {
  source.addEventListener("demo", (event) => {
    const shownNow = JSON.parse(event.data).demo;
    if (shownNow) window.location.assign(viewerUrl(shownNow.desktop_id, { mode: "demo" }));
  });
}
