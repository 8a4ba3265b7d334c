// Live progress without inline scripts (CSP): reload while the page says work is running,
// and fill a provisioning job's log and progress from the JSON API.
(function () {
  const body = document.body;
  const reloadMs = parseInt(body.dataset.reload || "0", 10);
  if (reloadMs > 0) { setTimeout(function () { window.location.reload(); }, reloadMs); }
  const job = document.getElementById("job");
  if (!job) { return; }
  const id = job.dataset.jobId;
  function tick() {
    fetch("/api/jobs/" + id, { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (payload) {
        const j = payload.data.job;
        document.getElementById("job-status").textContent = j.status;
        document.getElementById("job-log").textContent = j.log;
        const pct = j.total_steps ? Math.round(100 * j.steps_done.length / j.total_steps) : 0;
        document.getElementById("job-progress").style.width = pct + "%";
        document.getElementById("job-steps").textContent = j.steps_done.length + " / " + j.total_steps;
        if (j.error) { document.getElementById("job-error").textContent = j.error; }
        if (j.status === "queued" || j.status === "running") { setTimeout(tick, 1000); }
      });
  }
  tick();
})();
