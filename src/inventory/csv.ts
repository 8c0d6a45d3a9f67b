/**
 * A small RFC 4180 reader: comma separated, fields quoted with double quotes, a quote inside
 * a quoted field doubled, line breaks inside quotes kept. Each record carries the line it
 * starts on, so that an error can point at it.
 */

export interface CsvRecord {
  /** The 1-based line the record starts on. */
  line: number;
  fields: string[];
}

export class CsvSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = "CsvSyntaxError";
  }
}

export function parseCsv(input: string): CsvRecord[] {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let recordLine = 1;
  let quoted = false;
  let quoteOpenedAt = 0;
  let fieldWasQuoted = false;

  const endField = () => {
    fields.push(field);
    field = "";
    fieldWasQuoted = false;
  };
  const endRecord = () => {
    endField();
    // A blank line is no record.
    if (!(fields.length === 1 && fields[0] === "")) records.push({ line: recordLine, fields });
    fields = [];
  };

  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (quoted) {
      if (char === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        if (char === "\n") line++;
        field += char;
      }
      continue;
    }
    if (char === '"') {
      if (field !== "" || fieldWasQuoted) {
        throw new CsvSyntaxError(
          line,
          'a quote (") inside an unquoted field; quote the whole field and double the inner quotes',
        );
      }
      quoted = true;
      fieldWasQuoted = true;
      quoteOpenedAt = line;
    } else if (char === ",") {
      endField();
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      if (fieldWasQuoted) {
        throw new CsvSyntaxError(
          line,
          "text after a closing quote; put the whole field inside the quotes",
        );
      }
      field += char;
    }
  }
  if (quoted) throw new CsvSyntaxError(quoteOpenedAt, "a quoted field is never closed");
  if (field !== "" || fields.length > 0 || fieldWasQuoted) endRecord();
  return records;
}
