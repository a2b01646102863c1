import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * XSTATE=lowest runs the tests against the lowest xstate the peer dependency claims (5.20, the
 * `xstate-5.20` dev dependency) instead of the newest: `XSTATE=lowest npm run test:unit`.
 */
const lowest = process.env.XSTATE === 'lowest';

export default defineConfig({
  // A mutation run's sandbox (npm run test:mutation) holds a copy of every test.
  test: { exclude: [...configDefaults.exclude, '**/.stryker-tmp/**', 'reports/**'] },
  resolve: lowest ? { alias: [{ find: /^xstate$/, replacement: fileURLToPath(new URL('./node_modules/xstate-5.20/dist/xstate.esm.js', import.meta.url)) }] } : {},
});
