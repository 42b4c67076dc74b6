/* Isthmus console: the little JavaScript every page shares. No framework, no build.
 *
 * window.isthmus.csrf()                  the session's CSRF token (from <meta name=csrf-token>)
 * window.isthmus.fetchJson(url, opts)    fetch with credentials, X-CSRF-Token and
 *                                        X-Requested-With: fetch; resolves to the parsed JSON
 *                                        (rejects with an Error carrying .status and .body)
 * window.isthmus.post(url, body)         fetchJson with POST and a JSON body
 * window.isthmus.subscribe(url, onEvent) an EventSource; onEvent(type, data) for every
 *                                        message ("message" or its "event:" name), data
 *                                        parsed as JSON when it is; returns a close() function
 * window.isthmus.on(name, handler)       register a page handler for data-action="name"
 *
 * Declarative behaviour (so pages need no script of their own for the common cases):
 *   <form data-confirm="Text?">          asks before submitting
 *   <button data-action="name">          calls the handler registered with on(name)
 * The CSP forbids inline script and style: pages add their own static/<page>.js.
 */
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function fetchJson(url, opts) {
    opts = opts || {};
    var headers = new Headers(opts.headers || {});
    headers.set("X-Requested-With", "fetch");
    headers.set("Accept", "application/json");
    var method = (opts.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      headers.set("X-CSRF-Token", csrf());
    }
    var init = Object.assign({}, opts, {
      method: method,
      headers: headers,
      credentials: "same-origin",
    });
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var body = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch (e) {
          /* not JSON: keep the text */
        }
        if (!response.ok) {
          var message = body && body.error ? body.error : response.status + " " + response.statusText;
          var error = new Error(message);
          error.status = response.status;
          error.body = body;
          throw error;
        }
        return body;
      });
    });
  }

  function post(url, body) {
    return fetchJson(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body === undefined ? {} : body),
    });
  }

  function subscribe(url, onEvent, eventTypes) {
    var source = new EventSource(url, { withCredentials: true });
    function deliver(type) {
      return function (event) {
        var data = event.data;
        try {
          data = JSON.parse(event.data);
        } catch (e) {
          /* plain text */
        }
        onEvent(type, data, event);
      };
    }
    source.onmessage = deliver("message");
    (eventTypes || []).forEach(function (type) {
      source.addEventListener(type, deliver(type));
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        onEvent("closed", null, null);
      }
    };
    return function close() {
      source.close();
    };
  }

  var handlers = {};

  function on(name, handler) {
    handlers[name] = handler;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var text = form.getAttribute && form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-action]") : null;
    if (!target) {
      return;
    }
    var handler = handlers[target.getAttribute("data-action")];
    if (handler) {
      event.preventDefault();
      handler(target, event);
    }
  });

  window.isthmus = {
    csrf: csrf,
    fetchJson: fetchJson,
    post: post,
    subscribe: subscribe,
    on: on,
  };
})();
