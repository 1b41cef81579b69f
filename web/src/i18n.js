// Language: the one the person picked — stored with their account on signed-in pages (the
// desktops they start speak it too), else remembered in localStorage — else the browser's
// first supported preference, else English. Markup asks for strings with attributes:
//   data-i18n="key"                 → textContent
//   data-i18n-params='{"n": 3}'     → values for {n} placeholders
//   data-i18n-aria-label / -title / -placeholder="key" → that attribute
import { sendChange } from "./api.js";
import { DEFAULT_LANGUAGE, LANGUAGES, STRINGS } from "./strings.js";

const STORAGE_KEY = "deskbroker.language";
const ATTRIBUTES = ["aria-label", "title", "placeholder"];
// Signed-in pages carry the person's stored pick (empty: none yet); the sign-in page has no such tag.
const personsLanguage = document.querySelector('meta[name="person-language"]');

let current = detectLanguage();
const listeners = new Set();

function storedLanguage() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: detection still works
  }
}

function detectLanguage(preferences = navigator.languages || [navigator.language]) {
  if (LANGUAGES.includes(personsLanguage?.content)) return personsLanguage.content;
  const stored = storedLanguage();
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of preferences) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return DEFAULT_LANGUAGE;
}

/** The installation's name (branding, set by admins): never translated, so not in the string tables. */
export function appName() {
  return document.querySelector('meta[name="application-name"]')?.content || "";
}

export function language() {
  return current;
}

export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS[DEFAULT_LANGUAGE][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

function paramsOf(element) {
  try {
    return JSON.parse(element.dataset.i18nParams || "{}");
  } catch {
    return {};
  }
}

/** Fill every marked element inside `root` (itself included) in the current language. */
export function translate(root = document) {
  const scope = root === document ? document.documentElement : root;
  const elements = [scope, ...scope.querySelectorAll("*")];
  for (const element of elements) {
    if (element.dataset.i18n) element.textContent = t(element.dataset.i18n, paramsOf(element));
    for (const attribute of ATTRIBUTES) {
      const key = element.getAttribute(`data-i18n-${attribute}`);
      if (key) element.setAttribute(attribute, t(key));
    }
  }
  if (root === document) {
    document.documentElement.lang = current;
    const title = document.querySelector("title[data-i18n]");
    if (title) document.title = [t(title.dataset.i18n), appName()].filter(Boolean).join(" · ");
  }
}

/** Set `element`'s text to string `key` now and whenever the language changes. */
export function setText(element, key, params) {
  element.dataset.i18n = key;
  if (params) element.dataset.i18nParams = JSON.stringify(params);
  else delete element.dataset.i18nParams;
  translate(element);
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang) || lang === current) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // not remembered; the switch still applies to this page
  }
  translate(document);
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function nextLanguage() {
  return LANGUAGES[(LANGUAGES.indexOf(current) + 1) % LANGUAGES.length];
}

let storing = Promise.resolve(); // one after the other, so the last click is what stays stored

/** Store the pick with the person's account: their next desktop start speaks it. */
function rememberForPerson(lang) {
  storing = storing
    .then(() => sendChange("PUT", "/api/auth/language", { language: lang }))
    .then(() => { personsLanguage.content = lang; })
    .catch((error) => console.warn("the language was not stored with the account:", error)); // the page still switched
}

/** A button that switches to the next language; it names that language in its own words. */
export function bindLanguageToggle(button) {
  const render = () => {
    button.lang = nextLanguage();
    translate(button);
  };
  button.dataset.i18n = "language.other";
  button.setAttribute("data-i18n-aria-label", "language.switch");
  button.addEventListener("click", () => {
    setLanguage(nextLanguage());
    if (personsLanguage) rememberForPerson(current);
  });
  onLanguageChange(render);
  render();
}
