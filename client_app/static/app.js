// Live status without reloads: an element with data-poll="URL" is refreshed from that URL (an HTML
// fragment) every data-poll-ms; polling stops once the fragment contains an element with data-final.
(function () {
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-poll-ms") || "1000", 10);
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          el.innerHTML = html;
          if (!el.querySelector("[data-final]")) { setTimeout(tick, every); }
        })
        .catch(function () { setTimeout(tick, every * 3); });
    }
    if (!el.querySelector("[data-final]")) { setTimeout(tick, every); }
  }
  function copy(button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (target && navigator.clipboard) { navigator.clipboard.writeText(target.textContent); }
      button.textContent = "Copied";
    });
  }
  // A form with data-target="ID" is sent in the background; its HTML answer fills element ID.
  function inline(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var target = document.getElementById(form.getAttribute("data-target"));
      var method = (form.getAttribute("method") || "get").toUpperCase();
      var options = { method: method, credentials: "same-origin", headers: { "Accept": "text/html" } };
      if (method === "POST") { options.body = new FormData(form); }
      target.innerHTML = '<p class="muted">working…</p>';
      fetch(form.action, options)
        .then(function (r) { return r.text(); })
        .then(function (html) { target.innerHTML = html; target.querySelectorAll("[data-poll]").forEach(poll); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-target]").forEach(inline);
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("[data-copy]").forEach(copy);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
