// How to use a new access token: the exact lines shown once, beside the token.

/** `curl -H "Authorization: Bearer cvw_…" https://wallet.example/api/keys/provider/openai` */
export function curlLine(origin: string, secret: string, provider: string): string {
  return `curl -H "Authorization: Bearer ${secret}" ${origin}/api/keys/provider/${provider}`;
}

/** An environment variable set from the wallet, e.g. for tools that read OPENAI_API_KEY. */
export function envLine(origin: string, secret: string, provider: string, envVar: string): string {
  return `export ${envVar}="$(curl -fsS -H "Authorization: Bearer ${secret}" ${origin}/api/keys/provider/${provider} | jq -r .key)"`;
}
