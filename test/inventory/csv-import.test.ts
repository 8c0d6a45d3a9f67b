import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/commands.js";
import { FakeClock } from "../../src/clock.js";
import { type Database, openDatabase } from "../../src/db/database.js";
import { CsvSyntaxError, parseCsv } from "../../src/inventory/csv.js";
import {
  formatIssue,
  type ImportIssue,
  importProducts,
} from "../../src/inventory/import-products.js";
import { countProducts } from "../../src/inventory/products.js";
import { engines, migratedDatabase } from "../support/databases.js";

const HEADER = "sku,name,unit,quantity,min_quantity";
const clock = new FakeClock("2026-03-05T12:00:00Z");

/** Rows as plain arrays, so that a failure shows the fields side by side. */
function fieldsOf(text: string): string[][] {
  return parseCsv(text).map((record) => record.fields);
}

function syntaxErrorOf(text: string): CsvSyntaxError {
  try {
    parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) return error;
    throw error;
  }
  throw new Error("parseCsv accepted the text");
}

describe("parseCsv", () => {
  it("keeps a comma inside a quoted field as part of the field", () => {
    expect(fieldsOf('a,"b, c",d')).toEqual([["a", "b, c", "d"]]);
  });

  it("reads a doubled quote inside a quoted field as one quote", () => {
    expect(fieldsOf('"Caixa ""grande""",x')).toEqual([['Caixa "grande"', "x"]]);
  });

  it("keeps a line break inside quotes and starts the next record on its own line", () => {
    const records = parseCsv('a,"linha 1\nlinha 2"\nb,c\n');

    expect(records).toEqual([
      { line: 1, fields: ["a", "linha 1\nlinha 2"] },
      { line: 3, fields: ["b", "c"] },
    ]);
  });

  it("reads CRLF line endings like LF, keeping a CRLF inside quotes", () => {
    const records = parseCsv('a,b\r\n"x\r\ny",z\r\nlast,one\r\n');

    expect(records).toEqual([
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ["x\r\ny", "z"] },
      { line: 4, fields: ["last", "one"] },
    ]);
  });

  it("drops a byte order mark at the start of the text", () => {
    expect(fieldsOf("\uFEFFsku,name\nA,B")).toEqual([
      ["sku", "name"],
      ["A", "B"],
    ]);
  });

  it("skips blank lines but still counts them in line numbers", () => {
    const records = parseCsv("a,b\n\n\nc,d\n\n");

    expect(records).toEqual([
      { line: 1, fields: ["a", "b"] },
      { line: 4, fields: ["c", "d"] },
    ]);
  });

  it("keeps an empty quoted field and a last record without a line break", () => {
    expect(fieldsOf('a,"",c\nd,e,""')).toEqual([
      ["a", "", "c"],
      ["d", "e", ""],
    ]);
  });

  it("reports an unclosed quote at the line where the quote opens", () => {
    const error = syntaxErrorOf('a,b\nc,d\ne,"never closed\nf,g\nh,i\n');

    expect(error.line).toBe(3);
    expect(error.message).toBe("line 3: a quoted field is never closed");
  });

  it("refuses a quote in the middle of an unquoted field, naming its line", () => {
    const error = syntaxErrorOf('a,b\nc,d"e\n');

    expect(error.line).toBe(2);
    expect(error.message).toContain("inside an unquoted field");
  });

  it("refuses text after a closing quote, naming its line", () => {
    const error = syntaxErrorOf('a,b\n"c"d,e\n');

    expect(error.line).toBe(2);
    expect(error.message).toContain("after a closing quote");
  });
});

describe.each(engines)("importProducts on $name", (engine) => {
  let database: Database;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ database, dispose } = await migratedDatabase(engine));
  });

  afterAll(async () => {
    await dispose();
  });

  beforeEach(async () => {
    await database.db.deleteFrom("products").execute();
  });

  const importCsv = (csv: string, partial = false) =>
    importProducts(database.db, csv, { clock, partial });

  const stock = async () =>
    database.db
      .selectFrom("products")
      .select(["sku", "name", "unit", "quantity", "min_quantity"])
      .orderBy("sku")
      .execute();

  it("imports quoted names with commas, quotes and a decimal comma", async () => {
    const csv = [
      HEADER,
      'FAR-1,"Farinha de trigo, tipo 1",kg,"12,5",5',
      'OVO-12,"Ovos ""caipira""",dz,3,4',
    ].join("\n");

    const result = await importCsv(csv);

    expect(result).toEqual({
      rows: 2,
      inserted: 2,
      updated: 0,
      skipped: 0,
      issues: [],
      applied: true,
    });
    expect(await stock()).toEqual([
      {
        sku: "FAR-1",
        name: "Farinha de trigo, tipo 1",
        unit: "kg",
        quantity: 12.5,
        min_quantity: 5,
      },
      { sku: "OVO-12", name: 'Ovos "caipira"', unit: "dz", quantity: 3, min_quantity: 4 },
    ]);
  });

  it("reads a file with a byte order mark, CRLF endings and blank lines", async () => {
    const csv = `\uFEFF${HEADER}\r\n\r\nFAR-1,Farinha,kg,10,5\r\n\r\nACU-1,Açúcar,kg,2,3\r\n`;

    const result = await importCsv(csv);

    expect(result.inserted).toBe(2);
    expect((await stock()).map((product) => product.sku)).toEqual(["ACU-1", "FAR-1"]);
  });

  // Every case puts a good record on line 2 and a blank line 3 before the bad line 4, so a
  // line number that ignores blank lines or counts from 0 shows up as a wrong value.
  const badCells: { what: string; line: string; issue: Omit<ImportIssue, "message"> }[] = [
    {
      what: "an empty sku",
      line: ",Fermento,g,100,50",
      issue: { line: 4, column: "sku", value: "" },
    },
    {
      what: "a sku with a space and a hash",
      line: "FER 1#,Fermento,g,100,50",
      issue: { line: 4, column: "sku", value: "FER 1#" },
    },
    {
      what: "an empty name",
      line: "FER-1,,g,100,50",
      issue: { line: 4, column: "name", value: "" },
    },
    {
      what: "a name with a tab inside",
      line: 'FER-1,"Fermento\tseco",g,100,50',
      issue: { line: 4, column: "name", value: "Fermento\tseco" },
    },
    {
      what: "a unit longer than 16 characters",
      line: "FER-1,Fermento,gramas-por-pacote,100,50",
      issue: { line: 4, column: "unit", value: "gramas-por-pacote" },
    },
    {
      what: "a quantity that is no number",
      line: "FER-1,Fermento,g,cem,50",
      issue: { line: 4, column: "quantity", value: "cem" },
    },
    {
      what: "a negative quantity",
      line: "FER-1,Fermento,g,-3,50",
      issue: { line: 4, column: "quantity", value: "-3" },
    },
    {
      what: "an empty min_quantity",
      line: "FER-1,Fermento,g,100,",
      issue: { line: 4, column: "min_quantity", value: "" },
    },
    {
      what: "a record with four fields",
      line: "FER-1,Fermento,g,100",
      issue: { line: 4, column: "record", value: "FER-1,Fermento,g,100" },
    },
  ];

  it.each(badCells)("reports $what with its line, column and value", async ({ line, issue }) => {
    const csv = [HEADER, "FAR-1,Farinha,kg,10,5", "", line].join("\n");

    const result = await importCsv(csv);

    expect(result.issues).toEqual([{ ...issue, message: expect.any(String) }]);
    expect(result.applied).toBe(false);
    expect(await countProducts(database.db)).toBe(0);
  });

  it("explains each bad cell in words that say what was expected", async () => {
    const csv = [
      HEADER,
      "FER 1#,Fermento,g,100,50",
      "A-2,Sal,quilogramas-por-saco,1,1",
      "A-3,Sal,kg,cem,1",
      "A-4,Sal,kg,-3,1",
      "A-5,Sal,kg,1",
      'A-6,"Sal\u0007",kg,1,1',
      "A-7,Sal,kg,,1",
      "A-8,Sal,kg,0.0000001,1",
    ].join("\n");

    const result = await importCsv(csv);

    expect(result.issues.map((issue) => [issue.line, issue.message])).toEqual([
      [
        2,
        "expected 1 to 64 letters, digits, dots, dashes, slashes or underscores, starting with a letter or digit",
      ],
      [3, "expected at most 16 characters, found 20"],
      [4, "expected a number such as 12 or 12.5"],
      [5, "must not be negative"],
      [6, "expected 5 fields, found 4"],
      [7, "must not contain line breaks or other control characters"],
      [8, "must not be empty; write 0 for none"],
      [9, "expected at most 12 digits before the decimal point and 6 after it"],
    ]);
  });

  it("shows at most 60 characters of a huge cell, and how long it was", async () => {
    const name = "x".repeat(5_000_000);
    const csv = [HEADER, `A-1,${name},kg,1,1`].join("\n");

    const result = await importCsv(csv);

    expect(result.issues).toEqual([
      {
        line: 2,
        column: "name",
        value: `${"x".repeat(60)}… (5000000 characters)`,
        message: "expected at most 200 characters, found 5000000",
      },
    ]);
    expect(formatIssue(result.issues[0] as ImportIssue).length).toBeLessThan(200);
    expect(await countProducts(database.db)).toBe(0);
  });

  it("reports a name with a line break on the line where its record starts", async () => {
    const csv = [HEADER, "FAR-1,Farinha,kg,10,5", 'FER-1,"Fermento\nseco",g,100,50'].join("\n");

    const result = await importCsv(csv);

    expect(result.issues).toEqual([
      {
        line: 3,
        column: "name",
        value: "Fermento\nseco",
        message: "must not contain line breaks or other control characters",
      },
    ]);
  });

  it("reports a duplicate sku and names the line that has it first", async () => {
    const csv = [HEADER, "FAR-1,Farinha,kg,10,5", "ACU-1,Açúcar,kg,2,3", "FAR-1,Fubá,kg,1,1"].join(
      "\n",
    );

    const result = await importCsv(csv);

    expect(result.issues).toEqual([
      { line: 4, column: "sku", value: "FAR-1", message: "the same SKU is on line 2 already" },
    ]);
  });

  it("reports every bad cell of a record, not only the first", async () => {
    const csv = [HEADER, "FAR-1,,kg,-1,x"].join("\n");

    const result = await importCsv(csv);

    expect(result.issues.map(({ line, column, value }) => ({ line, column, value }))).toEqual([
      { line: 2, column: "name", value: "" },
      { line: 2, column: "quantity", value: "-1" },
      { line: 2, column: "min_quantity", value: "x" },
    ]);
  });

  it("reports a missing header column on the header line and imports nothing", async () => {
    const csv = ["sku,name,unit,quantity", "FAR-1,Farinha,kg,10"].join("\n");

    const result = await importCsv(csv);

    expect(result.applied).toBe(false);
    expect(result.issues).toEqual([
      {
        line: 1,
        column: "header",
        value: "sku,name,unit,quantity",
        message: expect.stringContaining("missing column min_quantity"),
      },
    ]);
    expect(await countProducts(database.db)).toBe(0);
  });

  it("reports an unclosed quote at the line of the opening quote and imports nothing", async () => {
    const csv = [HEADER, "FAR-1,Farinha,kg,10,5", 'ACU-1,"Açúcar,kg,2,3', "SAL-1,Sal,kg,1,1"].join(
      "\n",
    );

    const result = await importCsv(csv);

    expect(result.applied).toBe(false);
    expect(result.issues).toEqual([
      { line: 3, column: "record", value: "", message: "a quoted field is never closed" },
    ]);
    expect(await countProducts(database.db)).toBe(0);
  });

  it("changes nothing when one record of the file is bad", async () => {
    await importCsv([HEADER, "FAR-1,Farinha,kg,10,5"].join("\n"));
    const before = await stock();

    const result = await importCsv(
      [HEADER, "FAR-1,Farinha,kg,99,5", "ACU-1,Açúcar,kg,2,3", "SAL-1,Sal,kg,muito,1"].join("\n"),
    );

    expect(result).toMatchObject({ applied: false, inserted: 0, updated: 0, skipped: 0 });
    expect(result.issues).toHaveLength(1);
    expect(await stock()).toEqual(before);
    expect(await countProducts(database.db)).toBe(1);
  });

  it("with partial, imports the good records, reports the bad ones and counts them skipped", async () => {
    await importCsv([HEADER, "FAR-1,Farinha,kg,10,5"].join("\n"));

    const result = await importCsv(
      [HEADER, "FAR-1,Farinha,kg,99,5", "ACU-1,Açúcar,kg,2,3", "SAL-1,Sal,kg,muito,1"].join("\n"),
      true,
    );

    expect(result).toEqual({
      rows: 3,
      inserted: 1,
      updated: 1,
      skipped: 1,
      applied: true,
      issues: [
        {
          line: 4,
          column: "quantity",
          value: "muito",
          message: "expected a number such as 12 or 12.5",
        },
      ],
    });
    expect((await stock()).map(({ sku, quantity }) => [sku, quantity])).toEqual([
      ["ACU-1", 2],
      ["FAR-1", 99],
    ]);
  });

  it("with partial, still refuses a file whose syntax is broken, since no record can be trusted", async () => {
    const csv = [HEADER, "FAR-1,Farinha,kg,10,5", 'ACU-1,"Açúcar,kg,2,3'].join("\n");

    const result = await importCsv(csv, true);

    expect(result).toMatchObject({ applied: false, inserted: 0, updated: 0 });
    expect(result.issues.map((issue) => [issue.line, issue.column])).toEqual([[3, "record"]]);
    expect(await countProducts(database.db)).toBe(0);
  });

  it("with partial, still refuses a file whose header misses a column", async () => {
    const csv = ["sku,name,unit,quantity", "FAR-1,Farinha,kg,10"].join("\n");

    const result = await importCsv(csv, true);

    expect(result).toMatchObject({ applied: false, inserted: 0, updated: 0 });
    expect(result.issues.map((issue) => [issue.line, issue.column])).toEqual([[1, "header"]]);
  });

  it("upserts by sku: a second import updates the quantity and counts inserted and updated", async () => {
    const first = await importCsv(
      [HEADER, "FAR-1,Farinha,kg,10,5", "ACU-1,Açúcar,kg,2,3"].join("\n"),
    );
    const second = await importCsv(
      [HEADER, "FAR-1,Farinha de trigo,kg,4,6", "SAL-1,Sal,kg,1,1"].join("\n"),
    );

    expect(first).toMatchObject({ rows: 2, inserted: 2, updated: 0 });
    expect(second).toMatchObject({ rows: 2, inserted: 1, updated: 1 });
    expect(await stock()).toEqual([
      { sku: "ACU-1", name: "Açúcar", unit: "kg", quantity: 2, min_quantity: 3 },
      { sku: "FAR-1", name: "Farinha de trigo", unit: "kg", quantity: 4, min_quantity: 6 },
      { sku: "SAL-1", name: "Sal", unit: "kg", quantity: 1, min_quantity: 1 },
    ]);
  });
});

describe("davus products import", () => {
  const saved: Record<string, string | undefined> = {};
  let dir: string;
  let databaseFile: string;

  const setEnv = (values: Record<string, string>) => {
    for (const [name, value] of Object.entries(values)) {
      if (!(name in saved)) saved[name] = process.env[name];
      process.env[name] = value;
    }
  };

  const run = async (args: string[]) => {
    const printed: string[] = [];
    const code = await runCli(args, (line) => printed.push(line));
    return { code, printed };
  };

  const productsInDatabase = async () => {
    const database = openDatabase({
      engine: "sqlite",
      path: databaseFile,
      url: `sqlite:${databaseFile}`,
    });
    try {
      return await countProducts(database.db);
    } finally {
      await database.close();
    }
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "davus-cli-import-"));
    databaseFile = path.join(dir, "davus.sqlite");
    setEnv({
      DATABASE_URL: `sqlite:${databaseFile}`,
      EMAIL_BACKEND: "file",
      EMAIL_FILE_PATH: path.join(dir, "outbox"),
      LOG_LEVEL: "silent",
    });
  });

  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
      delete saved[name];
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("prints the first 100 problems of a file bad throughout, and how many more there are", async () => {
    const file = path.join(dir, "products.csv");
    const bad = Array.from({ length: 150 }, (_, n) => `SKU-${n},Produto ${n},un,-1,2`);
    fs.writeFileSync(file, [HEADER, ...bad, ""].join("\n"));

    const { code, printed } = await run(["products", "import", file]);

    expect(code).toBe(1);
    expect(printed).toHaveLength(102);
    expect(printed[0]).toBe(`${file}: line 2, column quantity ("-1"): must not be negative`);
    expect(printed[99]).toBe(`${file}: line 101, column quantity ("-1"): must not be negative`);
    expect(printed[100]).toBe(`${file}: 50 more problem(s) not shown; the first 100 are above.`);
    expect(printed[101]).toBe(
      `${file}: 150 problem(s); nothing was imported. Fix them, or pass --partial to import the good records.`,
    );
    expect(await productsInDatabase()).toBe(0);
  });

  it("prints the line and column of a bad cell, exits 1 and imports nothing", async () => {
    const file = path.join(dir, "products.csv");
    fs.writeFileSync(
      file,
      [HEADER, "FAR-1,Farinha,kg,10,5", "ACU-1,Açúcar,kg,dois,3", ""].join("\n"),
    );

    const { code, printed } = await run(["products", "import", file]);

    expect(code).toBe(1);
    expect(printed).toEqual([
      `${file}: line 3, column quantity ("dois"): expected a number such as 12 or 12.5`,
      `${file}: 1 problem(s); nothing was imported. Fix them, or pass --partial to import the good records.`,
    ]);
    expect(await productsInDatabase()).toBe(0);
  });

  it("with --partial, refuses a file with an unclosed quote, exits 1 and imports nothing", async () => {
    const file = path.join(dir, "products.csv");
    fs.writeFileSync(file, [HEADER, "FAR-1,Farinha,kg,10,5", 'ACU-1,"Açúcar,kg,2,3'].join("\n"));

    const { code, printed } = await run(["products", "import", file, "--partial"]);

    expect(code).toBe(1);
    expect(printed[0]).toBe(`${file}: line 3, column record: a quoted field is never closed`);
    expect(printed[1]).toContain("nothing was imported");
    expect(await productsInDatabase()).toBe(0);
  });

  it("imports a good file, prints the counts and exits 0", async () => {
    const file = path.join(dir, "products.csv");
    fs.writeFileSync(file, [HEADER, "FAR-1,Farinha,kg,10,5", "ACU-1,Açúcar,kg,2,3"].join("\n"));

    const { code, printed } = await run(["products", "import", file]);

    expect(code).toBe(0);
    expect(printed).toEqual([`${file}: 2 inserted, 0 updated.`]);
    expect(await productsInDatabase()).toBe(2);
  });
});
