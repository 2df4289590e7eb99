"""A cv-wallet client in Python, on code generated from the compiled contracts
(proto/README.md, "Generating a client"): lists the providers, then fetches a key the way
cv-git does, over the wallet's gRPC listener (WALLET_GRPC_ADDR).

    CVW_GRPC_ADDR=127.0.0.1:8081 CVW_TOKEN=cvw_... python client.py openai

The token comes from the environment, never from the command line (which `ps` shows).
"""

import json
import os
import sys

import grpc

from cvwallet.wallet.v1 import catalog_pb2, wallet_pb2, wallet_pb2_grpc


def provider_env_vars(provider_id: str) -> list[str]:
    """The conventional variables of a provider, read from the contract's catalog options."""
    for value in catalog_pb2.ProviderKind.DESCRIPTOR.values:
        options = value.GetOptions()
        if options.Extensions[catalog_pb2.string_id] == provider_id:
            return list(options.Extensions[catalog_pb2.provider_facts].env_vars)
    raise KeyError(provider_id)


def main() -> int:
    token = os.environ.get("CVW_TOKEN")
    if not token:
        print("set CVW_TOKEN to an access token with the keys:read scope", file=sys.stderr)
        return 2
    provider = sys.argv[1] if len(sys.argv) > 1 else "openai"
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(os.environ.get("CVW_GRPC_ADDR", "127.0.0.1:8081")) as channel:
        wallet = wallet_pb2_grpc.WalletServiceStub(channel)
        providers = wallet.ListProviders(wallet_pb2.ListProvidersRequest(), metadata=metadata, timeout=10)
        got = wallet.GetProviderKey(
            wallet_pb2.GetProviderKeyRequest(provider=provider), metadata=metadata, timeout=10
        )
    # For the test that runs this file: the provider ids, the variables, and the key itself.
    print(
        json.dumps(
            {
                "providers": [p.id for p in providers.providers],
                "envVars": provider_env_vars(provider),
                "key": got.key,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
