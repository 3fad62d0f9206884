// Apollo Client with its persisted-queries link (hashes over GET) and GraphQLWsLink
// against live Punchclock servers; prints one JSON report for tests/e2e/test_apollo_client.py.
// Usage: node apollo.mjs <base url of instance A> <base url of instance B> <token> <team id> <task id>
import { createHash } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [baseA, baseB, token, teamId, taskId] = process.argv.slice(2);
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const requests = [];

function client(base) {
  const fetchLogged = async (input, init = {}) => {
    const url = new URL(input);
    const body = init.body ? JSON.parse(init.body) : null;
    const response = await fetch(input, init);
    const copy = await response.clone().json();
    requests.push({
      base,
      method: init.method ?? "GET",
      sentQuery: body ? "query" in body : url.searchParams.has("query"),
      sentHash: JSON.stringify(body?.extensions ?? url.searchParams.get("extensions") ?? "").includes("sha256Hash"),
      status: response.status,
      code: copy.errors?.[0]?.extensions?.code ?? null,
    });
    return response;
  };
  const http = new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({ uri: base + "/graphql", headers: { authorization: `Bearer ${token}` }, fetch: fetchLogged }),
  );
  const ws = new GraphQLWsLink(
    createClient({
      url: base.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
    }),
  );
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    },
    ws,
    http,
  );
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

const VIEWER = gql`query Viewer { viewer { id nickname teams { id name } } }`;
const TEAM = gql`query Team($id: ID!) { team(id: $id) { id name tasks(first: 5) { nodes { id key } } } }`;
const START = gql`mutation Start($input: StartTimerInput!) {
  startTimer(input: $input) { replayed userErrors { code field message } timeEntry { id running } }
}`;
const EVENTS = gql`subscription Events($teamId: ID!) { timerEvents(teamId: $teamId) { kind timeEntry { id } } }`;

const report = {};
const a = client(baseA);
const first = await a.query({ query: VIEWER, fetchPolicy: "network-only" });
report.viewer = first.data.viewer;
const again = await a.query({ query: VIEWER, fetchPolicy: "network-only" });
report.viewerAgain = again.data.viewer;
const team = await a.query({ query: TEAM, variables: { id: teamId }, fetchPolicy: "network-only" });
report.team = team.data.team;

const event = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no timer event within 30 s")), 30000);
  const subscription = a.subscribe({ query: EVENTS, variables: { teamId } }).subscribe({
    next: ({ data }) => {
      clearTimeout(timer);
      subscription.unsubscribe();
      resolve(data.timerEvents);
    },
    error: (error) => reject(error),
  });
});
await new Promise((resolve) => setTimeout(resolve, 500)); // subscribed before the change
const started = await a.mutate({ mutation: START, variables: { input: { teamId, taskId, idempotencyKey: "apollo-1" } } });
report.started = started.data.startTimer;
report.event = await event;

// The other instance answers the hash the first registered, at the first try.
const b = client(baseB);
const elsewhere = await b.query({ query: VIEWER, fetchPolicy: "network-only" });
report.viewerElsewhere = elsewhere.data.viewer;
report.requests = requests;
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(0);
