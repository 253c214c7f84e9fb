import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '../../src/core/config.js';

describe('HOST_IPS (the downward API status.hostIPs)', () => {
  it('gives IP and IP6 their first address of each family when they are unset', () => {
    const c = configFromEnv({ HOST_IPS: 'fd00:0::1, 10.0.0.1,10.0.0.2,fd00::2' });
    expect([c.ip, c.ip6]).toEqual(['10.0.0.1', 'fd00::1']);
  });

  it('never overrides IP or IP6 that are given', () => {
    const c = configFromEnv({ IP: '10.0.0.9', IP6: 'fd00::9', HOST_IPS: '10.0.0.1,fd00::1' });
    expect([c.ip, c.ip6]).toEqual(['10.0.0.9', 'fd00::9']);
  });

  it('an IPv4-only host: no IP6', () => {
    expect(configFromEnv({ HOST_IPS: '10.0.0.1' }).ip6).toBeUndefined();
  });

  it('an element that is no address, or no IPv4 at all: a ConfigError naming the variable', () => {
    expect(() => configFromEnv({ HOST_IPS: '10.0.0.1,node-a' })).toThrow(ConfigError);
    expect(() => configFromEnv({ HOST_IPS: '10.0.0.1,node-a' })).toThrow(/HOST_IPS="10.0.0.1,node-a": "node-a" is neither/);
    expect(() => configFromEnv({ HOST_IPS: 'fd00::1' })).toThrow(/IP is required.*HOST_IPS has no IPv4 address/);
    expect(() => configFromEnv({})).toThrow(/^IP is required: the IPv4 address of this route reflector$/);
  });
});

describe('CONFIG_DIR', () => {
  it('defaults to /config and takes any name BIRD\'s configure "FILE" can carry', () => {
    expect(configFromEnv({ IP: '10.0.0.1' }).configDir).toBe('/config');
    expect(configFromEnv({ IP: '10.0.0.1', CONFIG_DIR: '/var/lib/rr config' }).configDir).toBe('/var/lib/rr config');
  });

  it('refuses a name with a quote or a control character: a ConfigError naming the variable', () => {
    for (const dir of ['/a"b', '/a\nb', '/caf\u00e9']) {
      expect(() => configFromEnv({ IP: '10.0.0.1', CONFIG_DIR: dir })).toThrow(ConfigError);
      expect(() => configFromEnv({ IP: '10.0.0.1', CONFIG_DIR: dir })).toThrow(/^invalid CONFIG_DIR=.*configure "FILE" cannot name/);
    }
  });
});
