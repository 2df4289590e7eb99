#!/usr/bin/env bash
# Smoke test of a running compose stack (`docker compose -f deploy/compose.yaml up -d`), for CI
# where a Docker engine exists (.github/workflows/deploy.yml): sign up, create a token, store a
# key, fetch it back with the token as cv-git does, then grpcurl `list` and health against
# crypto on 127.0.0.1:50051. Needs curl, python3 and docker (grpcurl runs from its image).
set -euo pipefail
base="${CVW_WALLET_URL:-http://127.0.0.1:8080}"
crypto="${CVW_CRYPTO_ADDR:-127.0.0.1:50051}"
grpcurl_image="${GRPCURL_IMAGE:-fullstorydev/grpcurl:v1.9.3}"
say() { printf '[compose-smoke] %s\n' "$*"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
jar="$(mktemp)"; trap 'rm -f "$jar"' EXIT

for _ in $(seq 1 60); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 2; done
curl -fsS "$base/readyz" >/dev/null
say "wallet ready at $base"

email="smoke-$(date +%s)@example.com"
curl -fsS -c "$jar" -H 'content-type: application/json' -H "origin: $base" \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery staple\"}" "$base/api/auth/signup" >/dev/null
token="$(curl -fsS -b "$jar" -H 'content-type: application/json' -H "origin: $base" \
  -d '{"name":"smoke","scopes":["keys:read","keys:write"]}' "$base/api/tokens" | json '["secret"]')"
secret="sk-proj-smoke-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"provider\":\"openai\",\"name\":\"main\",\"key\":\"$secret\",\"isDefault\":true}" "$base/api/keys" >/dev/null
got="$(curl -fsS -H "authorization: Bearer $token" "$base/api/keys/provider/openai" | json '["key"]')"
[ "$got" = "$secret" ] || { say "fetched key differs"; exit 1; }
say "signed up, stored a key and fetched it with a token"

docker run --rm --network host "$grpcurl_image" -plaintext "$crypto" list | tee /dev/stderr | grep -q cvwallet.crypto.v1.CryptoService
docker run --rm --network host "$grpcurl_image" -plaintext "$crypto" grpc.health.v1.Health/Check | tee /dev/stderr | grep -q SERVING
say "grpcurl list and health against crypto: ok"
say "1 passed, 0 failed"
