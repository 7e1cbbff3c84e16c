export { default as authPlugin, type Auth, type AuthOptions, type SessionLifecycleSource, type SessionOwnerOptions } from './plugin.js';
export { SessionOwners, type OwnerCheck } from './session-owners.js';
export { bearerToken, redactUrl, requestToken, selectWsProtocol, WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX } from './credentials.js';
export { originAllowed, type OriginPolicy } from './origin.js';
export { SecretSet, newToken } from './tokens.js';
