// The sign-in page: local sign-in (JSON only: a cross-site form cannot forge it) and the language toggle.
import { setText } from "./i18n.js";
import { startPage } from "./page.js";

const form = document.getElementById("local-login");
const message = document.getElementById("login-error");

function refusal(response, body) {
  switch (body?.error) {
    case "invalid_credentials": return ["login.err.invalid"];
    case "account_disabled": return ["login.err.disabled"];
    case "too_many_attempts":
      return ["login.err.throttled", { seconds: response.headers.get("Retry-After") || "60" }];
    case "bad_request": return ["login.err.missing"];
    default: return ["login.err.failed", { status: response.status }];
  }
}

async function signIn(event) {
  event.preventDefault();
  message.textContent = "";
  delete message.dataset.i18n;
  if (!form.username.value.trim() || !form.password.value) {
    setText(message, "login.err.missing");
    return;
  }
  let response;
  try {
    response = await fetch("/api/auth/local/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username: form.username.value, password: form.password.value }),
    });
  } catch {
    setText(message, "error.offline");
    return;
  }
  if (response.ok) {
    window.location.assign("/");
    return;
  }
  setText(message, ...refusal(response, await response.json().catch(() => null)));
}

if (form) form.addEventListener("submit", signIn);
startPage();
