import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Product, Schema } from "../db/schema.js";

/**
 * Products at or below their minimum, the furthest below first. "Furthest" is measured as
 * the share of the minimum in stock, since units differ (12 kg short and 12 boxes short are
 * not comparable); ties go to the larger shortfall, then the SKU.
 */
export async function findLowStock(db: Kysely<Schema>): Promise<Product[]> {
  return db
    .selectFrom("products")
    .selectAll()
    .where((eb) => eb("quantity", "<=", eb.ref("min_quantity")))
    .orderBy(sql`case when min_quantity > 0 then quantity / min_quantity else 0 end`)
    .orderBy(sql`min_quantity - quantity`, "desc")
    .orderBy("sku")
    .execute();
}

export async function countProducts(db: Kysely<Schema>): Promise<number> {
  const row = await db
    .selectFrom("products")
    .select((eb) => eb.fn.countAll<number>().as("count"))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
