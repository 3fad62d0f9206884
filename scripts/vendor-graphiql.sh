#!/usr/bin/env bash
# Vendors GraphiQL and the React it runs on into src/gql/static/graphiql, from the npm
# registry's published packages (npm pack), with each package's licence, and writes
# SHA256SUMS. Run it to change a version; tests/gql/test_graphiql.py checks the sums.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=src/gql/static/graphiql
GRAPHIQL=3.8.3
REACT=18.3.1   # React 19 ships no UMD build; GraphiQL 3 supports React 18

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for package in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir -p "$work/$package"
  tar xzf "$work/$package.tgz" -C "$work/$package"
done
cp "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" "$OUT/"
cp "$work/graphiql-$GRAPHIQL/package/LICENSE" "$OUT/LICENSE.graphiql"
cp "$work/react-$REACT/package/umd/react.production.min.js" "$OUT/"
cp "$work/react-$REACT/package/LICENSE" "$OUT/LICENSE.react"
cp "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" "$OUT/"
cp "$work/react-dom-$REACT/package/LICENSE" "$OUT/LICENSE.react-dom"
# The files are the packages' own, byte for byte; VERSIONS names each package with the
# registry's integrity of its tarball, so anyone can check them against npm.
{
  for spec in "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT"; do
    echo "$spec MIT $(npm view "$spec" dist.integrity)"
  done
} > "$OUT/VERSIONS"
(cd "$OUT" && sha256sum LICENSE.* VERSIONS *.js *.css > SHA256SUMS)
echo "vendored into $OUT:"
cat "$OUT/SHA256SUMS"
