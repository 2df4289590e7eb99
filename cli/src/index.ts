// The library: `import { createWalletClient } from "cv-wallet"`.
export type {
  AccessToken,
  ApiKey,
  GetCurrentUserResponse,
  KeyValidation,
  Provider,
} from "@cv-wallet/proto/wallet/v1";
export {
  createWalletClient,
  DEFAULT_URL,
  resolveToken,
  resolveUrl,
  type TokenSource,
  type WalletClient,
  type WalletClientOptions,
} from "./client.ts";
export { type CredentialOptions, credentialsPath, forgetToken, readToken, saveToken } from "./credentials.ts";
export {
  type DeviceAuthorization,
  DeviceFlowNotServedError,
  DeviceSignInError,
  type DeviceToken,
  pollForToken,
  requestDeviceCode,
} from "./device.ts";
export {
  InsecureCredentialsError,
  InvalidArgumentError,
  NotFoundError,
  NotSignedInError,
  PermissionDeniedError,
  RateLimitedError,
  UnavailableError,
  UnreachableError,
  WalletError,
  type WalletErrorKind,
} from "./errors.ts";
export { normaliseRemote } from "./identity.ts";
export { variablesFor } from "./variables.ts";
export { VERSION } from "./version.ts";
