/**
 * Bundles the dashboard page (src/dashboard/ui) into one directory the server can serve as is:
 *
 *   index.html   the page
 *   app.js       the page's code, one minified ES module
 *   app.css      its stylesheet, minified
 *
 * No CDN, no web fonts, no source maps: the page works offline. Run it with
 * `tsx src/dashboard/build.ts [outDir]` (default dist/dashboard), or call buildDashboard().
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export interface DashboardBuild {
  outDir: string;
  /** Bytes per written file. */
  files: Record<'index.html' | 'app.js' | 'app.css', number>;
}

/** The repository root: the nearest folder above this file with a package.json. */
async function findRoot(from: string): Promise<string> {
  let dir = from;
  for (;;) {
    try {
      await stat(join(dir, 'package.json'));
      return dir;
    } catch {
      const parent = dirname(dir);
      if (parent === dir) throw new Error(`buildDashboard: no package.json above ${from}`);
      dir = parent;
    }
  }
}

export async function buildDashboard(outDir?: string): Promise<DashboardBuild> {
  // Found from the root, so this also works when run from a compiled copy under dist/.
  const root = await findRoot(dirname(fileURLToPath(import.meta.url)));
  const ui = join(root, 'src', 'dashboard', 'ui');
  const out = resolve(outDir ?? join(root, 'dist', 'dashboard'));
  await mkdir(out, { recursive: true });
  const common = { bundle: true, minify: true, sourcemap: false, write: false, logLevel: 'silent', legalComments: 'none' } as const;
  const [js, css] = await Promise.all([
    build({
      ...common,
      entryPoints: [join(ui, 'main.ts')],
      format: 'esm',
      platform: 'browser',
      target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
      tsconfig: join(ui, 'tsconfig.json'),
      outfile: join(out, 'app.js'),
    }),
    build({
      ...common,
      entryPoints: [join(ui, 'app.css')],
      target: ['chrome110', 'firefox115', 'safari16'],
      outfile: join(out, 'app.css'),
    }),
  ]);
  const jsText = single(js.outputFiles, 'app.js');
  const cssText = single(css.outputFiles, 'app.css');
  const html = (await readFile(join(ui, 'index.html'), 'utf8')).replace(/\n\s*/g, '\n').trim();
  await Promise.all([writeFile(join(out, 'app.js'), jsText), writeFile(join(out, 'app.css'), cssText), writeFile(join(out, 'index.html'), `${html}\n`)]);
  return { outDir: out, files: { 'index.html': Buffer.byteLength(html) + 1, 'app.js': Buffer.byteLength(jsText), 'app.css': Buffer.byteLength(cssText) } };
}

function single(files: { path: string; text: string }[] | undefined, name: string): string {
  const file = files?.find((f) => f.path.endsWith(name));
  if (file === undefined) throw new Error(`buildDashboard: esbuild produced no ${name}`);
  return file.text;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  buildDashboard(process.argv[2])
    .then(({ outDir, files }) => {
      const list = Object.entries(files).map(([name, bytes]) => `  ${name.padEnd(11)} ${(bytes / 1024).toFixed(1).padStart(6)} KiB`);
      console.log(`dashboard built into ${outDir}\n${list.join('\n')}`);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    });
}
