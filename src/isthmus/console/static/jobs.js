// The Jobs pages' own script (no framework; loaded with defer; CSP script-src 'self').
// Job page: follows /console/jobs/{id}/events (Server-Sent Events) and moves each task's
// box, status word and party cells to the state the server sends; at the end, fills the
// failure summary. Logs page: "Follow" appends new lines from the log's event stream.
// Stop buttons ask first through console.js (form data-confirm). Submit page: a chosen file is read here and put into the DAG field (nothing uploads).
"use strict";

(function () {
  const STATE = /(^|\s)state-[A-Z]+(?=\s|$)/g;

  function setState(el, status) {
    el.setAttribute("class", (el.getAttribute("class") || "").replace(STATE, " ").trim() +
      " state-" + status);
  }

  function word(live, status) {
    return live.getAttribute("data-word-" + status.toLowerCase()) || status;
  }

  function byData(attr, value) {
    for (const el of document.querySelectorAll("[" + attr + "]")) {
      if (el.getAttribute(attr) === value) return el;
    }
    return null;
  }

  function applyChange(live, change) {
    const tasks = change.tasks || {};
    for (const name of Object.keys(tasks)) {
      const box = byData("data-task", name);
      if (!box) continue;
      setState(box, tasks[name]);
      const text = box.querySelector("[data-task-status]");
      if (text) text.textContent = word(live, tasks[name]);
      const title = box.querySelector("title");
      if (title) title.textContent = name + ": " + word(live, tasks[name]);
    }
    const parties = change.parties || {};
    for (const key of Object.keys(parties)) {
      const cell = byData("data-party", key);
      if (!cell) continue;
      setState(cell, parties[key]);
      cell.textContent = word(live, parties[key]);
    }
    const ids = change.task_ids || {};
    for (const name of Object.keys(ids)) {
      for (const cell of document.querySelectorAll("[data-task-id-of]")) {
        if (cell.getAttribute("data-task-id-of") === name) cell.textContent = ids[name];
      }
      const slot = byData("data-log-for", name);
      if (slot && !slot.querySelector("a")) {
        const link = document.createElement("a");
        link.href = live.getAttribute("data-logs") + "?task_id=" + encodeURIComponent(ids[name]);
        link.textContent = live.getAttribute("data-word-log");
        slot.appendChild(link);
      }
    }
    if (change.job_status) {
      const job = document.querySelector("[data-job-status]");
      if (job) {
        setState(job, change.job_status);
        job.textContent = word(live, change.job_status);
      }
    }
  }

  function showWhy(failures) {
    const section = document.getElementById("why");
    const box = document.querySelector("[data-why]");
    if (!section || !box || !failures || failures.length === 0) return;
    box.replaceChildren();
    for (const f of failures) {
      const p = document.createElement("p");
      p.className = "failure";
      p.textContent = f.text;
      box.appendChild(p);
      if (f.log_tail) {
        const pre = document.createElement("pre");
        pre.className = "log-tail";
        pre.textContent = f.log_tail;
        box.appendChild(pre);
      }
    }
    section.classList.remove("hidden");
  }

  function followJob(live) {
    const close = window.isthmus.subscribe(live.getAttribute("data-events"), (type, data) => {
      if (type === "state") applyChange(live, data);
      if (type !== "end") return;
      close();
      applyChange(live, { job_status: data.job_status });
      showWhy(data.failures);
      for (const form of document.querySelectorAll("form[data-stop]")) form.remove();
      live.setAttribute("data-ended", "yes");
    }, ["state", "end", "trouble"]);
  }

  function followLog(button) {
    const log = document.querySelector("[data-log]");
    if (!log) return;
    button.disabled = true;
    button.textContent = button.getAttribute("data-following");
    log.textContent = "";
    const close = window.isthmus.subscribe(button.getAttribute("data-follow"), (type, data) => {
      if (type === "lines") {
        log.append(data.map((l) => l + "\n").join(""));
        log.scrollTop = log.scrollHeight;
      } else if (type === "end" || type === "trouble") {
        close();
      }
    }, ["lines", "end", "trouble"]);
  }

  function readFile(input) {
    const file = input.files && input.files[0];
    const dag = document.getElementById("job-dag");
    const config = document.getElementById("job-config");
    if (!file || !dag || !config) return;
    file.text().then((text) => {
      dag.value = text;
      config.value = "";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const live = document.getElementById("job-live");
    if (live && live.getAttribute("data-ended") !== "yes") followJob(live);
    const follow = document.querySelector("button[data-follow]");
    if (follow) follow.addEventListener("click", () => followLog(follow));
    const file = document.querySelector("input[data-job-file]");
    if (file) file.addEventListener("change", () => readFile(file));
  });
})();
