import { spawn } from "node:child_process";
import fs from "node:fs";
import { parse } from "yaml";

export interface WorkflowStep {
  name: string;
  run: string;
  env: Record<string, string>;
}

interface WorkflowFile {
  jobs: Record<string, { steps: { name?: string; run?: string; env?: Record<string, string> }[] }>;
}

/**
 * The `run:` steps of a workflow, with `${{ vars.X }}` and `${{ secrets.X }}` in their env
 * replaced from `context`. An expression the test does not provide fails loudly.
 */
export function workflowSteps(file: string, context: Record<string, string>): WorkflowStep[] {
  const workflow = parse(fs.readFileSync(file, "utf8")) as WorkflowFile;
  const steps: WorkflowStep[] = [];
  for (const job of Object.values(workflow.jobs)) {
    for (const step of job.steps) {
      if (!step.run) continue;
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(step.env ?? {})) {
        env[name] = String(value).replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (_, expression: string) => {
          const resolved = context[expression];
          if (resolved === undefined)
            throw new Error(`the test provides no value for \${{ ${expression} }}`);
          return resolved;
        });
      }
      steps.push({ name: step.name ?? "(unnamed)", run: step.run, env });
    }
  }
  return steps;
}

/** Run a step the way GitHub's runner does on Linux: bash -e -o pipefail. */
export function runStep(
  step: WorkflowStep,
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", step.run], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...step.env, ...extraEnv },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
