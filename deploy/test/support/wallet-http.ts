// A small REST client for the wallet, speaking cv-git's contract with
// fetch: every response's status is recorded so a test can assert that none failed.
export interface Recorded {
  method: string;
  path: string;
  status: number;
  body: string;
}

export class WalletHttp {
  readonly responses: Recorded[] = [];
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  async call<T>(
    method: string,
    path: string,
    init: { bearer?: string; cookie?: string; body?: unknown } = {},
  ): Promise<{ status: number; json: T; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (init.bearer) headers.authorization = `Bearer ${init.bearer}`;
    if (init.cookie) {
      headers.cookie = init.cookie;
      headers.origin = this.base; // the CSRF check: same origin
    }
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await response.text();
    this.responses.push({ method, path, status: response.status, body: response.ok ? "" : text });
    return { status: response.status, json: (text ? JSON.parse(text) : {}) as T, headers: response.headers };
  }
}

/** Signs a user up and returns a bearer token with the given scopes. */
export async function userWithToken(
  http: WalletHttp,
  email: string,
  scopes = ["keys:read", "keys:write"],
): Promise<{ userId: string; token: string }> {
  const password = "correct horse battery staple";
  const signUp = await http.call<{ user: { id: string } }>("POST", "/api/auth/signup", { body: { email, password } });
  if (signUp.status !== 201) throw new Error(`signup ${signUp.status}`);
  const cookie = (signUp.headers.get("set-cookie") ?? "").split(";")[0]!;
  const token = await http.call<{ secret: string }>("POST", "/api/tokens", {
    cookie,
    body: { name: "cv-git", scopes },
  });
  if (token.status !== 201) throw new Error(`token ${token.status}`);
  return { userId: signUp.json.user.id, token: token.json.secret };
}
