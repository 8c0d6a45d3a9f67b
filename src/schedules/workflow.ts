import { Cron } from "croner";
import type { Schedule } from "./schedule.js";

/**
 * `davus workflow generate`: a GitHub Actions workflow per schedule. GitHub reads crons in
 * UTC and starts runs late under load (sometimes by an hour or more), so each trigger is set
 * a few minutes after its slot, away from the top of the hour, and never before the slot:
 * where the zone has daylight saving, the later of its two UTC times is used, and the
 * generator warns of the hours the trigger then comes after the slot.
 */

export interface GeneratedWorkflow {
  schedule: string;
  file: string;
  content: string;
  utcCrons: string[];
  warnings: string[];
  runsPerMonth: number;
}

export interface WorkflowOptions {
  /** The tick's time budget, in seconds. */
  budgetSeconds: number;
}

/** Minutes after the slot the trigger is set for: off the top of the hour, where GitHub is busiest. */
const TRIGGER_DELAY_MINUTES = 7;
/** Every figure is computed over one whole year, so the output does not change with the date. */
const REFERENCE_YEAR = 2026;
const DAY = 1_440;

interface TriggerTime {
  /** Minutes after midnight UTC. */
  minuteOfDay: number;
  dows: Set<number>;
  doms: Set<number>;
  months: Set<number>;
  /** Extra delay some slots get (daylight saving), in minutes, with the dates it applies. */
  extraDelays: Map<number, { from: string; to: string }>;
}

export function generateWorkflows(
  schedules: Schedule[],
  options: WorkflowOptions,
): GeneratedWorkflow[] {
  return schedules.map((schedule) => generateWorkflow(schedule, options));
}

function generateWorkflow(schedule: Schedule, options: WorkflowOptions): GeneratedWorkflow {
  const { crons, warnings } = utcTriggers(schedule);
  const content = renderWorkflow(schedule, crons, options);
  return {
    schedule: schedule.name,
    file: `${schedule.workflow}.yml`,
    content,
    utcCrons: crons,
    warnings,
    runsPerMonth: countRuns(crons) / 12,
  };
}

/** The UTC crons that trigger `schedule` a few minutes after each of its slots. */
export function utcTriggers(schedule: Schedule): {
  crons: string[];
  warnings: string[];
  triggersPerYear: number;
} {
  const [minuteField, hourField] = schedule.cron.trim().split(/\s+/);
  const start = Date.UTC(REFERENCE_YEAR, 0, 1);
  const end = Date.UTC(REFERENCE_YEAR + 1, 0, 1);

  // More often than hourly: one trigger an hour drains it; the timer does the rest while awake.
  if (
    hourField === "*" ||
    hourField?.includes("/") ||
    minuteField?.includes("/") ||
    minuteField === "*"
  ) {
    const crons = [`${TRIGGER_DELAY_MINUTES} * * * *`];
    return {
      crons,
      warnings: [
        `${schedule.name} fires more than once an hour; the workflow triggers hourly, and slots between triggers run while the service is awake (its timer) or are caught up by the next trigger (catch-up: ${schedule.catchUp}).`,
      ],
      triggersPerYear: 365 * 24,
    };
  }

  const cron = new Cron(schedule.cron, { timezone: schedule.timezone, paused: true });
  const slots: number[] = [];
  for (let cursor = start - 1; ; ) {
    const next = cron.nextRun(new Date(cursor))?.getTime();
    if (next === undefined || next >= end) break;
    slots.push(next);
    cursor = next;
  }

  // Group slots by their local wall-clock time; each group gets the latest UTC time it needs.
  const groups = new Map<number, { slot: number; offset: number }[]>();
  for (const slot of slots) {
    const offset = utcOffsetMinutes(slot, schedule.timezone);
    const wall = (((Math.floor(slot / 60_000) + offset) % DAY) + DAY) % DAY;
    const group = groups.get(wall) ?? [];
    group.push({ slot, offset });
    groups.set(wall, group);
  }

  const times: TriggerTime[] = [];
  const warnings: string[] = [];
  for (const [wall, group] of groups) {
    const smallestOffset = Math.min(...group.map((g) => g.offset));
    const time: TriggerTime = {
      minuteOfDay: (((wall - smallestOffset + TRIGGER_DELAY_MINUTES) % DAY) + DAY) % DAY,
      dows: new Set(),
      doms: new Set(),
      months: new Set(),
      extraDelays: new Map(),
    };
    for (const { slot, offset } of group) {
      const extra = offset - smallestOffset;
      const trigger = new Date(slot + (extra + TRIGGER_DELAY_MINUTES) * 60_000);
      time.dows.add(trigger.getUTCDay());
      time.doms.add(trigger.getUTCDate());
      time.months.add(trigger.getUTCMonth() + 1);
      if (extra > 0) {
        const day = new Date(slot).toISOString().slice(0, 10);
        const span = time.extraDelays.get(extra);
        time.extraDelays.set(extra, { from: span?.from ?? day, to: day });
      }
    }
    for (const [extra, span] of time.extraDelays) {
      warnings.push(
        `${schedule.timezone} has daylight saving: from ${span.from} to ${span.to} (dates of ${REFERENCE_YEAR}) the trigger for the ${formatWall(wall)} slot comes ${formatMinutes(extra + TRIGGER_DELAY_MINUTES)} after it instead of ${TRIGGER_DELAY_MINUTES} min, since GitHub's cron runs in UTC.`,
      );
    }
    times.push(time);
  }

  // One cron line per distinct day pattern, hours that share a minute folded together.
  const domField = schedule.cron.trim().split(/\s+/)[2];
  const lines = new Map<string, { minute: number; hours: Set<number>; days: string }>();
  for (const time of times) {
    const days = [
      domField === "*" ? "*" : listField(time.doms, 31),
      listField(time.months, 12),
      domField === "*" ? listField(time.dows, 7) : "*",
    ].join(" ");
    const minute = time.minuteOfDay % 60;
    const key = `${minute} ${days}`;
    const line = lines.get(key) ?? { minute, hours: new Set<number>(), days };
    line.hours.add(Math.floor(time.minuteOfDay / 60));
    lines.set(key, line);
  }
  const crons = [...lines.values()]
    .map((line) => `${line.minute} ${[...line.hours].sort((a, b) => a - b).join(",")} ${line.days}`)
    .sort();
  return { crons, warnings, triggersPerYear: slots.length };
}

/** How many times the UTC `crons` fire in the reference year (two crons firing at once: one). */
function countRuns(crons: string[]): number {
  const start = Date.UTC(REFERENCE_YEAR, 0, 1);
  const end = Date.UTC(REFERENCE_YEAR + 1, 0, 1);
  const instants = new Set<number>();
  for (const expression of crons) {
    const cron = new Cron(expression, { timezone: "UTC", paused: true });
    for (let cursor = start - 1; ; ) {
      const next = cron.nextRun(new Date(cursor))?.getTime();
      if (next === undefined || next >= end) break;
      instants.add(next);
      cursor = next;
    }
  }
  return instants.size;
}

/** The zone's offset from UTC at `time`, in minutes (São Paulo: -180). */
export function utcOffsetMinutes(time: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
  }).formatToParts(time);
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
  return Math.round((wall - Math.floor(time / 60_000) * 60_000) / 60_000);
}

/** A cron field for the values in `set`: `*` when it holds all `size` of them. */
function listField(set: Set<number>, size: number): string {
  if (set.size >= size) return "*";
  const values = [...set].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && (values[j + 1] as number) === (values[j] as number) + 1) j++;
    ranges.push(j - i >= 2 ? `${values[i]}-${values[j]}` : values.slice(i, j + 1).join(","));
    i = j + 1;
  }
  return ranges.join(",");
}

function formatWall(minuteOfDay: number): string {
  return `${String(Math.floor(minuteOfDay / 60)).padStart(2, "0")}:${String(minuteOfDay % 60).padStart(2, "0")}`;
}

function formatMinutes(minutes: number): string {
  return minutes >= 60
    ? `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`
    : `${minutes} min`;
}

function renderWorkflow(schedule: Schedule, crons: string[], options: WorkflowOptions): string {
  const budget = options.budgetSeconds;
  return `# Generated by \`davus workflow generate\` from the schedule ${schedule.name}
# (${schedule.cron} in ${schedule.timezone}). Do not edit: change the schedule in the code and
# generate again; a test fails when this file and the schedules disagree.
#
# Set up in the repository's Settings > Secrets and variables > Actions:
#   variable DAVUS_URL            the service's base URL, such as https://davus.onrender.com
#   secret   DAVUS_CRON_API_KEY   one of the keys in the service's CRON_API_KEY(S)
name: "Davus: ${schedule.name}"

on:
  schedule:
${crons.map((cron) => `    - cron: "${cron}"`).join("\n")}
  workflow_dispatch:

permissions: {}

# One tick at a time for the whole repository: runs wait for each other, none is cancelled.
concurrency:
  group: davus-tick
  cancel-in-progress: false

jobs:
  tick:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - name: Wake the service
        env:
          DAVUS_URL: \${{ vars.DAVUS_URL }}
        run: |
          # A sleeping free instance takes about a minute to wake; try for a few minutes.
          base="\${DAVUS_URL%/}"
          for attempt in 1 2 3 4 5 6; do
            status=$(curl --silent --output /dev/null --write-out '%{http_code}' \\
              --max-time 100 "$base/health/" || true)
            echo "attempt $attempt: /health/ answered \${status:-nothing}"
            if [ "$status" = "200" ]; then exit 0; fi
            sleep "\${DAVUS_WAKE_PAUSE:-10}"
          done
          echo "::error::the service did not answer healthy after 6 attempts"
          exit 1

      - name: Fire due slots and drain the queue
        env:
          DAVUS_URL: \${{ vars.DAVUS_URL }}
          DAVUS_CRON_API_KEY: \${{ secrets.DAVUS_CRON_API_KEY }}
        run: |
          # Tick until no work remains (at most 20 rounds), then fail the run if any job failed.
          base="\${DAVUS_URL%/}"
          failures=0
          for round in $(seq 1 20); do
            body=$(curl --fail-with-body --silent --show-error --max-time $((${budget} + 35)) \\
              --request POST --header "Authorization: Api-Key \${DAVUS_CRON_API_KEY}" \\
              "$base/api/v1/jobs/tick/?budget=${budget}") || { echo "$body"; exit 1; }
            echo "$body"
            remaining=$(printf '%s' "$body" | sed -n 's/.*"remaining":\\([0-9]*\\).*/\\1/p')
            failed=$(printf '%s' "$body" | sed -n 's/.*"failed":\\([0-9]*\\),"dead":\\([0-9]*\\).*/\\1 + \\2/p')
            failures=$((failures + \${failed:-0}))
            if [ "\${remaining:-0}" -eq 0 ]; then break; fi
          done
          if [ "$failures" -gt 0 ]; then
            echo "::error::$failures job attempts failed or died; the answers above say which"
            exit 1
          fi
`;
}

/** What the workflows cost a month, in words, for the command's output. */
export function describeCost(workflows: GeneratedWorkflow[]): string[] {
  const lines: string[] = [];
  let total = 0;
  for (const workflow of workflows) {
    const runs = Math.round(workflow.runsPerMonth * 10) / 10;
    total += workflow.runsPerMonth;
    lines.push(
      `${workflow.file}: ${workflow.utcCrons.join(" and ")} (UTC), about ${runs} runs a month; each wakes the service once.`,
    );
  }
  const minutes = Math.ceil(total);
  lines.push(
    `Cost: each run is billed at least one minute, so at least ${minutes} Actions minutes a month: free on a public repository, ${((minutes / 2000) * 100).toFixed(1)}% of the 2,000 minutes a month included with a private one.`,
  );
  return lines;
}
