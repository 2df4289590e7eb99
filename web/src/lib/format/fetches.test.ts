import { create } from "@bufbuild/protobuf";
import { AuditActorSchema, KeyFetchSchema } from "@cv-wallet/proto/wallet/v1";
import { describe, expect, it } from "vitest";
import { fetchedBy } from "./fetches.ts";

const fetch = (over: Partial<{ kind: string; client: string; host: string; actor: { type: string; name: string } }>) =>
  create(KeyFetchSchema, {
    kind: "retrieved",
    ...over,
    actor: create(AuditActorSchema, over.actor ?? { type: "token", name: "ci" }),
  });

describe("fetchedBy", () => {
  it("names the tool without its version, on its host", () => {
    expect(fetchedBy(fetch({ client: "cv-git/2.3.0", host: "laptop" }))).toBe("cv-git on laptop");
    expect(fetchedBy(fetch({ client: "cvw/0.1.0" }))).toBe("cvw");
  });

  it("falls back to the token's name when the tool did not say who it is", () => {
    expect(fetchedBy(fetch({ client: "", host: "" }))).toBe("token “ci”");
    expect(fetchedBy(fetch({ client: "", host: "build-7" }))).toBe("token “ci” on build-7");
  });

  it("says when the owner revealed the key in the browser", () => {
    expect(fetchedBy(fetch({ kind: "revealed", actor: { type: "session", name: "me@example.com" } }))).toBe(
      "Revealed in the browser by me@example.com",
    );
  });
});
