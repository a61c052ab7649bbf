// Apply the saved or system theme before the first paint (no flash of the wrong colours).
// A file rather than an inline script, so the page's Content-Security-Policy can forbid inline scripts.
(function () {
  try {
    var saved = localStorage.getItem("mmer-theme");
    var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
    document.documentElement.classList.toggle("dark", dark);
  } catch (e) {
    // Storage blocked: the light theme stays.
  }
})();
