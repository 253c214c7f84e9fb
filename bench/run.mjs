#!/usr/bin/env node
/**
 * `npm run bench`: the issue-6 benchmark. Prints a table, writes JSON to
 * bench/results/. Environment: BENCH_SIZES (default 1000,10000,100000),
 * BENCH_TRIALS, BENCH_BURST, BENCH_BURST_CONCURRENCY, BENCH_CHECK (0 skips
 * the bird -p run), BENCH_CHECK_TRIALS, TOOL_CMD (measure another tool that
 * writes $CONFIG_DIR/bird.cfg), BENCH_NODE_ARGS (e.g. --cpu-prof
 * --cpu-prof-dir=/tmp/prof), BENCH_AGENT_ENV ("DEBOUNCE_MS=20 ..."),
 * BENCH_RESULTS_DIR, BENCH_FABRIC (0 skips the fabric-shaped run), BENCH_FABRIC_N,
 * BENCH_FABRIC_UNRELATED. See bench/README.md.
 */
import { optionsFromEnv, runBench } from './lib.mjs';

const result = await runBench(optionsFromEnv());
process.stdout.write(`\n${result.table}\n`);
if (result.file) process.stdout.write(`\nJSON: ${result.file}\n`);
