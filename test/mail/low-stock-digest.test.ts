import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { createMailer } from "../../src/mail/mailer.js";
import {
  DIGEST_MAX_LINES,
  type DigestLine,
  renderLowStockDigest,
} from "../../src/mail/templates/low-stock-digest.js";
import { testConfig } from "../support/config.js";

const HOSTILE_NAME = `Bolo <script>alert(1)</script> "da vó" d'Ávila\r\nBcc: intruso@example.com\nX-Injected: yes`;

const line = (sku: string, name = "Farinha", quantity = 2, minQuantity = 10): DigestLine => ({
  sku,
  name,
  unit: "kg",
  quantity,
  minQuantity,
});

describe("renderLowStockDigest", () => {
  it("puts the count and the date as dd/mm/yyyy in a Portuguese subject", () => {
    const digest = renderLowStockDigest(
      [line("FAR-1"), line("OVO-12"), line("SAL-1")],
      "2026-03-05",
    );

    expect(digest.subject).toBe("[Davus] Estoque baixo: 3 produtos em 05/03/2026");
  });

  it("uses the singular for one product", () => {
    const digest = renderLowStockDigest([line("FAR-1")], "2026-12-24");

    expect(digest.subject).toBe("[Davus] Estoque baixo: 1 produto em 24/12/2026");
    expect(digest.text).toMatch(
      /^1 produto está no estoque mínimo ou abaixo dele em 24\/12\/2026\./,
    );
  });

  it("lists every SKU in the text and in the HTML", () => {
    const skus = ["FAR-1", "OVO-12", "SAL-1", "ACU/2", "LEV_3.5"];

    const digest = renderLowStockDigest(
      skus.map((sku) => line(sku)),
      "2026-03-05",
    );

    for (const sku of skus) {
      expect(digest.text).toContain(`- ${sku} | Farinha | 2 kg (mínimo 10 kg)`);
      expect(digest.html).toContain(`>${sku}</td>`);
    }
  });

  it("lists the first 500 products of 84,000 and counts the rest, staying small enough to send", () => {
    const lines = Array.from({ length: 84_000 }, (_, n) => line(`P-${n}`));

    const digest = renderLowStockDigest(lines, "2026-03-05");

    expect(DIGEST_MAX_LINES).toBe(500);
    expect(digest.subject).toBe("[Davus] Estoque baixo: 84000 produtos em 05/03/2026");
    expect(digest.text).toContain("- P-499 | Farinha");
    expect(digest.text).not.toContain("- P-500 |");
    expect(digest.html).toContain(">P-499</td>");
    expect(digest.html).not.toContain(">P-500</td>");
    const more =
      "Mais 83500 produtos estão no estoque mínimo ou abaixo dele e não cabem nesta mensagem.";
    expect(digest.text).toContain(more);
    expect(digest.html).toContain(`<p>${more}</p>`);
    // Under 1 MB even with 200-character names; servers often refuse 10 MB or more.
    expect(digest.text.length + digest.html.length).toBeLessThan(300_000);
  });

  it("says nothing of more products when all fit", () => {
    const digest = renderLowStockDigest(
      Array.from({ length: 500 }, (_, n) => line(`P-${n}`)),
      "2026-03-05",
    );

    expect(digest.text).toContain("- P-499 | Farinha");
    expect(digest.text).not.toContain("Mais ");
    expect(digest.html).not.toContain("Mais ");
  });

  it("formats quantities the Brazilian way, with a decimal comma", () => {
    const digest = renderLowStockDigest([line("FAR-1", "Farinha", 2.5, 1250)], "2026-03-05");

    expect(digest.text).toContain("- FAR-1 | Farinha | 2,5 kg (mínimo 1.250 kg)");
  });

  it("keeps the products in the order given", () => {
    const digest = renderLowStockDigest(
      [line("ZZZ-9"), line("AAA-1"), line("MMM-5")],
      "2026-03-05",
    );

    const inText = digest.text
      .split("\n")
      .filter((text) => text.startsWith("- "))
      .map((text) => text.slice(2).split(" | ")[0]);
    const inHtml = [...digest.html.matchAll(/<tr><td[^>]*>([^<]*)<\/td>/g)].map((row) => row[1]);
    expect(inText).toEqual(["ZZZ-9", "AAA-1", "MMM-5"]);
    expect(inHtml).toEqual(["ZZZ-9", "AAA-1", "MMM-5"]);
  });

  it("escapes a hostile product name in the HTML", () => {
    const digest = renderLowStockDigest([line("BOLO-1", HOSTILE_NAME)], "2026-03-05");

    expect(digest.html).not.toContain("<script>");
    expect(digest.html).not.toContain('"da vó"');
    expect(digest.html).toContain(
      "Bolo &lt;script&gt;alert(1)&lt;/script&gt; &quot;da vó&quot; d&#39;Ávila Bcc: intruso@example.com X-Injected: yes",
    );
  });

  it("keeps a hostile product name on one line of the text", () => {
    const digest = renderLowStockDigest([line("BOLO-1", HOSTILE_NAME)], "2026-03-05");

    const productLines = digest.text.split("\n").filter((text) => text.startsWith("- "));
    expect(productLines).toEqual([
      `- BOLO-1 | Bolo <script>alert(1)</script> "da vó" d'Ávila Bcc: intruso@example.com X-Injected: yes | 2 kg (mínimo 10 kg)`,
    ]);
    expect(digest.text).not.toMatch(/^Bcc:/m);
    expect(digest.text).not.toContain("\r");
  });

  it("never lets product data reach the subject", () => {
    const digest = renderLowStockDigest([line("BOLO-1", HOSTILE_NAME)], "2026-03-05");

    expect(digest.subject).toBe("[Davus] Estoque baixo: 1 produto em 05/03/2026");
  });
});

describe("a digest written by the file mailer", () => {
  let outbox: string;

  beforeEach(() => {
    outbox = fs.mkdtempSync(path.join(os.tmpdir(), "davus-digest-"));
  });

  afterEach(() => {
    fs.rmSync(outbox, { recursive: true, force: true });
  });

  it("parses back with clean headers and the hostile name escaped in the HTML", async () => {
    const config = testConfig("sqlite::memory:", { EMAIL_FILE_PATH: outbox });
    const mailer = createMailer({ config: config.email, logger: createLogger("silent") });
    const digest = renderLowStockDigest(
      [line("BOLO-1", HOSTILE_NAME), line("FAR-1")],
      "2026-03-05",
    );

    const sent = await mailer.send({
      to: "estoque@example.com",
      subject: digest.subject,
      text: digest.text,
      html: digest.html,
      messageKey: "low-stock:2026-03-05:estoque@example.com",
    });
    await mailer.close();

    expect(sent.path && path.dirname(sent.path)).toBe(outbox);
    const raw = fs.readFileSync(sent.path as string);
    const mail = await simpleParser(raw);
    expect(mail.subject).toBe("[Davus] Estoque baixo: 2 produtos em 05/03/2026");
    expect(mail.to && !Array.isArray(mail.to) && mail.to.value).toEqual([
      { address: "estoque@example.com", name: "" },
    ]);
    expect(mail.bcc).toBeUndefined();
    expect([...mail.headers.keys()].sort()).toEqual([
      "content-type",
      "date",
      "from",
      "message-id",
      "mime-version",
      "subject",
      "to",
    ]);
    const headerBlock = raw.toString("utf8").split(/\r?\n\r?\n/)[0] ?? "";
    expect(headerBlock).not.toMatch(/^(bcc|x-injected):/im);
    expect(headerBlock).not.toContain("intruso");
    expect(headerBlock).not.toContain("BOLO-1");
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("Bolo &lt;script&gt;alert(1)&lt;/script&gt; &quot;da vó&quot;");
    expect(mail.text).toContain(
      '- BOLO-1 | Bolo <script>alert(1)</script> "da vó" d\'Ávila Bcc: intruso@example.com X-Injected: yes | 2 kg',
    );
  });
});
