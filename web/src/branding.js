// The branding page (admins): app name, colours, logo and tab icon, with a live preview. The
// colours pages derive (readable text on them and so on) come from the server, so the preview
// shows exactly what every page will.
import { getJson, sendChange } from "./api.js";
import { setText, t, translate } from "./i18n.js";
import { el, startPage } from "./page.js";

const PICTURES = ["logo", "favicon"];

const form = document.getElementById("branding-form");
const nameInput = document.getElementById("name-input");
const primaryInput = document.getElementById("primary-input");
const accentInput = document.getElementById("accent-input");
const preview = document.getElementById("preview");
const previewName = document.getElementById("preview-name");
const previewLogo = document.getElementById("preview-logo");
const errorRegion = document.getElementById("branding-error");
const statusLine = document.getElementById("branding-status");
let paletteRequest = 0;
let paletteTimer = null;

function errorKey(error) {
  switch (error?.code) {
    case "bad_app_name": return "branding.err.name";
    case "bad_colour": return "branding.err.colour";
    case "image_too_large": return "branding.err.tooLarge";
    case "bad_image": return "branding.err.type";
    case "not_signed_in": return "error.signedOut";
    case "offline": return "error.offline";
    default: return error?.status >= 500 ? "error.server" : "error.badRequest";
  }
}

function clearMessages() {
  errorRegion.hidden = true;
  delete statusLine.dataset.i18n;
  statusLine.textContent = "";
}

function fail(error) {
  setText(errorRegion, errorKey(error), { max: nameInput.maxLength });
  errorRegion.hidden = false;
  errorRegion.focus();
}

function applyPalette(palette) {
  for (const [name, value] of Object.entries(palette)) preview.style.setProperty(`--${name}`, value);
}

function showPicture(img, url) {
  img.hidden = !url;
  if (url) img.src = url;
  else img.removeAttribute("src");
}

/** The form, the preview and the pictures as the server has them now. */
function show(branding) {
  nameInput.value = branding.app_name;
  primaryInput.value = branding.primary_colour;
  accentInput.value = branding.accent_colour;
  previewName.textContent = branding.app_name;
  applyPalette(branding.palette);
  showPicture(previewLogo, branding.logo_url);
  const custom = { logo: Boolean(branding.logo_url), favicon: branding.custom_favicon };
  for (const kind of PICTURES) {
    showPicture(document.getElementById(`${kind}-current`), branding[`${kind}_url`]);
    document.getElementById(`${kind}-default`).hidden = custom[kind];
    document.getElementById(`${kind}-remove`).disabled = !custom[kind];
  }
}

/** This page's own top bar, tab title, icon and colours follow at once, as every page will at its next load. */
function applyToPage(branding) {
  document.querySelector('link[rel="stylesheet"][href^="/branding.css"]').href = branding.stylesheet_url;
  document.querySelector('link[rel="icon"]').href = branding.favicon_url;
  document.querySelector('meta[name="application-name"]').content = branding.app_name;
  document.getElementById("app-name").textContent = branding.app_name;
  const brand = document.querySelector(".topbar .brand");
  let logo = brand.querySelector(".brand-logo");
  if (branding.logo_url) {
    logo ??= brand.insertBefore(el("img", { class: "brand-logo", alt: "" }), brand.firstChild);
    logo.src = branding.logo_url;
  } else {
    logo?.remove();
  }
  translate(document);
}

async function change(request) {
  clearMessages();
  try {
    const branding = await request;
    show(branding);
    applyToPage(branding);
    setText(statusLine, "branding.saved");
  } catch (error) {
    fail(error);
  }
}

async function previewColours() {
  const mine = ++paletteRequest;
  const query = new URLSearchParams({ primary_colour: primaryInput.value, accent_colour: accentInput.value });
  try {
    const { palette } = await getJson(`/api/admin/branding/palette?${query}`);
    if (mine === paletteRequest) applyPalette(palette);
  } catch (error) {
    fail(error);
  }
}

function bindPicture(kind) {
  const input = document.getElementById(`${kind}-file`);
  document.getElementById(`${kind}-upload`).addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const [file] = input.files;
    if (!file) return;
    const body = new FormData();
    body.append(kind, file);
    input.value = "";
    change(sendChange("POST", `/api/admin/branding/${kind}`, body));
  });
  document.getElementById(`${kind}-remove`).addEventListener("click",
    () => change(sendChange("DELETE", `/api/admin/branding/${kind}`)));
}

nameInput.addEventListener("input", () => { previewName.textContent = nameInput.value.trim(); });
for (const input of [primaryInput, accentInput]) {
  input.addEventListener("input", () => {
    clearTimeout(paletteTimer);
    paletteTimer = setTimeout(previewColours, 120);
  });
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  change(sendChange("PATCH", "/api/admin/branding", {
    app_name: nameInput.value, primary_colour: primaryInput.value, accent_colour: accentInput.value,
  }));
});
PICTURES.forEach(bindPicture);
document.getElementById("reset").addEventListener("click", () => {
  if (window.confirm(t("branding.confirmReset"))) change(sendChange("DELETE", "/api/admin/branding"));
});

startPage();
getJson("/api/branding").then(show, fail);
