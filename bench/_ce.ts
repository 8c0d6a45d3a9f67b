import { freshPostgres, noopEngine } from "./harness.js";
import pg from "pg";
const t = await freshPostgres("postgres://postgres@127.0.0.1:5432/test");
const bench = await noopEngine(t, {});
await bench.jobs.enqueueMany(bench.task, Array.from({ length: 20000 }, (_, i) => ({ n: i })));
const c = new pg.Client({ connectionString: t.url }); await c.connect();
const q = (now: number) => `explain (analyze, buffers) with expired as (select id, started_at, locked_by from jobs where status = 'running' and locked_until < ${now} order by locked_until limit 96 for update skip locked), due as (select id from jobs where status in ('queued', 'failed') and run_at <= ${now} order by priority desc, run_at, id limit 96 for update skip locked), picked as (select id from expired union all select id from due limit 96) update jobs set status = 'running', attempts = jobs.attempts + 1, locked_by = 'w', locked_until = ${now + 60000}, started_at = ${now}, updated_at = ${now} where jobs.id = any(array(select id from picked)) returning jobs.*, case when jobs.id = any(array(select id from expired)) then 'running' else 'queued' end as previous_status, (select e.started_at from expired e where e.id = jobs.id) as previous_started_at`;
for (let i = 0; i < 60; i++) {
  const t0 = performance.now();
  const r = await c.query(q(Date.now()));
  if (i % 20 === 0 || i === 59) { console.log(i, (performance.now() - t0).toFixed(1), "ms"); console.log(r.rows.map((x: any) => x["QUERY PLAN"]).join("\n")); }
}
await c.end(); await bench.close(); await t.drop();
