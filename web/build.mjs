// Bundles the viewers, the sign-in page, the dashboard, the file manager, the admin pages, the classroom and
// the error page into broker/static/app/ (served by Flask at /static/app/…).
// Usage: node build.mjs [outdir]. The output folder is emptied first, so no stale chunk
// survives, and the same sources always give byte-identical files.
import { rmSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = resolve(process.argv[2] ?? resolve(here, "../broker/static/app"));

const started = performance.now();
rmSync(outdir, { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: here,
  entryPoints: ["src/viewer-guacamole.js", "src/viewer-novnc.js", "src/viewer-start.js", "src/viewer.css", "src/dashboard.js", "src/files.js",
    "src/app.css", "src/signin.js", "src/branding.js", "src/classroom.js", "src/admin.js", "src/error.js",
    "src/load-guard.js"], // load-guard.js: a classic script (no imports), so it runs when modules cannot
  outdir,
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true, // the page, session, i18n … code shared by both viewers is one chunk
  format: "esm",
  target: "es2022", // noVNC uses top-level await
  minify: true,
  sourcemap: "linked",
  metafile: true,
  logLevel: "warning",
});

for (const [file, { bytes }] of Object.entries(metafile.outputs)) {
  if (file.endsWith(".map")) continue;
  console.log(`${relative(here, resolve(here, file)).padEnd(56)} ${(bytes / 1024).toFixed(1).padStart(7)} KiB`);
}
console.log(`built in ${Math.round(performance.now() - started)} ms`);
