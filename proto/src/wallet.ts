// cvwallet.wallet.v1 in one import: the service and every message it uses.
export * from "../gen/cvwallet/wallet/v1/account_pb.js";
export * from "../gen/cvwallet/wallet/v1/audit_pb.js";
export * from "../gen/cvwallet/wallet/v1/catalog_pb.js";
export * from "../gen/cvwallet/wallet/v1/clients_pb.js";
export * from "../gen/cvwallet/wallet/v1/device_pb.js";
export * from "../gen/cvwallet/wallet/v1/key_pb.js";
export * from "../gen/cvwallet/wallet/v1/notification_pb.js";
export * from "../gen/cvwallet/wallet/v1/provider_pb.js";
export * from "../gen/cvwallet/wallet/v1/session_pb.js";
export * from "../gen/cvwallet/wallet/v1/team_pb.js";
export * from "../gen/cvwallet/wallet/v1/token_pb.js";
export * from "../gen/cvwallet/wallet/v1/wallet_pb.js";
