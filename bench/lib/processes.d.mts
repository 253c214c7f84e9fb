// Types of what TypeScript code (test/support) imports from this plain ESM module.
/** A free TCP port on loopback: bind port 0, read it, release it. */
export function freePort(): Promise<number>;
