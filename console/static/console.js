// The console works without this script; it only asks before destructive forms
// (data-confirm) and selects a newly shown secret so it can be copied at once.
"use strict";
document.addEventListener("submit", (ev) => {
  const q = ev.target.getAttribute("data-confirm");
  if (q && !window.confirm(q)) ev.preventDefault();
});
document.addEventListener("DOMContentLoaded", () => {
  if (location.hash === "#create") {
    const d = document.getElementById("create");
    if (d) { d.open = true; document.getElementById("ws-name").focus(); }
  }
  const s = document.querySelector(".secret input.copy");
  if (s) { s.focus(); s.select(); }
  // An invitation link: the secret is in the fragment, which no server sees.
  // Move it into the form, out of the address bar, and open the invitation.
  const code = document.getElementById("invite-code");
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (code && token) {
    history.replaceState(null, "", location.pathname);
    code.value = token;
    document.getElementById("invite-form").submit();
  }
});
