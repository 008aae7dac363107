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

// The chart and the list of windows, linked: pointing at a window lights it in both; following a
// link from the chart opens its line in the list.
(function () {
  var chart = document.getElementById("heatmap");
  if (!chart) return;
  function light(request, on) {
    document.querySelectorAll("[data-request]").forEach(function (element) {
      if (element.getAttribute("data-request") === request) element.classList.toggle("lit", on);
    });
  }
  document.querySelectorAll("[data-request]").forEach(function (element) {
    var request = element.getAttribute("data-request");
    element.addEventListener("mouseenter", function () { light(request, true); });
    element.addEventListener("mouseleave", function () { light(request, false); });
  });
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var card = id && document.getElementById(id);
    if (card && card.tagName === "DETAILS") card.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // Where the chart is wider than the screen it scrolls sideways: the region names stay at its
  // left edge, and it opens at the first window.
  var wrap = chart.parentElement;
  var labels = chart.querySelector(".labels");
  var units = chart.viewBox.baseVal.width;
  function scale() { return units / chart.getBoundingClientRect().width; }
  wrap.addEventListener("scroll", function () {
    labels.setAttribute("transform", "translate(" + wrap.scrollLeft * scale() + " 0)");
  });
  if (wrap.scrollWidth > wrap.clientWidth) {
    var first = chart.querySelector(".window-bar rect");
    var names = Number(chart.getAttribute("data-label-width"));
    if (first) wrap.scrollLeft = Math.max(0, (Number(first.getAttribute("x")) - names - 20) / scale());
  }
})();
