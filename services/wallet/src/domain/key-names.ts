// How wallet records map onto the crypto service's names, in one place: the tenant key of a
// user, and the associated data that binds a ciphertext to its record and field. The crypto
// client and the re-wrap command both use these; a ciphertext moved to another record or
// field fails to decrypt.
export const TENANT_KEY_PREFIX = "user/";

/** The crypto service's key name for a user's tenant key. */
export const tenantKeyName = (userId: string): string => `${TENANT_KEY_PREFIX}${userId}`;

/** The user id of a tenant key name, or undefined for a key that is not a wallet tenant's. */
export const userIdOfTenantKey = (keyName: string): string | undefined =>
  keyName.startsWith(TENANT_KEY_PREFIX) ? keyName.slice(TENANT_KEY_PREFIX.length) : undefined;

/** The field that holds a key record's secret. */
export const KEY_FIELD = "key";

/** The encryption context of a record's field: `<record id>/<field>`. */
export const encryptionContext = (recordId: string, field: string): Buffer => Buffer.from(`${recordId}/${field}`);

export const TEAM_KEY_PREFIX = "team/";

/** The crypto service's key name for a team's key: team keys are encrypted under it, never a person's. */
export const teamKeyName = (teamId: string): string => `${TEAM_KEY_PREFIX}${teamId}`;

/** The team id of a team key name, or undefined. */
export const teamIdOfTeamKey = (keyName: string): string | undefined =>
  keyName.startsWith(TEAM_KEY_PREFIX) ? keyName.slice(TEAM_KEY_PREFIX.length) : undefined;

/** The key a record's secret is encrypted under: its team's, or its owner's tenant key. */
export const keyNameOf = (record: { userId: string; teamId?: string | undefined }): string =>
  record.teamId !== undefined ? teamKeyName(record.teamId) : tenantKeyName(record.userId);

/** The field that holds a reminder webhook's URL (its path is a secret, as Slack's is). */
export const WEBHOOK_FIELD = "webhook_url";
