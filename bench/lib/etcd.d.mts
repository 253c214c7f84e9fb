// Types of what TypeScript code (test/support) imports from this plain ESM module.
export function etcdHealthy(endpoint: string): Promise<boolean>;
export function untilEtcdHealthy(endpoint: string, o: { timeoutMs: number; stopped: () => boolean }): Promise<'healthy' | 'exited' | 'timeout'>;
