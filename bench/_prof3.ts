import { freshPostgres, freshSqlite, noopEngine } from "./harness.js";
const which = process.argv[2] ?? "postgres";
const c = Number(process.argv[3] ?? 24);
const n = Number(process.argv[4] ?? 20000);
const t = which === "sqlite" ? await freshSqlite() : await freshPostgres("postgres://postgres@127.0.0.1:5432/test");
const bench = await noopEngine(t, { concurrency: c, batchSize: Math.max(50, c * 4) });
await bench.jobs.enqueueMany(bench.task, Array.from({ length: n }, (_, i) => ({ n: i })));
import pg from "pg";

const stats = new Map<string, { count: number; ms: number }>();
const orig = (pg.Client.prototype as any).query;
(pg.Client.prototype as any).query = function (this: any, text: any, ...rest: any[]) {
  const t0 = performance.now();
  const key = String(typeof text === "string" ? text : text?.text ?? "?").replace(/\s+/g, " ").slice(0, 70);
  const result = orig.call(this, text, ...rest);
  if (result && typeof result.then === "function") {
    result.then(() => { const s = stats.get(key) ?? { count: 0, ms: 0 }; s.count++; s.ms += performance.now() - t0; stats.set(key, s); }, () => {});
  }
  return result;
};
const started = performance.now();
const r = await bench.jobs.drain({ budgetMs: 600000, concurrency: c, trigger: "cli" });
const secs = (performance.now() - started) / 1000;
console.log(which, c, r.counts.succeeded, Math.round(n / secs), "jobs/s", "wall ms", Math.round(secs * 1000));
for (const [k, v] of stats) console.log(v.count, Math.round(v.ms), "ms", k);
await bench.close(); await t.drop();
