// Runs graphql-http's server audits against a live server and prints one JSON report.
// Usage: node audit.mjs <url> [authorization header value]
import { serverAudits } from "graphql-http";

const [url, authorization] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (authorization) headers.set("authorization", authorization);
  return fetch(input, { ...init, headers });
};

const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
process.stdout.write(JSON.stringify(results) + "\n");
