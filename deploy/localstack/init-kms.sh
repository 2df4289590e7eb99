#!/bin/bash
# LocalStack ready hook (mounted into /etc/localstack/init/ready.d): creates the symmetric
# KMS key the crypto service wraps its data keys with, and the alias it is configured by
# (KMS_KEY_ID=alias/cv-wallet). Idempotent: a restart with the same state keeps the key.
set -euo pipefail
alias_name="${CVW_KMS_ALIAS:-alias/cv-wallet}"
if awslocal kms describe-key --key-id "$alias_name" >/dev/null 2>&1; then
  echo "[init-kms] $alias_name exists"
  exit 0
fi
key_id="$(awslocal kms create-key --description "cv-wallet data key wrapping (LocalStack)" \
  --key-usage ENCRYPT_DECRYPT --key-spec SYMMETRIC_DEFAULT --query KeyMetadata.KeyId --output text)"
awslocal kms create-alias --alias-name "$alias_name" --target-key-id "$key_id"
echo "[init-kms] created $key_id as $alias_name"
