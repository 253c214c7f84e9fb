#!/usr/bin/env node
// `npm run build`, after tsc: the compiled agent (dist/src) bundled into
// dist/app, the command everything runs (`routereflector`, the image, the
// tests, the bench). Node then reads ~30 files instead of ~380 modules
// (223 of them RxJS's): measured at a start, ~100 ms and ~7 MiB
// less (README, "Issue 16's targets"). Code splitting keeps the commands'
// import()s lazy: `--help` still loads only what it uses.
//
// etcd3 stays in node_modules: the agent loads it with createRequire on the
// first etcd ask (effects/etcd-client.ts), and it reads its .proto files
// from its own directory at load.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'app');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'dist', 'src', 'main.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['etcd3'],
  // RxJS's package exports name its CommonJS build first for Node; its ES module build instead, for
  // import('rxjs') (a split chunk of CommonJS would export only `default`) and for tree shaking.
  alias: { rxjs: './node_modules/rxjs/dist/esm/index.js' },
  absWorkingDir: root,
  // CommonJS dependencies (nunjucks, prom-client, tslog's helpers) call require(); an ES module has none.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
