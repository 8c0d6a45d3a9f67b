import pg from "pg";

/**
 * Says loudly whether the PostgreSQL half of the suite runs. It runs when
 * DAVUS_TEST_POSTGRES_URL names a server the suite may create databases on.
 */
export default async function setup(): Promise<void> {
  const url = process.env.DAVUS_TEST_POSTGRES_URL;
  const bar = "=".repeat(78);
  if (!url) {
    process.stdout.write(
      `\n${bar}\n  POSTGRESQL TESTS SKIPPED: DAVUS_TEST_POSTGRES_URL is not set.\n  Only SQLite is tested. To test both engines:\n  DAVUS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test npm test\n${bar}\n\n`,
    );
    return;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    throw new Error(
      `DAVUS_TEST_POSTGRES_URL is set but the server does not answer (${(error as Error).message}). Start PostgreSQL or unset the variable.`,
    );
  } finally {
    await client.end().catch(() => {});
  }
  process.stdout.write(
    `\n${bar}\n  PostgreSQL tests run against ${new URL(url).host}.\n${bar}\n\n`,
  );
}
