import { AppError } from "@cv-wallet/common/errors";

/** The already_exists error a lost uniqueness race turns into; the message names no value. */
export function duplicate(what: string, cause?: unknown): AppError {
  return new AppError("already_exists", what, { cause });
}

/** Message for each uniqueness rule, shared by both adapters. */
export const DUPLICATE = {
  email: "an account with this email already exists",
  keyName: "a key with this provider and name already exists",
  keyDefault: "another key became this provider's default at the same time; try again",
  token: "a token with this hash already exists",
  id: "a record with this id already exists",
  deviceCode: "a device request with this code already exists",
} as const;
