import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../src/config.js";

describe("the configuration's documentation", () => {
  it("lists every variable the service reads in .env.example, with a comment", () => {
    const example = fs.readFileSync(".env.example", "utf8");
    const listed = [...example.matchAll(/^([A-Z_]+)=/gm)].map((match) => match[1]);
    expect([...listed].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it("names every variable in the README's configuration table", () => {
    const readme = fs.readFileSync("README.md", "utf8");
    const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## API"));
    expect(CONFIG_VARIABLES.filter((name) => !table.includes(`\`${name}\``))).toEqual([]);
  });
});
