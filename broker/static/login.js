// Local sign-in and sign-out. JSON requests only: a cross-site form cannot forge them.
"use strict";

const form = document.getElementById("local-login");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("login-error");
    error.textContent = "";
    let response;
    try {
      response = await fetch("/api/auth/local/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: form.username.value, password: form.password.value }),
      });
    } catch {
      error.textContent = "The server cannot be reached.";
      return;
    }
    if (response.ok) {
      window.location.assign("/");
      return;
    }
    const body = await response.json().catch(() => ({}));
    error.textContent = body.message || `Sign-in failed (${response.status}).`;
  });
}

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    await fetch("/api/auth/logout", { method: "POST", headers: { "X-CSRF-Token": logout.dataset.csrf } });
    window.location.assign("/");
  });
}
