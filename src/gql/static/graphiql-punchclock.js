// Punchclock's GraphiQL: the token field (kept in sessionStorage, for this tab only) is
// sent as the Authorization header over HTTP and in connection_init on the WebSocket.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("punchclock-config").textContent);
  var KEY = "punchclock.token";
  var field = document.getElementById("punchclock-token");
  var state = document.getElementById("punchclock-token-state");

  function token() {
    return (sessionStorage.getItem(KEY) || "").trim().replace(/^Bearer\s+/i, "");
  }
  function authorization() {
    return token() ? "Bearer " + token() : null;
  }
  function show() {
    state.textContent = token() ? "set" : "";
  }
  field.value = token();
  show();
  field.addEventListener("input", function () {
    sessionStorage.setItem(KEY, field.value.trim());
    show();
  });
  document.getElementById("punchclock-bar").addEventListener("submit", function (event) {
    event.preventDefault();
  });

  var http = new URL(config.path, window.location.href);
  var ws = new URL(config.path, window.location.href);
  ws.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";

  // GraphiQL sends a subscription over the WebSocket only when the parsed document it
  // passes along says so, and right after an edit that document can still be the previous
  // one; the HTTP request it sends instead is refused (400: subscriptions need the
  // WebSocket). So the text decides: a document whose first operation is a subscription.
  var SUBSCRIPTION = /^(?:\s|#[^\n]*\n)*subscription\b\s*([_A-Za-z][_0-9A-Za-z]*)?/;
  function withSubscriptionAST(params, options) {
    var match = SUBSCRIPTION.exec((params && params.query) || "");
    if (!match) return options;
    var name = match[1] ? { kind: "Name", value: match[1] } : undefined;
    var operation = { kind: "OperationDefinition", operation: "subscription", name: name };
    return Object.assign({}, options, {
      documentAST: { kind: "Document", definitions: [operation] },
    });
  }

  var graphiqlFetcher = GraphiQL.createFetcher({
    url: http.toString(),
    subscriptionUrl: ws.toString(),
    // GraphiQL copies these into connection_init for each subscription's connection:
    // a getter, so the token field's value at that moment counts.
    wsConnectionParams: {
      get authorization() {
        return authorization() || undefined;
      },
    },
    fetch: function (input, init) {
      var headers = new Headers((init && init.headers) || {});
      var value = authorization();
      if (value && !headers.has("authorization")) headers.set("authorization", value);
      return window.fetch(input, Object.assign({}, init, { headers: headers }));
    },
  });
  var fetcher = function (params, options) {
    return graphiqlFetcher(params, withSubscriptionAST(params, options));
  };

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.query,
      variables: config.variables,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
    }),
  );
})();
