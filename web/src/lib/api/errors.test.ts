import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { errorField, errorMessage, humanizeInvalid, isUnauthenticated } from "./errors.ts";

describe("humanizeInvalid", () => {
  it("turns protovalidate violations into form language", () => {
    expect(
      humanizeInvalid("validation error:\n - password: value length must be at least 12 characters [string.min_len]"),
    ).toBe("Password: value length must be at least 12 characters.");
  });
  it("labels repeated fields and joins several violations", () => {
    expect(
      humanizeInvalid(
        "validation error:\n - scopes[0]: value must be in list [keys:read] [string.in]\n - name: value is required [required]",
      ),
    ).toBe("Scopes: value must be in list [keys:read]. Name: value is required.");
  });
  it("passes plain messages through as a sentence", () => {
    expect(humanizeInvalid("base URL must be https")).toBe("Base URL must be https.");
  });
});

describe("errorMessage", () => {
  it("uses the page's words first", () => {
    const err = new ConnectError("bad credentials", Code.Unauthenticated);
    expect(errorMessage(err, { [Code.Unauthenticated]: "Wrong email or password." })).toBe("Wrong email or password.");
  });
  it("explains each code without leaking internals", () => {
    expect(errorMessage(new ConnectError("x", Code.Unavailable))).toMatch(/cannot be reached/);
    expect(errorMessage(new ConnectError("stack trace here", Code.Internal))).toBe(
      "Something went wrong in the wallet. Try again in a moment.",
    );
    expect(errorMessage(new ConnectError("", Code.NotFound))).toMatch(/no longer exists/);
    expect(errorMessage(new ConnectError("", Code.ResourceExhausted))).toMatch(/Too many requests/);
  });
  it("reads validation errors", () => {
    const err = new ConnectError(
      "validation error:\n - email: value must be a valid email address [string.email]",
      Code.InvalidArgument,
    );
    expect(errorMessage(err)).toBe("Email: value must be a valid email address.");
  });
  it("tells a failed fetch (offline, wallet down) from a wallet error", () => {
    expect(errorMessage(new TypeError("Failed to fetch"))).toMatch(/cannot be reached/);
    expect(errorMessage(new Error("boom"))).toBe("Something went wrong in the wallet. Try again in a moment.");
  });
  it("spots an ended session", () => {
    expect(isUnauthenticated(new ConnectError("", Code.Unauthenticated))).toBe(true);
    expect(isUnauthenticated(new Error("x"))).toBe(false);
  });
});

describe("errorField", () => {
  it("names the field an invalid-argument error is about", () => {
    expect(
      errorField(
        new ConnectError(
          "validation error:\n - key: value does not match regex [string.pattern]",
          Code.InvalidArgument,
        ),
      ),
    ).toBe("key");
    expect(
      errorField(new ConnectError("base_url: a custom provider key needs an https base URL", Code.InvalidArgument)),
    ).toBe("base_url");
    expect(errorField(new ConnectError("base URL refused: only https URLs are allowed", Code.InvalidArgument))).toBe(
      "base_url",
    );
    expect(errorField(new ConnectError("a key with this name exists", Code.AlreadyExists))).toBe("name");
    expect(errorField(new ConnectError("x", Code.Unavailable))).toBeUndefined();
  });
});
