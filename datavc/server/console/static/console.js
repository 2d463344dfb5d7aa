// datavc console: the little script every page loads (no framework, no build step).
"use strict";

// `datavc ui` prints /ui/login#token=...: the fragment never reaches a server (nor its logs);
// put it in the form, drop it from the address bar and history, and log in.
(function loginFromFragment() {
  var form = document.getElementById("login-form");
  if (!form || !location.hash) return;
  var m = /^#token=([^&]+)$/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, "", location.pathname + location.search);
  form.querySelector("#token").value = decodeURIComponent(m[1]);
  form.submit();
})();
