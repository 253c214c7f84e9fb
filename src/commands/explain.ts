/**
 * `routereflector explain ADDR`: why a neighbour is or is not in this route
 * reflector's plan, from one etcd snapshot folded like the agent folds it.
 */
import { withPasswordFiles } from '../effects/password-files.js';
import { configFromEnv, PREFIX } from '../core/config.js';
import { explainAddress, parseAnyAddress } from '../core/explain.js';
import { selfOf } from '../core/plan.js';
import { parse, readSnapshot, UsageError, withEtcd, type Command } from './common.js';

const USAGE = `usage: routereflector explain ADDR [--json]

Why ADDR (IPv4 or IPv6) is or is not a BGP neighbour of this route reflector
(IP, IP6): the keys that mention it, the rule that made the session or the
reason there is none, and the values that failed validation. Reads one
snapshot of etcd and folds it exactly as the agent does.

exit codes: 0 ADDR is in the plan, 3 it is not, 1 etcd failure, 2 bad usage`;

export const explainCommand: Command = {
  name: 'explain',
  summary: 'explain ADDR [--json]: why a neighbour is or is not configured',
  usage: USAGE,
  async run(args, env) {
    const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } }, true);
    if (positionals.length !== 1) throw new UsageError(`explain: one address expected\n${USAGE}`);
    const raw = positionals[0] ?? '';
    const a = parseAnyAddress(raw);
    if (!a) throw new UsageError(`${JSON.stringify(raw)} is not a usable IPv4 or IPv6 address`);
    const cfg = withPasswordFiles(configFromEnv(env));
    const { state } = await withEtcd(cfg.etcd, (client) => readSnapshot(client, cfg.etcd.endpoints, cfg.nodeName));
    const self = selfOf(cfg);
    const e = explainAddress(state, PREFIX, self, a.family, a.address);
    if (values.json) {
      process.stdout.write(JSON.stringify({ revision: state.revision, ...e }, null, 2) + '\n');
    } else {
      const me = a.family === 'v4' ? cfg.ip : (cfg.ip6 ?? 'IP6 unset');
      const out = [
        `${e.address} (${e.family}) ${e.inPlan ? `IS a neighbour of this RR (${me}): ${e.session?.name ?? ''}` : `is NOT a neighbour of this RR (${me})`}`,
        `  ${e.inPlan ? 'rule' : 'why'}: ${e.rule}`,
        ...e.details.map((d) => `  - ${d}`),
        `keys that mention it (etcd revision ${state.revision}):`,
        ...(e.keys.length === 0 ? ['  none'] : e.keys.map((k) => `  ${k.key} = ${k.value}\n      ${k.role}${k.valid ? '' : `; INVALID: ${k.reason ?? ''}`}`)),
      ];
      process.stdout.write(out.join('\n') + '\n');
    }
    return e.inPlan ? 0 : 3;
  },
};
