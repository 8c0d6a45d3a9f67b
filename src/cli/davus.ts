#!/usr/bin/env node
import { ConfigError } from "../config.js";
import { AppError, describeError } from "../errors.js";
import { runCli } from "./commands.js";

runCli(process.argv.slice(2)).then(
  (code) => {
    // -1: a long-running command (serve) that exits on its own.
    if (code >= 0) process.exitCode = code;
  },
  (error) => {
    const known = error instanceof ConfigError || error instanceof AppError;
    process.stderr.write(`davus: ${known ? error.message : describeError(error)}\n`);
    process.exitCode = error instanceof ConfigError ? 78 : 1;
  },
);
