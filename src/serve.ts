import { type Config, ConfigError, loadConfig } from "./config.js";
import { describeError } from "./errors.js";
import { createLogger } from "./logger.js";
import { type RuntimeOptions, type Service, startService } from "./runtime.js";

/**
 * `npm start`: serve until SIGTERM or SIGINT, then stop gracefully and exit 0. A host
 * gives about 30 seconds between SIGTERM and SIGKILL; the grace (25 s by default) fits.
 */
export async function serveUntilSignalled(
  options: Pick<RuntimeOptions, "tasks"> = {},
): Promise<Service> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const service = await startService({ config, logger, ...options });

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "signal received");
    service.stop().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: describeError(error) }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return service;
}
