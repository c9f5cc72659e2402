/** Transaction policy: documents, evaluation, approvals, signed versions and the operator registry. */
export * from './amount.js';
export * from './approvals.js';
export * from './chain-intent.js';
export * from './cosigner.js';
export * from './document.js';
export * from './evaluate.js';
export * from './intent.js';
export * from './jws-verifier.js';
export * from './keys.js';
export * from './registry.js';
export * from './schema.js';
export * from './sign-request.js';
export * from './signed-document.js';
export * from './statements.js';
export * from './velocity.js';
export * from './versions.js';
