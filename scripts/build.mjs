// `npm run build`: bundles the service (dist/main.js) and the command line
// (dist/cli/davus.js) into one file each with esbuild. One file loads several times
// faster than the hundreds of modules of Kysely, zod and Hono it replaces, which is most of
// a cold start. Type checking is `npm run typecheck`; this step only translates and joins.
//
// Left outside the bundles, and loaded from node_modules when first used:
// - better-sqlite3, a native addon that finds its compiled library by path;
// - pg and nodemailer, which the code loads lazily with require (only PostgreSQL users
//   need the one, only SMTP users the other), so bundling them would load them always.
import { rmSync } from "node:fs";
import { build } from "esbuild";

const plain = Boolean(process.env.DAVUS_BUILD_PLAIN);

rmSync("dist", { recursive: true, force: true });

await build({
  entryPoints: { main: "src/main.ts", "cli/davus": "src/cli/davus.ts" },
  outdir: "dist",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "pg", "nodemailer"],
  // The bundled CommonJS packages (pino and its helpers) call require for Node's own
  // modules; an ES module has no require until it makes one.
  banner: {
    js: 'import { createRequire as createRequireForBundle } from "node:module";\nconst require = createRequireForBundle(import.meta.url);',
  },
  sourcemap: true,
  legalComments: "none",
  // Smaller to parse; names are kept, so stack traces still name the functions, and the
  // source maps lead back to the TypeScript. DAVUS_BUILD_PLAIN=1 leaves the code readable,
  // for reading a CPU profile.
  minifyWhitespace: !plain,
  minifySyntax: !plain,
  logLevel: "warning",
});
