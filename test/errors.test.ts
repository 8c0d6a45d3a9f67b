import { describe, expect, it } from "vitest";
import { describeError } from "../src/errors.js";

describe("describeError", () => {
  it("joins a cause to a message with a colon, or as a new sentence after a full stop", () => {
    const bare = new Error("connect failed", { cause: new Error("ECONNREFUSED") });
    const sentence = new Error("Could not deliver. Check EMAIL_HOST.", {
      cause: new Error("500 command not recognized"),
    });

    expect(describeError(bare)).toBe("connect failed: caused by: ECONNREFUSED");
    expect(describeError(sentence)).toBe(
      "Could not deliver. Check EMAIL_HOST. Caused by: 500 command not recognized",
    );
  });

  it("leaves out a cause whose text the message already quotes", () => {
    const error = new Error("Could not reach the database: connect ECONNREFUSED 127.0.0.1:1", {
      cause: new Error("connect ECONNREFUSED 127.0.0.1:1"),
    });

    expect(describeError(error)).toBe(
      "Could not reach the database: connect ECONNREFUSED 127.0.0.1:1",
    );
  });
});
