// The constant-time secret comparison lives below the front and the admin listeners (src/secret.ts).
export { secretMatches } from '../secret.ts';
