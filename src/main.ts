import { describeError } from "./errors.js";
import { serveUntilSignalled } from "./serve.js";

serveUntilSignalled().catch((error) => {
  process.stderr.write(`davus: could not start: ${describeError(error)}\n`);
  process.exit(1);
});
