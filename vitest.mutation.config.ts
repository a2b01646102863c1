import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests Stryker runs against each mutant of src/core/ and machines/ (npm run test:mutation):
 * the rules' unit tests (src/core/json.ts's among them), the machine's properties, reply rules, timers and membership, and the
 * protocol suites — about 7 s of tests, each mutant running only those that reach its code. The
 * model-based walk and the simulator (minutes, and reaching every line) stay out: Stryker runs
 * the covering tests once per mutant.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['test/unit/core-*.test.ts', 'test/unit/machine-*.test.ts', 'test/unit/protocol*.test.ts', 'test/unit/json-commands.test.ts'],
      testTimeout: 120_000,
    },
  }),
);
