/* Partners page: follow the contracts' states without a reload.
 *
 * The section carrying data-events="<url>" subscribes to that Server-Sent Events stream;
 * each "contracts" event maps contract id -> {peer, status, label, actions, fields}. A
 * row's status badge (text, class, data-status) and its data-field cells named in
 * fields (key, TLS pin, expiry) follow it, and an action form whose data-when is no
 * longer admitted by the state disappears (the server refuses it anyway). A contract the
 * table does not show yet reveals the "new contracts" notice, whose link reloads.
 */
(function () {
  "use strict";

  function apply(rows, states) {
    var seen = {};
    rows.forEach(function (row) {
      var id = row.getAttribute("data-contract");
      var state = states[id];
      seen[id] = true;
      if (!state) {
        return;
      }
      row.setAttribute("data-status", state.status);
      var badge = row.querySelector('[data-field="status"]');
      if (badge) {
        badge.textContent = state.label;
        badge.className = "state state-" + state.status.toLowerCase();
      }
      Object.keys(state.fields || {}).forEach(function (name) {
        var cell = row.querySelector('[data-field="' + name + '"]');
        if (cell) {
          cell.textContent = state.fields[name];
        }
      });
      row.querySelectorAll("form[data-when]").forEach(function (form) {
        if (state.actions.indexOf(form.getAttribute("data-when")) < 0) {
          form.remove();
        }
      });
    });
    return seen;
  }

  function start() {
    var section = document.querySelector("[data-events]");
    if (!section || !window.isthmus) {
      return;
    }
    var peer = section.getAttribute("data-peer") || "";
    var notice = document.getElementById("partners-new");
    window.isthmus.subscribe(
      section.getAttribute("data-events"),
      function (type, states) {
        if (type !== "contracts" || !states) {
          return;
        }
        var rows = Array.prototype.slice.call(section.querySelectorAll("tr[data-contract]"));
        var seen = apply(rows, states);
        var unseen = Object.keys(states).some(function (id) {
          return !seen[id] && (!peer || states[id].peer === peer);
        });
        if (unseen && notice) {
          notice.hidden = false;
        }
      },
      ["contracts"]
    );
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
