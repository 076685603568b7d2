/** The store interface lives with the domain that owns it (src/core/ports.ts); adapters may import it from here. */
export * from '../core/ports.js';
