// While changes wait for the solver, ask every second whether a new version is ready, then reload.
(function () {
  var marked = document.querySelector("[data-pending]");
  if (!marked || marked.getAttribute("data-pending") === "0") return;
  var shown = marked.getAttribute("data-version");
  var status = window.location.pathname.replace(/\/$/, "") + "/status";
  function poll() {
    fetch(status, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (now) {
        if (now && (String(now.version) !== shown || now.pending === 0)) window.location.reload();
        else setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
