import { describe, expect, it } from "vitest";
import { decodeCsv, readProducts } from "../../src/inventory/import-products.js";

describe("reading a CSV file's bytes", () => {
  it("refuses a Latin-1 file, naming the line, instead of importing garbled accents", () => {
    const latin1 = Buffer.from(
      "sku,name,unit,quantity,min_quantity\nL-1,A\xe7\xfacar refinado,un,1,2\n",
      "latin1",
    );

    expect(decodeCsv(latin1)).toEqual({
      issue: {
        line: 2,
        column: "record",
        value: "",
        message:
          "the file is not UTF-8 (perhaps Latin-1 or Windows-1252); save it as CSV UTF-8 and import it again",
      },
    });
  });

  it("reads UTF-8, with or without a byte-order mark", () => {
    const text = "sku,name,unit,quantity,min_quantity\nL-1,Açúcar refinado,un,1,2\n";
    for (const bytes of [
      Buffer.from(text),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]),
    ]) {
      const decoded = decodeCsv(bytes);
      expect("text" in decoded && readProducts(decoded.text).rows[0]?.name).toBe("Açúcar refinado");
    }
  });

  it("refuses a header that names a column twice, rather than letting the last one win", () => {
    const { rows, issues } = readProducts(
      "sku,name,unit,quantity,min_quantity,quantity\nD-1,x,un,1,2,99\n",
    );

    expect(rows).toEqual([]);
    expect(issues).toEqual([
      {
        line: 1,
        column: "header",
        value: "sku,name,unit,quantity,min_quantity,quantity",
        message: "the column quantity appears twice; keep one",
      },
    ]);
  });
});
