import { escapeHtml, oneLine } from "./html.js";

export interface DigestLine {
  sku: string;
  name: string;
  unit: string;
  quantity: number;
  minQuantity: number;
}

export interface Digest {
  subject: string;
  text: string;
  html: string;
}

const number = new Intl.NumberFormat("pt-BR", { maximumFractionDigits: 3 });

/**
 * The most products a digest lists. A catalogue imported with wrong minimums can put tens of
 * thousands of products below them; listed in full, that digest grows past what SMTP servers
 * accept (often 10 to 25 MB) and would fail every day. The rest are counted, not listed.
 */
export const DIGEST_MAX_LINES = 500;

/**
 * The daily low-stock digest, in Portuguese. Product data never reaches a header: the
 * subject holds only the count and the date, and every value is escaped in the HTML and
 * kept to one line in the text. The first DIGEST_MAX_LINES products are listed (the lines
 * come furthest below the minimum first), and the others counted.
 */
export function renderLowStockDigest(lines: DigestLine[], date: string): Digest {
  const count = lines.length;
  const noun = count === 1 ? "produto" : "produtos";
  const subject = `[Davus] Estoque baixo: ${count} ${noun} em ${formatDate(date)}`;
  const intro = `${count} ${noun} ${count === 1 ? "está" : "estão"} no estoque mínimo ou abaixo dele em ${formatDate(date)}. Os mais abaixo do mínimo vêm primeiro.`;

  const left = Math.max(0, count - DIGEST_MAX_LINES);
  const more =
    left === 0
      ? []
      : [
          `Mais ${left} ${left === 1 ? "produto está" : "produtos estão"} no estoque mínimo ou abaixo dele e não ${left === 1 ? "cabe" : "cabem"} nesta mensagem.`,
        ];

  const rows = lines.slice(0, DIGEST_MAX_LINES).map((line) => ({
    sku: oneLine(line.sku),
    name: oneLine(line.name),
    unit: oneLine(line.unit),
    quantity: number.format(line.quantity),
    minimum: number.format(line.minQuantity),
  }));

  const text = [
    intro,
    "",
    ...rows.map(
      (row) =>
        `- ${row.sku} | ${row.name} | ${row.quantity} ${row.unit} (mínimo ${row.minimum} ${row.unit})`,
    ),
    ...more.flatMap((sentence) => ["", sentence]),
    "",
    "Mensagem automática do Davus. Para mudar quem a recebe, ajuste LOW_STOCK_ALERT_EMAILS.",
    "",
  ].join("\n");

  const cell = (value: string, align = "left") =>
    `<td style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:${align}">${escapeHtml(value)}</td>`;
  const html = [
    '<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">',
    `<title>${escapeHtml(subject)}</title></head><body style="font-family:sans-serif">`,
    `<p>${escapeHtml(intro)}</p>`,
    '<table style="border-collapse:collapse"><thead><tr>',
    ...["SKU", "Produto", "Quantidade", "Mínimo", "Unidade"].map(
      (title) =>
        `<th style="padding:4px 8px;text-align:left;border-bottom:2px solid #999">${title}</th>`,
    ),
    "</tr></thead><tbody>",
    ...rows.map(
      (row) =>
        `<tr>${cell(row.sku)}${cell(row.name)}${cell(row.quantity, "right")}${cell(row.minimum, "right")}${cell(row.unit)}</tr>`,
    ),
    "</tbody></table>",
    ...more.map((sentence) => `<p>${escapeHtml(sentence)}</p>`),
    '<p style="color:#666;font-size:small">Mensagem automática do Davus.</p>',
    "</body></html>",
  ].join("\n");

  return { subject, text, html };
}

/** "2026-12-04" as "04/12/2026". */
function formatDate(isoDate: string): string {
  const [year, month, day] = isoDate.split("-");
  return `${day}/${month}/${year}`;
}
