// The bare Hono server that the service's start-up, memory and requests per second are set
// against: a hello world on @hono/node-server, started the same way (`node FILE`, PORT and HOST
// from the environment). Plain JavaScript, so that no build or loader stands in between.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.text("Hello Hono!"));

serve({
  fetch: app.fetch,
  port: Number(process.env.PORT ?? 3000),
  hostname: process.env.HOST ?? "127.0.0.1",
});
