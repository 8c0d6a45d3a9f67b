/**
 * Makes examples/products.csv: 320 products of a small Brazilian general store (a
 * "mercadinho"), with SKU, name, unit, quantity and minimum quantity, ready for the
 * product import. A fixed number of them are at or below their minimum, so the low-stock
 * check has something to report.
 *
 * The output is deterministic: a seeded PRNG picks the numbers, so two runs write the same
 * bytes. Run from the repository root:
 *
 *   npx tsx scripts/generate-products.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const OUTPUT = fileURLToPath(new URL("../examples/products.csv", import.meta.url));
const SEED = 0x44617675; // "Davu"
const PRODUCT_COUNT = 320;
/** Products at or below their minimum: 24 of 320 is 7.5%. */
const LOW_STOCK_COUNT = 24;
/** Of the low ones: this many with nothing left, this many exactly at the minimum. */
const OUT_OF_STOCK_COUNT = 6;
const AT_MINIMUM_COUNT = 6;

type Unit = "un" | "kg" | "L" | "cx" | "pct" | "m" | "dz";

/**
 * A base product and its variants; each variant is one product named `base variant`, or
 * `base, packaging` when the variant starts with a comma.
 */
interface Line {
  unit: Unit;
  base: string;
  variants: readonly string[];
}

interface Category {
  prefix: string;
  lines: readonly Line[];
}

/** A table row; with no variants the base alone is the name. */
function p(unit: Unit, base: string, ...variants: string[]): Line {
  return { unit, base, variants };
}

// ---------------------------------------------------------------------------------------------
// Base products per category
// ---------------------------------------------------------------------------------------------

const CATEGORIES: readonly Category[] = [
  {
    prefix: "MER", // mercearia
    lines: [
      p("un", "Arroz branco", "tipo 1, 1 kg", "tipo 1, 5 kg"),
      p("un", "Arroz integral", "1 kg"),
      p("un", "Arroz parboilizado", "1 kg", "5 kg"),
      p("un", "Feijão carioca", "1 kg", "2 kg"),
      p("un", "Feijão preto", "1 kg"),
      p("un", "Lentilha", "500 g"),
      p("un", "Grão-de-bico", "500 g"),
      p("un", "Açúcar cristal", "1 kg", "5 kg"),
      p("un", "Açúcar refinado", "1 kg"),
      p("un", "Sal refinado iodado", "1 kg"),
      p("un", "Farinha de trigo", "tipo 1, 1 kg", "integral 1 kg"),
      p("un", "Farinha de mandioca", "torrada 500 g", "crua 1 kg"),
      p("un", "Farofa pronta temperada", "250 g"),
      p("un", "Fubá mimoso", "1 kg"),
      p("un", "Flocos de milho para cuscuz", "500 g"),
      p("un", "Amido de milho", "500 g"),
      p("un", "Polvilho", "doce 500 g", "azedo 500 g"),
      p("un", "Macarrão espaguete", "500 g", "com ovos 500 g"),
      p("un", "Macarrão parafuso", "500 g"),
      p("un", "Macarrão instantâneo", "sabor galinha 85 g", "sabor carne 85 g"),
      p("un", "Óleo de soja", "900 ml"),
      p("un", "Azeite de oliva extravirgem", "500 ml"),
      p("un", "Vinagre de álcool", "750 ml"),
      p("un", "Molho de tomate tradicional", "340 g"),
      p("un", "Extrato de tomate", "190 g"),
      p("un", "Milho verde em conserva", "170 g"),
      p("un", "Ervilha em conserva", "170 g"),
      p("un", "Sardinha em óleo", "125 g"),
      p("un", "Atum sólido em óleo", "170 g"),
      p("un", "Maionese tradicional", "500 g"),
      p("un", "Catchup", "400 g"),
      p("un", "Café torrado e moído", "250 g", "500 g"),
      p("un", "Café solúvel", "100 g"),
      p(
        "cx",
        "Chá",
        "de camomila, caixa com 10 sachês",
        "de erva-doce, caixa com 10 sachês",
        "mate tostado, caixa com 25 sachês",
      ),
      p("un", "Achocolatado em pó", "400 g", "800 g"),
      p("un", "Leite em pó integral", "400 g"),
      p("un", "Leite condensado", "395 g"),
      p("un", "Creme de leite", "200 g"),
      p(
        "un",
        "Biscoito",
        '"cream cracker" 400 g',
        '"água e sal" 400 g',
        "recheado de chocolate 130 g",
        "de polvilho 100 g",
        "rosquinha de coco 300 g",
      ),
      p("un", "Gelatina em pó", "sabor morango 25 g"),
      p("un", "Fermento químico em pó", "100 g"),
      p("un", "Goiabada cascão", "300 g"),
      p("un", "Doce de leite pastoso", "400 g"),
      p("un", "Paçoca de amendoim", ", pote com 50 unidades"),
      p("un", "Milho para pipoca", "500 g"),
      p("kg", "Amendoim torrado e salgado a granel"),
      p("kg", "Castanha-de-caju torrada a granel"),
      p("un", "Tempero completo", "300 g"),
      p("cx", "Caldo de galinha em tablete", ", caixa com 6"),
    ],
  },
  {
    prefix: "BEB", // bebidas
    lines: [
      p("un", "Água mineral sem gás", "500 ml", "1,5 L"),
      p("un", "Água mineral com gás", "500 ml"),
      p("cx", "Água mineral sem gás 500 ml", ", caixa com 12"),
      p("un", "Água mineral", ", galão 20 L"),
      p("un", "Refrigerante de cola", "lata 350 ml", "2 L"),
      p("un", "Refrigerante de guaraná", "lata 350 ml", "2 L"),
      p("un", "Refrigerante de laranja", "2 L"),
      p("cx", "Refrigerante de guaraná lata 350 ml", ", caixa com 12"),
      p("un", "Suco concentrado", "de caju 500 ml", "de maracujá 500 ml", "de uva 1 L"),
      p("un", "Suco em pó", "sabor laranja 25 g", "sabor limão 25 g", "sabor abacaxi 25 g"),
      p("un", "Néctar de pêssego", "1 L"),
      p("L", "Suco de laranja natural"),
      p("L", "Caldo de cana"),
      p("un", "Água de coco", "200 ml", "1 L"),
      p("un", "Chá-mate gelado com limão", "1,5 L"),
      p("un", "Bebida isotônica", "sabor tangerina 500 ml", "sabor limão 500 ml"),
      p("un", "Energético", "lata 250 ml"),
      p("un", "Água tônica", "lata 350 ml"),
      p("un", "Xarope de groselha", "1 L"),
      p("un", "Cerveja pilsen", "lata 350 ml", "garrafa 600 ml"),
      p("cx", "Cerveja pilsen lata 350 ml", ", caixa com 12"),
      p("un", "Cachaça", "prata 965 ml", "envelhecida 700 ml"),
      p("un", "Vinho tinto suave", "750 ml"),
      p("un", "Vinho branco seco", "750 ml"),
      p("un", "Espumante brut", "750 ml"),
      p("pct", "Gelo em cubos", ", pacote 5 kg"),
    ],
  },
  {
    prefix: "LIM", // limpeza
    lines: [
      p("un", "Sabão em pó", "800 g", "1,6 kg"),
      p("pct", "Sabão em barra glicerinado", ", pacote com 5"),
      p("pct", "Sabão de coco em barra", ", pacote com 5"),
      p("un", "Sabão líquido para roupas", "3 L"),
      p("L", "Sabão líquido para roupas a granel"),
      p("un", "Amaciante de roupas", "2 L", "5 L"),
      p("un", "Detergente líquido", "neutro 500 ml", "de limão 500 ml"),
      p("un", "Água sanitária", "1 L", "2 L"),
      p("L", "Água sanitária a granel"),
      p("un", "Desinfetante", "de pinho 500 ml", "de lavanda 2 L"),
      p("L", "Desinfetante de lavanda a granel"),
      p("un", "Limpador multiuso", "500 ml"),
      p("un", "Limpa-vidros com borrifador", "500 ml"),
      p("un", "Álcool líquido 70%", "1 L"),
      p("un", "Lustra-móveis", "200 ml"),
      p("un", "Saponáceo cremoso", "300 ml"),
      p("un", "Limpador de banheiro com cloro", "500 ml"),
      p("pct", "Esponja dupla face", ", pacote com 3"),
      p("pct", "Esponja de lã de aço", ", pacote com 8"),
      p("pct", "Pano multiuso", ", pacote com 5"),
      p("un", "Pano de chão alvejado"),
      p("un", "Flanela amarela", "30 x 50 cm"),
      p("un", "Saco para lixo", "30 L, rolo com 50", "50 L, rolo com 30", "100 L, rolo com 15"),
      p("un", "Vassoura de pelo com cabo"),
      p("un", "Rodo de alumínio", "40 cm"),
      p("un", "Balde plástico", "10 L"),
      p("un", "Luva de borracha", "tamanho M, par"),
      p("un", "Inseticida aerossol", "300 ml"),
      p("un", "Pedra sanitária com suporte", "25 g"),
    ],
  },
  {
    prefix: "HIG", // higiene
    lines: [
      p("un", "Sabonete em barra", "de glicerina 90 g", '"erva-doce" 85 g', "de aveia 85 g"),
      p("un", "Sabonete líquido", "refil 250 ml"),
      p("un", "Xampu", "para cabelos normais 350 ml", "anticaspa 200 ml"),
      p("un", "Condicionador para cabelos cacheados", "350 ml"),
      p("un", "Creme dental", "com flúor 90 g", "branqueador 70 g", "infantil 50 g"),
      p("un", "Escova de dente", "macia", "média"),
      p("un", "Fio dental", "50 m"),
      p("un", "Enxaguante bucal sem álcool", "500 ml"),
      p("un", "Desodorante", "aerossol 150 ml", "roll-on 50 ml"),
      p("pct", "Papel higiênico folha dupla", ", pacote com 4", ", pacote com 12"),
      p("pct", "Lenço umedecido", ", pacote com 50"),
      p(
        "pct",
        "Fralda descartável",
        "tamanho P, pacote com 30",
        "tamanho M, pacote com 28",
        "tamanho G, pacote com 24",
      ),
      p("pct", "Absorvente", "com abas, pacote com 8", "diário, pacote com 15"),
      p("pct", "Aparelho de barbear descartável", ", pacote com 2"),
      p("un", "Espuma de barbear", "175 ml"),
      p("cx", "Hastes flexíveis", ", caixa com 75"),
      p("un", "Algodão em bolas", "50 g"),
      p("un", "Protetor solar", "FPS 50, 120 ml"),
      p("un", "Repelente em loção", "100 ml"),
      p("un", "Álcool em gel 70%", "500 g"),
      p("cx", "Curativo adesivo", ", caixa com 10"),
      p("un", "Hidratante corporal", "200 ml"),
      p("un", "Esparadrapo", "10 cm x 4,5 m"),
      p("pct", "Lixa de unha", ", pacote com 12"),
    ],
  },
  {
    prefix: "HOR", // hortifrúti
    lines: [
      p("kg", "Batata inglesa"),
      p("kg", "Batata-doce"),
      p("kg", "Cebola"),
      p("kg", "Alho"),
      p("kg", "Tomate"),
      p("kg", "Cenoura"),
      p("kg", "Beterraba"),
      p("kg", "Chuchu"),
      p("kg", "Abobrinha italiana"),
      p("kg", "Abóbora cabotiá"),
      p("kg", "Pimentão verde"),
      p("kg", "Pepino"),
      p("kg", "Mandioca"),
      p("kg", "Quiabo"),
      p("kg", "Gengibre"),
      p("kg", "Banana prata"),
      p("dz", "Banana nanica"),
      p("dz", "Laranja pera"),
      p("kg", "Limão taiti"),
      p("kg", "Maçã gala"),
      p("kg", "Mamão formosa"),
      p("un", "Mamão papaia"),
      p("kg", "Melancia"),
      p("un", "Melão amarelo"),
      p("un", "Abacaxi pérola"),
      p("kg", "Manga espada"),
      p("kg", "Uva itália"),
      p("kg", "Maracujá azedo"),
      p("kg", "Tangerina poncã"),
      p("un", "Morango", ", bandeja 250 g"),
      p("un", "Alface crespa"),
      p("un", "Couve-manteiga", ", maço"),
      p("un", "Cheiro-verde", ", maço"),
      p("dz", "Ovos brancos"),
      p("dz", "Ovos vermelhos"),
      p("un", "Ovos brancos", ", bandeja com 30"),
    ],
  },
  {
    prefix: "PAD", // padaria
    lines: [
      p("kg", "Pão francês"),
      p("kg", "Pão italiano"),
      p("un", "Pão de forma tradicional", "500 g"),
      p("un", "Pão de forma integral"),
      p("kg", "Pão de queijo assado"),
      p("un", "Pão de queijo congelado", "1 kg"),
      p("un", "Pão doce com coco"),
      p("pct", "Pão de hambúrguer", ", pacote com 4"),
      p("pct", "Pão de cachorro-quente", ", pacote com 6"),
      p("pct", "Bisnaguinha", ", pacote 300 g"),
      p("un", "Torrada tradicional", "160 g"),
      p("kg", "Bolo de fubá"),
      p("kg", "Bolo de cenoura com cobertura de chocolate"),
      p("kg", "Bolo de laranja"),
      p("un", "Sonho recheado com creme"),
      p("un", "Rosca de coco"),
      p("un", "Broa de milho"),
      p("un", "Croissant de presunto e queijo"),
      p("un", "Coxinha de frango"),
      p("un", "Esfirra de carne"),
      p("un", "Pão de mel"),
      p("kg", "Rosquinha de polvilho"),
      p("kg", "Bolacha amanteigada"),
      p("dz", "Brigadeiro"),
      p("un", "Panetone de frutas", "500 g"),
    ],
  },
  {
    prefix: "FRI", // frios, laticínios e congelados
    lines: [
      p("kg", "Queijo muçarela fatiado"),
      p("kg", "Queijo prato fatiado"),
      p("un", 'Queijo "minas frescal"', ", peça 500 g"),
      p("un", "Queijo parmesão ralado", "50 g"),
      p("pct", "Queijo coalho em espetos", ", pacote com 7"),
      p("kg", "Presunto cozido fatiado"),
      p("kg", "Mortadela fatiada"),
      p("kg", "Salame tipo italiano"),
      p("kg", "Peito de peru defumado"),
      p("kg", "Linguiça calabresa defumada"),
      p("kg", "Linguiça toscana"),
      p("un", "Bacon em cubos", "250 g"),
      p("un", "Requeijão cremoso", "200 g"),
      p("un", "Manteiga com sal", "200 g"),
      p("un", "Margarina com sal", "500 g"),
      p("un", "Iogurte natural integral", "170 g"),
      p("un", "Iogurte sabor morango", "850 g"),
      p("un", "Bebida láctea sabor morango", "900 g"),
      p("pct", "Leite fermentado", ", pacote com 6"),
      p("un", "Leite pasteurizado integral", ", saquinho 1 L"),
      p("un", "Leite UHT", "integral 1 L", "desnatado 1 L"),
      p("cx", "Leite UHT", "integral 1 L, caixa com 12", "desnatado 1 L, caixa com 12"),
      p("cx", "Hambúrguer bovino congelado", ", caixa com 12"),
      p("un", "Pizza congelada de muçarela", "460 g"),
      p("un", "Lasanha congelada à bolonhesa", "600 g"),
      p("un", "Sorvete de creme", "2 L"),
      p("kg", "Frango inteiro congelado"),
      p("un", "Batata pré-frita congelada", "1 kg"),
    ],
  },
  {
    prefix: "UTI", // utilidades
    lines: [
      p("pct", "Pilha AA", ", pacote com 4"),
      p("pct", "Pilha AAA", ", pacote com 4"),
      p("un", "Bateria 9 V"),
      p("un", "Lâmpada LED", "9 W, bivolt", "15 W, bivolt"),
      p("pct", "Fósforo de segurança", ", maço com 10 caixas"),
      p("pct", "Vela branca", ", pacote com 8"),
      p("un", "Isqueiro"),
      p("m", 'Mangueira de jardim 1/2"'),
      p("m", "Corda de varal de náilon"),
      p("m", "Fio de cobre flexível 2,5 mm²"),
      p("m", "Toalha plástica para mesa"),
      p("un", "Fita isolante", "10 m"),
      p("un", "Extensão elétrica", "3 m, 3 tomadas"),
      p("pct", "Prendedor de roupas de madeira", ", pacote com 12"),
      p("pct", "Copo descartável 200 ml", ", pacote com 100"),
      p("pct", "Prato descartável 21 cm", ", pacote com 10"),
      p("pct", "Garfo descartável", ", pacote com 50"),
      p("pct", "Guardanapo de papel 30 x 30 cm", ", pacote com 50"),
      p("un", "Papel-alumínio", "30 cm x 7,5 m"),
      p("un", "Filme plástico PVC", "28 cm x 30 m"),
      p("pct", "Papel-toalha", ", pacote com 2 rolos"),
      p("cx", "Filtro de papel para café n.º 103", ", caixa com 30"),
      p("un", "Carvão vegetal", ", saco 3 kg"),
      p("un", "Pote plástico com tampa", "500 ml"),
      p("un", "Cadeado de latão", "25 mm"),
    ],
  },
  {
    prefix: "PAP", // papelaria
    lines: [
      p("un", "Caderno universitário", "10 matérias, 200 folhas"),
      p("un", "Caderno brochura", "96 folhas"),
      p("un", "Caneta esferográfica", "azul", "preta"),
      p("cx", "Caneta esferográfica azul", ", caixa com 50"),
      p("un", "Lápis preto n.º 2"),
      p("cx", "Lápis de cor", ", caixa com 12 cores"),
      p("un", "Borracha branca"),
      p("un", "Régua", "30 cm"),
      p("un", "Cola branca", "90 g"),
      p("un", "Cola em bastão", "10 g"),
      p("un", "Tesoura escolar sem ponta"),
      p("pct", "Papel sulfite A4", ", pacote com 500 folhas"),
      p("pct", "Envelope branco", ", pacote com 10"),
      p("un", "Fita adesiva transparente", "12 mm x 30 m"),
      p("cx", "Clipes n.º 2/0", ", caixa com 100"),
      p("cx", "Grampos 26/6", ", caixa com 1000"),
      p("un", "Marca-texto amarelo"),
      p("un", "Corretivo líquido", "18 ml"),
      p("cx", "Giz de cera", ", caixa com 12 cores"),
      p("cx", "Massa de modelar", ", caixa com 12 cores"),
      p("un", "Bloco de notas adesivas", "76 x 76 mm"),
      p("m", "Fita de cetim", "10 mm"),
      p("m", "Papel de presente em bobina"),
    ],
  },
  {
    prefix: "PET", // pet
    lines: [
      p("kg", "Ração para cães adultos a granel"),
      p("kg", "Ração para gatos adultos a granel"),
      p("un", "Areia higiênica para gatos", "4 kg"),
      p("un", "Petisco para cães", "65 g"),
      p("un", "Sachê para gatos", "sabor peixe 85 g"),
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

/** mulberry32: a tiny 32-bit PRNG; returns floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = mulberry32(SEED);

/** An integer in [low, high], both included. */
function randomInt(low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/**
 * Amounts are kept as integers: whole units for un/cx/pct/dz, thousandths for kg/L/m, so
 * there is no floating-point rounding. `step` is the resolution of the amount (a scale that
 * weighs in 5 g steps, a tape in 10 cm steps); `minimum` is the range the minimum is drawn from.
 */
interface Scale {
  thousandths: boolean;
  step: number;
  minimum: readonly [low: number, high: number];
}

const SCALES: Record<Unit, Scale> = {
  un: { thousandths: false, step: 1, minimum: [4, 40] },
  cx: { thousandths: false, step: 1, minimum: [2, 10] },
  pct: { thousandths: false, step: 1, minimum: [4, 30] },
  dz: { thousandths: false, step: 1, minimum: [3, 12] },
  kg: { thousandths: true, step: 5, minimum: [1_000, 15_000] },
  L: { thousandths: true, step: 50, minimum: [5_000, 30_000] },
  m: { thousandths: true, step: 100, minimum: [10_000, 50_000] },
};

/** A multiple of `step` in [low, high]. */
function randomAmount(low: number, high: number, step: number): number {
  return step * randomInt(Math.ceil(low / step), Math.floor(high / step));
}

/** Minimums are round: whole units, or half units for kg/L/m. */
function pickMinimum(scale: Scale): number {
  const [low, high] = scale.minimum;
  return scale.thousandths ? randomAmount(low, high, 500) : randomInt(low, high);
}

type Stock = "out" | "at-minimum" | "below" | "ok";

function pickQuantity(scale: Scale, minimum: number, stock: Stock): number {
  switch (stock) {
    case "out":
      return 0;
    case "at-minimum":
      return minimum;
    case "below":
      return randomAmount(scale.step, minimum - scale.step, scale.step);
    case "ok": {
      // At least half the minimum again above it, and up to four times the minimum.
      const floor = minimum + Math.max(Math.ceil(minimum / 2), 2 * scale.step);
      return randomAmount(floor, 4 * minimum, scale.step);
    }
  }
}

/** 12500 thousandths -> "12.5"; whole amounts have no decimals. */
function formatAmount(amount: number, scale: Scale): string {
  if (!scale.thousandths) return String(amount);
  const whole = Math.floor(amount / 1000);
  const fraction = String(amount % 1000)
    .padStart(3, "0")
    .replace(/0+$/, "");
  return fraction === "" ? String(whole) : `${whole}.${fraction}`;
}

// ---------------------------------------------------------------------------------------------
// Products and CSV
// ---------------------------------------------------------------------------------------------

interface Product {
  sku: string;
  name: string;
  unit: Unit;
  quantity: string;
  minQuantity: string;
  stock: Stock;
}

/** Fisher-Yates on 0..n-1 with the seeded PRNG. */
function shuffledIndexes(n: number): number[] {
  const indexes = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(0, i);
    [indexes[i], indexes[j]] = [indexes[j]!, indexes[i]!];
  }
  return indexes;
}

/** "Arroz integral" + "1 kg" -> "Arroz integral 1 kg"; ", pacote com 4" is appended as is. */
function productName(base: string, variant: string): string {
  if (variant === "") return base;
  return variant.startsWith(",") ? `${base}${variant}` : `${base} ${variant}`;
}

function buildProducts(): Product[] {
  const entries: { sku: string; name: string; unit: Unit }[] = [];
  for (const category of CATEGORIES) {
    let number = 0;
    for (const line of category.lines) {
      const variants = line.variants.length === 0 ? [""] : line.variants;
      for (const variant of variants) {
        number += 1;
        entries.push({
          sku: `${category.prefix}-${String(number).padStart(4, "0")}`,
          name: productName(line.base, variant),
          unit: line.unit,
        });
      }
    }
  }
  if (entries.length !== PRODUCT_COUNT) {
    throw new Error(`the tables make ${entries.length} products, expected ${PRODUCT_COUNT}`);
  }

  const stock = new Map<number, Stock>();
  for (const [rank, index] of shuffledIndexes(entries.length).slice(0, LOW_STOCK_COUNT).entries()) {
    if (rank < OUT_OF_STOCK_COUNT) stock.set(index, "out");
    else if (rank < OUT_OF_STOCK_COUNT + AT_MINIMUM_COUNT) stock.set(index, "at-minimum");
    else stock.set(index, "below");
  }

  return entries.map((entry, index) => {
    const scale = SCALES[entry.unit];
    const state = stock.get(index) ?? "ok";
    const minimum = pickMinimum(scale);
    const quantity = pickQuantity(scale, minimum, state);
    return {
      ...entry,
      quantity: formatAmount(quantity, scale),
      minQuantity: formatAmount(minimum, scale),
      stock: state,
    };
  });
}

/** RFC 4180: quote a field holding a comma, quote or line break; double the quotes inside. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function toCsv(products: readonly Product[]): string {
  const lines = ["sku,name,unit,quantity,min_quantity"];
  for (const product of products) {
    const fields = [product.sku, product.name, product.unit, product.quantity, product.minQuantity];
    lines.push(fields.map(csvField).join(","));
  }
  return `${lines.join("\n")}\n`;
}

/** Guards against table mistakes: duplicate SKUs or names, text that is not NFC. */
function check(products: readonly Product[]): void {
  const skus = new Set<string>();
  const names = new Set<string>();
  for (const product of products) {
    if (skus.has(product.sku)) throw new Error(`duplicate SKU ${product.sku}`);
    if (names.has(product.name)) throw new Error(`duplicate name ${product.name}`);
    if (product.name !== product.name.normalize("NFC")) {
      throw new Error(`${product.sku}: name is not in Unicode NFC`);
    }
    skus.add(product.sku);
    names.add(product.name);
  }
}

const products = buildProducts();
check(products);
mkdirSync(dirname(OUTPUT), { recursive: true });
writeFileSync(OUTPUT, toCsv(products), "utf8");
const low = products.filter((product) => product.stock !== "ok").length;
const where = relative(process.cwd(), OUTPUT);
console.log(`wrote ${products.length} products to ${where} (${low} at or below minimum)`);
