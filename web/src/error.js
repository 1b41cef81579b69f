// The error page: its message in the reader's language when the error's code has a translation
// (errorPage.<code>, with the details the server put in data-i18n-params); else the server's words stay.
import { DEFAULT_LANGUAGE, STRINGS } from "./strings.js";
import { startPage } from "./page.js";

const message = document.getElementById("error-message");
const key = `errorPage.${message.dataset.code}`;
if (key in STRINGS[DEFAULT_LANGUAGE]) message.dataset.i18n = key;
startPage();
