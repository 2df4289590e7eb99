import { describe, expect, test } from "vitest";
import { identityHeaders, normaliseRemote } from "./identity.ts";

describe("normaliseRemote", () => {
  test.each([
    ["https://github.com/acme/app.git", "github.com/acme/app"],
    ["https://user:s3cret@GitHub.com/acme/app.git/", "github.com/acme/app"],
    ["https://x-access-token:ghp_abc@github.com/acme/app", "github.com/acme/app"],
    ["git@github.com:acme/app.git", "github.com/acme/app"],
    ["ssh://git@gitlab.example.com:2222/group/sub/app.git", "gitlab.example.com/group/sub/app"],
    ["deploy:pw@host.example:team/app", "host.example/team/app"],
  ])("%s → %s", (remote, expected) => {
    expect(normaliseRemote(remote)).toBe(expected);
  });

  test.each(["", "/srv/git/app.git", "file:///srv/git/app.git", "../app", "C:\\repos\\app"])(
    "%s names nothing another machine could find",
    (remote) => {
      expect(normaliseRemote(remote)).toBeUndefined();
    },
  );
});

test("headers stay printable ASCII and omit the repository outside a work tree", () => {
  const h = identityHeaders({ clientName: "cv-git", clientVersion: "2.1.0", host: "lâptop\n", repository: undefined });
  expect(h["cvw-client"]).toBe("cv-git/2.1.0");
  expect(h["cvw-host"]).toBe("l%C3%A2ptop%0A");
  expect(h).not.toHaveProperty("cvw-repository");
});
