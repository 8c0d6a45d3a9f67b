import type { Kysely } from "kysely";
import type { Clock } from "../clock.js";
import type { Schema } from "../db/schema.js";
import { type CsvRecord, CsvSyntaxError, parseCsv } from "./csv.js";

export const PRODUCT_COLUMNS = ["sku", "name", "unit", "quantity", "min_quantity"] as const;
type Column = (typeof PRODUCT_COLUMNS)[number];

export interface ImportIssue {
  /** The line of the file the bad record starts on. */
  line: number;
  column: Column | "header" | "record";
  /** The cell as found, cut to its first 60 characters when longer. */
  value: string;
  message: string;
}

export interface ImportResult {
  /** Records read, not counting the header. */
  rows: number;
  inserted: number;
  updated: number;
  /** Bad records left out (only with `partial`). */
  skipped: number;
  issues: ImportIssue[];
  /** False when the file was refused as a whole and nothing changed. */
  applied: boolean;
}

export interface ImportOptions {
  clock: Clock;
  /** Import the good records and report the bad ones, instead of all or nothing. */
  partial?: boolean;
}

interface ProductRow {
  sku: string;
  name: string;
  unit: string;
  quantity: number;
  min_quantity: number;
}

const SKU = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const CONTROL = /[\u0000-\u001f\u007f]/;
const NUMBER = /^\d{1,12}([.,]\d{1,6})?$/;
const DIGITS = /^\d+([.,]\d+)?$/;
const SHOWN_CHARACTERS = 60;

/** A cell as an issue shows it: a 50 MB cell must not become a 50 MB error message. */
function excerpt(value: string): string {
  if (value.length <= SHOWN_CHARACTERS) return value;
  return `${value.slice(0, SHOWN_CHARACTERS)}… (${value.length} characters)`;
}

/**
 * Upsert products by SKU from CSV text. By default a file with any bad record changes
 * nothing; every bad cell is reported with its line, column and value.
 */
export async function importProducts(
  db: Kysely<Schema>,
  csv: string,
  options: ImportOptions,
): Promise<ImportResult> {
  const { rows, issues, records } = readProducts(csv);
  // A broken file (its syntax, or its header) leaves no record to trust: refused even with
  // `partial`. Such problems come back with no record read, or on the header.
  const broken = issues.some((issue) => issue.column === "header" || records === 0);
  const refused = issues.length > 0 && (!options.partial || broken);
  const result: ImportResult = {
    rows: records,
    inserted: 0,
    updated: 0,
    skipped: 0,
    issues,
    applied: !refused,
  };
  if (refused) return result;

  result.skipped = records - rows.length;
  const now = options.clock.now();
  await db.transaction().execute(async (trx) => {
    for (let start = 0; start < rows.length; start += 500) {
      const chunk = rows.slice(start, start + 500);
      const existing = await trx
        .selectFrom("products")
        .select("sku")
        .where(
          "sku",
          "in",
          chunk.map((row) => row.sku),
        )
        .execute();
      result.updated += existing.length;
      result.inserted += chunk.length - existing.length;
      await trx
        .insertInto("products")
        .values(chunk.map((row) => ({ ...row, updated_at: now })))
        .onConflict((conflict) =>
          conflict.column("sku").doUpdateSet((eb) => ({
            name: eb.ref("excluded.name"),
            unit: eb.ref("excluded.unit"),
            quantity: eb.ref("excluded.quantity"),
            min_quantity: eb.ref("excluded.min_quantity"),
            updated_at: eb.ref("excluded.updated_at"),
          })),
        )
        .execute();
    }
  });
  return result;
}

/** Parse and check every record; returns the good rows and an issue per bad cell. */
export function readProducts(csv: string): {
  rows: ProductRow[];
  issues: ImportIssue[];
  records: number;
} {
  let records: CsvRecord[];
  try {
    records = parseCsv(csv);
  } catch (error) {
    if (!(error instanceof CsvSyntaxError)) throw error;
    return {
      rows: [],
      records: 0,
      issues: [
        {
          line: error.line,
          column: "record",
          value: "",
          message: error.message.replace(/^line \d+: /, ""),
        },
      ],
    };
  }

  const header = records[0];
  if (!header) {
    return {
      rows: [],
      records: 0,
      issues: [
        {
          line: 1,
          column: "header",
          value: "",
          message: `the file is empty; expected a header line: ${PRODUCT_COLUMNS.join(",")}`,
        },
      ],
    };
  }
  const names = header.fields.map((field) => field.trim().toLowerCase());
  // A bad header refuses the whole file: no record can be read right without it.
  const refuseHeader = (message: string) => ({
    rows: [],
    records: records.length - 1,
    issues: [
      {
        line: header.line,
        column: "header" as const,
        value: excerpt(header.fields.join(",")),
        message,
      },
    ],
  });
  const position = new Map<string, number>();
  for (const [index, name] of names.entries()) {
    if (position.has(name) && (PRODUCT_COLUMNS as readonly string[]).includes(name)) {
      return refuseHeader(`the column ${name} appears twice; keep one`);
    }
    position.set(name, index);
  }
  const missing = PRODUCT_COLUMNS.filter((column) => !position.has(column));
  if (missing.length > 0) {
    return refuseHeader(
      `missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; the header must name ${PRODUCT_COLUMNS.join(", ")}`,
    );
  }

  const rows: ProductRow[] = [];
  const issues: ImportIssue[] = [];
  const seen = new Map<string, number>();
  for (const record of records.slice(1)) {
    const before = issues.length;
    const cell = (column: Column) => record.fields[position.get(column) as number];
    const report = (column: Column | "record", value: string, message: string) =>
      issues.push({ line: record.line, column, value: excerpt(value), message });

    if (record.fields.length !== names.length) {
      report(
        "record",
        record.fields.join(","),
        `expected ${names.length} fields, found ${record.fields.length}`,
      );
      continue;
    }

    const sku = (cell("sku") ?? "").trim();
    if (!SKU.test(sku)) {
      report(
        "sku",
        sku,
        "expected 1 to 64 letters, digits, dots, dashes, slashes or underscores, starting with a letter or digit",
      );
    } else if (seen.has(sku)) {
      report("sku", sku, `the same SKU is on line ${seen.get(sku)} already`);
    } else {
      seen.set(sku, record.line);
    }

    const text = (column: "name" | "unit", max: number) => {
      const value = (cell(column) ?? "").trim();
      if (value === "") report(column, value, "must not be empty");
      else if (value.length > max)
        report(column, value, `expected at most ${max} characters, found ${value.length}`);
      else if (CONTROL.test(value))
        report(column, value, "must not contain line breaks or other control characters");
      return value;
    };
    const name = text("name", 200);
    const unit = text("unit", 16);

    const amount = (column: "quantity" | "min_quantity") => {
      const value = (cell(column) ?? "").trim();
      if (!NUMBER.test(value)) {
        let message = "expected a number such as 12 or 12.5";
        if (value === "") message = "must not be empty; write 0 for none";
        else if (value.startsWith("-")) message = "must not be negative";
        else if (DIGITS.test(value))
          message = "expected at most 12 digits before the decimal point and 6 after it";
        report(column, value, message);
        return 0;
      }
      return Number(value.replace(",", "."));
    };
    const quantity = amount("quantity");
    const minQuantity = amount("min_quantity");

    if (issues.length === before)
      rows.push({ sku, name, unit, quantity, min_quantity: minQuantity });
  }
  return { rows, issues, records: records.length - 1 };
}

/**
 * Decode a CSV file's bytes as UTF-8, refusing anything else: a file saved as Latin-1 (as
 * spreadsheet programs often do) would otherwise import with its accents garbled.
 */
export function decodeCsv(bytes: Uint8Array): { text: string } | { issue: ImportIssue } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, bad).filter((byte) => byte === 0x0a).length + 1;
    return {
      issue: {
        line,
        column: "record",
        value: "",
        message:
          "the file is not UTF-8 (perhaps Latin-1 or Windows-1252); save it as CSV UTF-8 and import it again",
      },
    };
  }
}

/** The offset of the first byte that breaks UTF-8 (a rough check: lead and continuation bytes). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i] as number;
    const length =
      lead < 0x80
        ? 1
        : lead >= 0xc2 && lead < 0xe0
          ? 2
          : lead >= 0xe0 && lead < 0xf0
            ? 3
            : lead >= 0xf0 && lead < 0xf5
              ? 4
              : 0;
    if (length === 0) return i;
    for (let k = 1; k < length; k++) {
      if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    }
    i += length;
  }
  return bytes.length;
}

/** One issue as a line of text: `line 12, column quantity ("abc"): expected a number...`. */
export function formatIssue(issue: ImportIssue): string {
  return `line ${issue.line}, column ${issue.column}${issue.value === "" ? "" : ` (${JSON.stringify(issue.value)})`}: ${issue.message}`;
}
