// The console works without this script; it only asks before destructive forms
// (data-confirm) and selects a newly shown secret so it can be copied at once.
"use strict";
document.addEventListener("submit", (ev) => {
  const q = ev.target.getAttribute("data-confirm");
  if (q && !window.confirm(q)) ev.preventDefault();
});
document.addEventListener("DOMContentLoaded", () => {
  const s = document.querySelector(".secret input.copy");
  if (s) { s.focus(); s.select(); }
});
