package main

import (
	"net/http"
)

// invitePage is where invitation links lead: /invite#token=…. The secret stays in
// the fragment, which the browser never sends, so no access log holds it; the page's
// script reads it, shows the invitation and accepts it through the API.
func invitePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, _ = w.Write([]byte(invitePageHTML))
}

const invitePageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invitation</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>Invitation</h1>
<p id="what">Reading your invitation…</p>
<form id="form" hidden>
  <p><label>Your name <input id="name" autocomplete="name"></label></p>
  <p><button type="submit">Accept and create my account</button></p>
</form>
<form id="existing" hidden>
  <p>Already have an account? Accept with one of your API tokens.</p>
  <p><label>Your token <input id="api-token" type="password" autocomplete="off"></label></p>
  <p><button type="submit">Accept with my account</button></p>
</form>
<p id="result"></p>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
history.replaceState(null, "", location.pathname); // the secret leaves the address bar
const post = (path, body, bearer) => fetch("/api/v1" + path, {method: "POST",
  headers: Object.assign({"Content-Type": "application/json"}, bearer ? {"Authorization": "Bearer " + bearer} : {}),
  body: JSON.stringify(body)}).then(r => r.json().then(j => [r.ok, j]));
const show = (id, text) => { document.getElementById(id).textContent = text; };
const done = () => { document.getElementById("form").hidden = true; document.getElementById("existing").hidden = true; };
post("/invites/preview", {token}).then(([ok, inv]) => {
  if (!ok) { show("what", inv.message); return; }
  show("what", "You are invited to join as " + inv.role + " (" + inv.email + ", " + inv.state + ").");
  if (inv.state === "pending") {
    document.getElementById("form").hidden = false;
    document.getElementById("existing").hidden = false;
  }
});
document.getElementById("form").addEventListener("submit", ev => {
  ev.preventDefault();
  post("/invites/accept", {token, name: document.getElementById("name").value}).then(([ok, res]) => {
    if (ok) done();
    show("result", ok ? "Welcome! Your API token (shown once): " + res.token : res.message);
  });
});
document.getElementById("existing").addEventListener("submit", ev => {
  ev.preventDefault();
  const mine = document.getElementById("api-token").value.trim();
  if (!mine) { show("result", "Paste one of your API tokens first."); return; }
  post("/invites/accept", {token}, mine).then(([ok, res]) => {
    if (ok) done();
    show("result", ok ? "You joined the workspace as " + res.member.role + "." : res.message);
  });
});
</script>
</body></html>
`
